"""The run-directory life cycle and fingerprints (qtlgraph.runs), on hand-made runs."""

from __future__ import annotations

import json

import pytest

from qtlgraph import runs
from qtlgraph.errors import InputError
from qtlgraph.genome import Genome
from qtlgraph.runtime import save_checkpoint, write_json

CONFIG = {"model": "local", "lr": 0.01, "encoder": {"dim": 8}, "epochs": 4, "versions": {"a": 1}}


def _run(tmp_path, config=CONFIG, epoch=3):
    out = tmp_path / "run"
    out.mkdir()
    write_json(out / "config.json", config)
    save_checkpoint(out / "checkpoint.pt", {"config": config, "epoch": epoch})
    return out


def test_flatten_and_differences_skip_free_keys():
    assert runs.flatten({"a": {"b": 1, "c": [1, 2]}, "d": 2}) == {"a.b": 1, "a.c": [1, 2], "d": 2}
    new = {**CONFIG, "epochs": 9, "versions": {"a": 2}, "encoder": {"dim": 16}}
    assert runs.differences(CONFIG, new) == [("encoder.dim", 8, 16)]
    assert runs.differences({"x": (1, 2)}, {"x": [1, 2]}) == []
    assert runs.differences({"x": 1}, {}) == [("x", 1, "<absent>")]


def test_resume_refuses_a_changed_key_naming_old_and_new(tmp_path):
    out = _run(tmp_path)
    with pytest.raises(InputError, match=r"lr is 0.01 in the checkpoint but 0.02 in this run"):
        runs.prepare(out, {**CONFIG, "lr": 0.02}, resume=True, force=False)
    with pytest.raises(InputError, match=r"model is 'local' in the checkpoint but 'gnn'"):
        runs.prepare(out, {**CONFIG, "model": "gnn", "lr": 5}, resume=True, force=False)
    assert runs.prepare(out, {**CONFIG, "epochs": 6}, resume=True, force=False) == 3


def test_resume_refuses_fewer_epochs_and_a_missing_checkpoint(tmp_path):
    out = _run(tmp_path)
    with pytest.raises(InputError, match="has 3 epochs done"):
        runs.prepare(out, CONFIG, resume=True, force=False, epochs=2)
    (out / "checkpoint.pt").unlink()
    with pytest.raises(InputError, match="nothing to resume"):
        runs.prepare(out, CONFIG, resume=True, force=False)


def test_truncated_checkpoint_is_one_input_error(tmp_path):
    out = _run(tmp_path)
    data = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="not a readable checkpoint"):
        runs.prepare(out, CONFIG, resume=True, force=False)


def test_fresh_run_refuses_non_empty_dir_and_writes_nothing(tmp_path):
    out = _run(tmp_path)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(InputError, match="not empty"):
        runs.prepare(out, CONFIG, resume=False, force=False)
    assert sorted(p.name for p in out.iterdir()) == before
    assert runs.prepare(out, CONFIG, resume=False, force=True) == 0
    assert sorted(p.name for p in out.iterdir()) == before  # prepare only checks


def test_started_then_finish_marks_the_run_last(tmp_path):
    out = tmp_path / "run"
    with runs.started(out, CONFIG, kind="local", fresh=True):
        assert not runs.is_finished(out)
        with pytest.raises(InputError, match="did not finish"):
            runs.require_finished(out)
        assert runs.require_finished(out, allow_unfinished=True) == CONFIG
        runs.finish(out, {"metrics": []})
    assert json.loads((out / "run.json").read_text()) == {"kind": "local", "finished": True}
    assert runs.is_finished(out) and (out / "results.json").is_file()


def test_started_removes_a_fresh_run_that_failed_before_its_first_checkpoint(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError), runs.started(out, CONFIG, kind="unet", fresh=True):
        raise ValueError("bad --length")
    assert not out.exists()
    out = _run(tmp_path)  # a resumed run keeps its directory whatever happens
    with pytest.raises(KeyboardInterrupt), runs.started(out, CONFIG, kind="x", fresh=False):
        raise KeyboardInterrupt
    assert (out / "checkpoint.pt").is_file() and not runs.is_finished(out)


def test_legacy_run_without_run_json_counts_as_finished_with_results(tmp_path):
    out = _run(tmp_path)
    assert not runs.is_finished(out)
    write_json(out / "results.json", {})
    assert runs.is_finished(out)


def test_check_same_names_both_sides_and_genome_order_matters():
    a = runs.genome_fingerprint(Genome("g", ("chr1", "chr2"), (100, 50)), 10)
    b = runs.genome_fingerprint(Genome("g", ("chr2", "chr1"), (50, 100)), 10)
    runs.check_same("genome bins", "left", a, "right", dict(a))
    with pytest.raises(InputError, match=r"chroms is \['chr1', 'chr2'\] in left but"):
        runs.check_same("genome bins", "left", a, "right", b)
    runs.check_same("genome bins", "left", None, "right", b)  # made before fingerprints


def test_verify_dataset_sees_a_changed_file(tmp_path):
    manifest = tmp_path / "d.toml"
    manifest.write_text("x")
    (tmp_path / "t.bw").write_text("12")
    fp = {"dataset": {"manifest": str(manifest)}}
    fp["dataset"]["files"] = runs.file_stamps(manifest, ["d.toml", "t.bw"])
    runs.verify_dataset("run", fp)
    (tmp_path / "t.bw").write_text("123")
    with pytest.raises(InputError, match=r"files.t.bw is \[2, .*in run \(when made\)"):
        runs.verify_dataset("run", fp)


def test_check_comparable_refuses_runs_of_two_datasets(tmp_path):
    for name, ds in (("a", "/x/d.toml"), ("b", "/x/d.toml"), ("c", "/y/d.toml")):
        (tmp_path / name).mkdir()
        write_json(tmp_path / name / "config.json", {"dataset": ds})
    runs.check_comparable([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(InputError, match="'/x/d.toml' in .*a but '/y/d.toml' in .*c"):
        runs.check_comparable([tmp_path / "a", tmp_path / "c"])
