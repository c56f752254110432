import json

import pytest


def _train(run_cli, tiny, out, *extra):
    """A GNN (or --model local) run on the shared tiny pipeline, written to ``out``."""
    return run_cli(
        [
            "train",
            "--dataset",
            str(tiny.dataset),
            *tiny.graph_args(),
            "--embeddings",
            str(tiny.embeddings),
            "--epochs",
            "5",
            "--hidden",
            "8",
            "--bootstrap",
            "10",
            "--device",
            "cpu",
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.mark.slow
def test_train_and_compare_end_to_end(tiny_pipeline, run_cli, tmp_path):
    tiny = tiny_pipeline
    assert _train(run_cli, tiny, tmp_path / "gnn") == 0
    assert _train(run_cli, tiny, tmp_path / "local", "--model", "local") == 0
    assert (
        _train(run_cli, tiny, tmp_path / "shuf", "--shuffle-edges", "--holdout-cell-type", "tcel")
        == 0
    )
    res = json.loads((tmp_path / "gnn" / "results.json").read_text())
    assert res["model"] == "gnn:graphconv"
    assert {r["stratum"] for r in res["metrics"]} == {
        "all",
        "linked",
        "deg0",
        "deg1-10",
        "deg11-100",
        "deg>100",
    }
    held = json.loads((tmp_path / "shuf" / "results.json").read_text())
    assert {r["cell_type"] for r in held["metrics"]} == {"tcel"}
    assert (
        run_cli(
            [
                "compare",
                str(tmp_path / "gnn"),
                str(tmp_path / "local"),
                "--bootstrap",
                "10",
                "--out",
                str(tmp_path / "cmp"),
            ]
        )
        == 0
    )
    assert "GNN minus local" in (tmp_path / "cmp" / "comparison.md").read_text()
    # a non-empty --out is refused: exit 2, nothing replaced
    assert _train(run_cli, tiny, tmp_path / "gnn") == 2


@pytest.mark.slow
def test_unknown_graph_cell_type_is_one_line_error(tiny_pipeline, run_cli, tmp_path, capsys):
    tiny = tiny_pipeline
    code = run_cli(
        [
            "train",
            "--dataset",
            str(tiny.dataset),
            "--graph",
            f"bcel={tiny.graphs['mono']}",
            "--embeddings",
            str(tiny.embeddings),
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert code == 2
    assert "not a cell type" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
