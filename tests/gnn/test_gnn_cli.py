import json

import pytest

from qtlgraph.cli import main

MARKS = ["--edge-type", "H3K27ac", "--edge-type", "H3K4me1"]


def _run(argv):
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny simulated dataset, one graph per cell type, a 1-epoch encoder's embeddings."""
    root = tmp_path_factory.mktemp("tiny")
    assert _run(["simulate", "--preset", "tiny", "--out", str(root / "sim")]) == 0
    for c in ("mono", "neut", "tcel"):
        qtl = [str(root / "sim" / "qtl" / f"{c}_{m}.txt.gz") for m in ("H3K27ac", "H3K4me1")]
        assert _run(["build", *qtl, "--genome", str(root / "sim" / "genome.chrom.sizes"),
                     *MARKS, "--out", str(root / f"g_{c}")]) == 0
    assert _run(["train-local", "--dataset", str(root / "sim" / "dataset.toml"), "--out", str(root / "enc"),
                 "--epochs", "1", "--dim", "8", "--device", "cpu"]) == 0
    assert _run(["embed", "--run", str(root / "enc"), "--out", str(root / "emb"), "--device", "cpu",
                 "--dtype", "float32"]) == 0
    return root


def _train(root, out, *extra):
    graphs = [a for c in ("mono", "neut", "tcel") for a in ("--graph", f"{c}={root / f'g_{c}'}")]
    return _run(["train", "--dataset", str(root / "sim" / "dataset.toml"), *graphs,
                 "--embeddings", str(root / "emb"), "--epochs", "5", "--hidden", "8",
                 "--bootstrap", "10", "--device", "cpu", "--out", str(out), *extra])


@pytest.mark.slow
def test_train_and_compare_end_to_end(tiny, tmp_path):
    assert _train(tiny, tmp_path / "gnn") == 0
    assert _train(tiny, tmp_path / "local", "--model", "local") == 0
    assert _train(tiny, tmp_path / "shuf", "--shuffle-edges", "--holdout-cell-type", "tcel") == 0
    res = json.loads((tmp_path / "gnn" / "results.json").read_text())
    assert res["model"] == "gnn:graphconv"
    assert {r["stratum"] for r in res["metrics"]} == {"all", "linked", "deg0", "deg1-10", "deg11-100", "deg>100"}
    held = json.loads((tmp_path / "shuf" / "results.json").read_text())
    assert {r["cell_type"] for r in held["metrics"]} == {"tcel"}
    assert _run(["compare", str(tmp_path / "gnn"), str(tmp_path / "local"), "--bootstrap", "10",
                 "--out", str(tmp_path / "cmp")]) == 0
    assert "GNN minus local" in (tmp_path / "cmp" / "comparison.md").read_text()
    # a non-empty --out is refused: exit 2, nothing replaced
    assert _train(tiny, tmp_path / "gnn") == 2


@pytest.mark.slow
def test_unknown_graph_cell_type_is_one_line_error(tiny, tmp_path, capsys):
    code = _run(["train", "--dataset", str(tiny / "sim" / "dataset.toml"), "--graph", f"bcel={tiny / 'g_mono'}",
                 "--embeddings", str(tiny / "emb"), "--out", str(tmp_path / "x")])
    assert code == 2
    assert "not a cell type" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
