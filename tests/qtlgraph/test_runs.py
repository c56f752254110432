"""The run-directory life cycle and fingerprints (qtlgraph.runs), on hand-made runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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


# --- end to end on the shared tiny pipeline: one test per defect the module closes ----------


def _invoke(args):
    from click.testing import CliRunner

    from qtlgraph.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def _train_args(tiny, out, *extra, graphs=None, embeddings=None):
    graph_args = tiny.graph_args() if graphs is None else graphs
    return [
        "train",
        "--dataset",
        tiny.dataset,
        *graph_args,
        "--embeddings",
        embeddings or tiny.embeddings,
        "--out",
        out,
        "--epochs",
        "2",
        "--bootstrap",
        "2",
        "--kmer",
        "0",
        "--device",
        "cpu",
        *extra,
    ]


@pytest.fixture(scope="module")
def gnn(tiny_pipeline, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs_gnn") / "gnn"
    res = _invoke(_train_args(tiny_pipeline, out))
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize(
    "extra, key",
    [
        (["--model", "local"], "model is 'gnn:graphconv' in the checkpoint but 'local'"),
        (["--lr", "0.01"], "options.lr is 0.005 in the checkpoint but 0.01"),
        (["--hidden", "32"], "model_config.hidden is 64 in the checkpoint but 32"),
    ],
)
def test_train_resume_refuses_other_options_and_writes_nothing(tiny_pipeline, gnn, extra, key):
    before = {p.name: p.stat().st_mtime_ns for p in gnn.iterdir()}
    res = _invoke(_train_args(tiny_pipeline, gnn, "--resume", *extra))
    assert res.exit_code == 2 and key in res.output and "Traceback" not in res.output
    assert {p.name: p.stat().st_mtime_ns for p in gnn.iterdir()} == before


def test_train_resume_into_a_local_encoder_run_is_refused(tiny_pipeline):
    enc = tiny_pipeline.root / "enc"
    config = (enc / "config.json").read_bytes()
    res = _invoke(_train_args(tiny_pipeline, enc, "--resume"))
    assert res.exit_code == 2 and "model is 'local' in the checkpoint" in res.output
    assert (enc / "config.json").read_bytes() == config


def test_train_local_resume_with_another_encoder_is_refused(tiny_pipeline):
    enc = tiny_pipeline.root / "enc"
    before = {p.name: p.stat().st_mtime_ns for p in enc.iterdir()}
    args = ["train-local", "--dataset", tiny_pipeline.dataset, "--out", enc, "--resume"]
    res = _invoke([*args, "--dim", "16", "--epochs", "1", "--device", "cpu"])
    assert res.exit_code == 2 and "encoder.dim is 8 in the checkpoint but 16" in res.output
    assert {p.name: p.stat().st_mtime_ns for p in enc.iterdir()} == before


def test_graph_with_chromosomes_in_another_order_is_refused(tiny_pipeline, tmp_path):
    sizes = (tiny_pipeline.dataset.parent / "genome.chrom.sizes").read_text().splitlines()
    (tmp_path / "rev.sizes").write_text("\n".join(reversed(sizes)) + "\n")
    qtl = tiny_pipeline.dataset.parent / "qtl" / "mono_H3K27ac.txt.gz"
    res = _invoke(["build", qtl, "--genome", tmp_path / "rev.sizes", "--out", tmp_path / "g"])
    assert res.exit_code == 0, res.output
    graphs = ["--graph", f"mono={tmp_path / 'g'}"]
    graphs += [a for c in ("neut", "tcel") for a in ("--graph", f"{c}={tiny_pipeline.graphs[c]}")]
    res = _invoke(_train_args(tiny_pipeline, tmp_path / "out", graphs=graphs))
    assert res.exit_code == 2 and "genome bins differs: chroms is ['chr21'" in res.output
    assert not (tmp_path / "out").exists()


def test_embeddings_of_another_dataset_are_refused(tiny_pipeline, tmp_path):
    emb = tmp_path / "emb"
    shutil.copytree(tiny_pipeline.embeddings, emb)
    meta = json.loads((emb / "embed.json").read_text())
    meta["fingerprint"]["dataset"]["manifest"] = "/elsewhere/dataset.toml"
    (emb / "embed.json").write_text(json.dumps(meta))
    res = _invoke(_train_args(tiny_pipeline, tmp_path / "out", embeddings=emb))
    assert res.exit_code == 2 and "dataset differs: manifest is '/elsewhere/dataset.toml'" in (
        res.output
    )
    assert not (tmp_path / "out").exists()


def test_unfinished_runs_are_refused_by_every_consumer(tiny_pipeline, gnn, tmp_path):
    enc, run = tmp_path / "enc", tmp_path / "gnn"
    shutil.copytree(tiny_pipeline.root / "enc", enc)
    shutil.copytree(gnn, run)
    for d in (enc, run):
        write_json(d / "run.json", {"kind": "x", "finished": False})
    (tmp_path / "v.tsv").write_text("chrom\tpos\tref\talt\nchr3\t1000\tA\tC\n")
    commands = [
        ["embed", "--run", enc, "--out", tmp_path / "o1"],
        ["export-bigwig", "--run", run, "--out", tmp_path / "o2"],
        [
            "score-variants",
            "--run",
            run,
            "--variants",
            tmp_path / "v.tsv",
            "--out",
            tmp_path / "o3",
        ],
        ["rf", "--model", run, "--out", tmp_path / "o4"],
    ]
    for args in commands:
        res = _invoke(args)
        assert res.exit_code == 2 and "did not finish" in res.output, (args, res.output)
        assert not Path(args[-1]).exists()
    res = _invoke(["export-bigwig", "--run", run, "--out", tmp_path / "o5", "--allow-unfinished"])
    assert res.exit_code == 0, res.output


def test_truncated_degree_table_is_an_input_error_not_an_interrupt(tiny_pipeline, tmp_path):
    graph = tmp_path / "g"
    shutil.copytree(tiny_pipeline.graphs["mono"], graph)
    data = (graph / "degrees.tsv.gz").read_bytes()
    (graph / "degrees.tsv.gz").write_bytes(data[: len(data) // 2])
    graphs = ["--graph", f"mono={graph}"]
    graphs += [a for c in ("neut", "tcel") for a in ("--graph", f"{c}={tiny_pipeline.graphs[c]}")]
    for args in (
        ["degrees", graph, "--out", tmp_path / "d"],
        ["export-edges", "--graph", graph, "--out", tmp_path / "d"],
        _train_args(tiny_pipeline, tmp_path / "d", graphs=graphs),
    ):
        res = _invoke(args)
        assert res.exit_code == 2 and "degrees.tsv.gz" in res.output, res.output
        assert "truncated or corrupt" in res.output and not (tmp_path / "d").exists()
