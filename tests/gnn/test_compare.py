"""qtlgraph compare: pairing of graph runs with their baselines, claims, refusals."""

import numpy as np
import pandas as pd
import pytest

from qtlgraph.gnn.compare import claim_lines, compare_runs
from qtlgraph.runtime import write_json

N = 60
RNG = np.random.default_rng(0)
TARGET = RNG.normal(size=N)
NOISY = TARGET + RNG.normal(scale=1.0, size=N)
DEGREE = np.where(np.arange(N) < 30, 0, 5)  # bins 0-29 unlinked, 30-59 in-degree 5


def _config(model="gnn:graphconv", shuffle=False, hidden=64, **extra):
    cfg = {
        "model": model,
        "options": {"model": model.split(":")[0], "hidden": hidden, "seed": 0},
        "model_config": {"hidden": hidden},
        "data": {"dataset": "/data/sim/dataset.toml", "shuffle_edges": shuffle, "kmer": 8},
        "cell_types": ["mono"],
        "marks": ["H3K27ac"],
        "target": "log1p(bin mean)",
    }
    cfg.update(extra)
    return cfg


def _run(root, name, pred, config, results_extra=None):
    d = root / name
    d.mkdir()
    frame = pd.DataFrame(
        {
            "cell_type": "mono",
            "mark": "H3K27ac",
            "bin": np.arange(N),
            "pred": np.asarray(pred, np.float32),
            "target": TARGET.astype(np.float32),
            "in_degree": DEGREE,
        }
    )
    frame.to_parquet(d / "bin_predictions.parquet", index=False)
    write_json(d / "config.json", {"run": name, **config})
    write_json(d / "results.json", {"run": name, "model": config["model"], **(results_extra or {})})
    return d


def test_paired_differences_known_answer(tmp_path):
    # the GNN is perfect on linked bins and equals local-stats on unlinked bins
    gnn_pred = np.where(DEGREE > 0, TARGET, NOISY)
    dirs = [
        _run(tmp_path, "gnn", gnn_pred, _config()),
        _run(tmp_path, "stats", NOISY, _config("local-stats")),
        _run(tmp_path, "shuf", NOISY, _config(shuffle=True)),
        _run(tmp_path, "other", NOISY, _config(shuffle=True, hidden=8)),  # not gnn's control
    ]
    comp = compare_runs(dirs, n_boot=100)
    mine = comp.paired[comp.paired["run"] == "gnn"]
    p = mine.set_index(["baseline", "stratum"])
    assert set(mine["contrast"]) == {"local-stats", "shuffled"}
    assert set(mine["baseline"]) == {"stats", "shuf"}  # "other" differs in hidden
    # the shuffled runs are graph runs too: each is compared with local-stats (no control)
    assert set(comp.paired.loc[comp.paired["run"] != "gnn", "baseline"]) == {"stats"}
    linked = DEGREE > 0
    r_noisy = np.corrcoef(TARGET[linked], NOISY[linked])[0, 1]
    assert p.loc[("stats", "linked"), "d_pearson"] == pytest.approx(1.0 - r_noisy, abs=1e-6)
    assert p.loc[("stats", "linked"), "d_pearson_low"] > 0
    assert p.loc[("stats", "deg0"), "d_pearson"] == 0.0  # same predictions there
    assert p.loc[("stats", "deg0"), "d_pearson_high"] == 0.0
    r_all = np.corrcoef(TARGET, gnn_pred)[0, 1] - np.corrcoef(TARGET, NOISY)[0, 1]
    assert p.loc[("stats", "all"), "d_pearson"] == pytest.approx(r_all, abs=1e-6)
    claims = claim_lines(mine[mine["baseline"] == "stats"])
    beats = [c for c in claims if " beats " in c]
    assert {c.split(", ")[1].split(" bins")[0] for c in beats} == {"all", "linked", "deg1-10"}
    # deg0 (difference 0) makes no claim; deg11-100 and deg>100 have no bins
    assert "other 1 measured rows" in claims[-1] and "2 rows not measured" in claims[-1]


def test_markdown_says_which_differences_exclude_zero(tmp_path, run_cli):
    gnn_pred = np.where(DEGREE > 0, TARGET, NOISY)
    dirs = [
        _run(tmp_path, "gnn", gnn_pred, _config()),
        _run(tmp_path, "stats", NOISY, _config("local-stats")),
        _run(tmp_path, "local", -TARGET, _config("local")),
    ]
    code = run_cli(["compare", *map(str, dirs), "--bootstrap", "50", "--out", str(tmp_path / "c")])
    assert code == 0
    md = (tmp_path / "c" / "comparison.md").read_text()
    assert "GNN minus local-stats" in md and "GNN minus local (paired bootstrap)" in md
    assert "- gnn beats stats on mono H3K27ac, linked bins" in md
    assert "- gnn beats local on mono H3K27ac, deg0 bins" in md
    assert (tmp_path / "c" / "paired.tsv").is_file()


def _refused(run_cli, capsys, dirs):
    code = run_cli(["compare", *map(str, dirs), "--bootstrap", "5"])
    err = capsys.readouterr().err.strip()
    return code, err


def test_refuses_mixed_targets(tmp_path, run_cli, capsys):
    a = _run(tmp_path, "gnn", TARGET, _config())
    b = _run(tmp_path, "unet", TARGET, _config("unet:A", target="bin mean"))
    code, err = _refused(run_cli, capsys, [a, b])
    assert code == 2 and len(err.splitlines()) == 1
    assert "gnn" in err and "unet" in err and "target" in err


def test_refuses_unknown_target_beside_a_known_one(tmp_path, run_cli, capsys):
    a = _run(tmp_path, "gnn", TARGET, _config())
    cfg = _config("unet:A")
    del cfg["target"]
    b = _run(tmp_path, "unet", TARGET, cfg)
    code, err = _refused(run_cli, capsys, [a, b])
    assert code == 2 and len(err.splitlines()) == 1
    assert "unknown" in err and "gnn" in err and "unet" in err
    # the target recorded in results.json counts as well as config.json's
    c = _run(tmp_path, "unet2", TARGET, cfg, {"target": "log1p(bin mean)"})
    assert run_cli(["compare", str(a), str(c), "--bootstrap", "5"]) == 0


def test_refuses_mixed_datasets(tmp_path, run_cli, capsys):
    a = _run(tmp_path, "gnn", TARGET, _config())
    other = _config("local")
    other["data"]["dataset"] = "/data/other/dataset.toml"
    b = _run(tmp_path, "local", TARGET, other)
    code, err = _refused(run_cli, capsys, [a, b])
    assert code == 2 and len(err.splitlines()) == 1
    assert "gnn" in err and "local" in err and "different datasets" in err


def test_refuses_same_manifest_with_other_bins(tmp_path, run_cli, capsys):
    fp = {"dataset": {"manifest": "/data/sim/dataset.toml"}, "genome": {"chroms": ["chr1"]}}
    a = _run(tmp_path, "gnn", TARGET, _config(fingerprint=fp))
    fp2 = {"dataset": {"manifest": "/data/sim/dataset.toml"}, "genome": {"chroms": ["chr2"]}}
    b = _run(tmp_path, "local", TARGET, _config("local", fingerprint=fp2))
    code, err = _refused(run_cli, capsys, [a, b])
    assert code == 2 and "chroms differ" in err
