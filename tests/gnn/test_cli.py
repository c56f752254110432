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


@pytest.mark.slow
def test_local_stats_run_names_its_statistics(tiny_pipeline, run_cli, tmp_path):
    out = tmp_path / "ls"
    extra = ("--model", "local-stats", "--edge-attr", "none", "--epochs", "2")
    assert _train(run_cli, tiny_pipeline, out, *extra) == 0
    config = json.loads((out / "config.json").read_text())
    names = config["data"]["node_stats"]
    assert names == [f"{s}:{t}" for t in config["edge_types"] for s in ("in_degree", "out_degree")]
    assert config["data"]["edge_attr"] == "none" and config["model"] == "local-stats"
    assert config["model_config"]["message_passing"] is False
    # the edge features are the edge type alone; the node features end with the statistics
    assert config["model_config"]["edge_dim"] == len(config["edge_types"])
    plain = tmp_path / "plain"
    assert _train(run_cli, tiny_pipeline, plain, "--model", "local", "--epochs", "2") == 0
    base = json.loads((plain / "config.json").read_text())["model_config"]["in_dim"]
    assert config["model_config"]["in_dim"] == base + len(names)
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "local-stats" and results["metrics"]


@pytest.mark.slow
def test_run_graph_data_rebuilds_a_local_stats_run(tiny_pipeline, run_cli, tmp_path):
    import torch

    from qtlgraph.gnn.data import run_graph_data
    from qtlgraph.gnn.models import build_model
    from qtlgraph.gnn.train import model_inputs

    out = tmp_path / "ls"
    extra = ("--model", "local-stats", "--edge-attr", "none", "--epochs", "2")
    assert _train(run_cli, tiny_pipeline, out, *extra) == 0
    config = json.loads((out / "config.json").read_text())
    data = run_graph_data(config).data
    assert data.node_stat_names == config["data"]["node_stats"]
    assert data.x.shape[1] == config["model_config"]["in_dim"]
    assert data.edge_attr.shape[1] == config["model_config"]["edge_dim"]
    model = build_model(config["model_config"]).eval()
    model.load_state_dict(torch.load(out / "checkpoint.pt", weights_only=False)["model"])
    with torch.no_grad():
        assert torch.isfinite(model(*model_inputs(model, data))).all()
