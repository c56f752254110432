import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from qtlgraph.cli import cli, main
from qtlgraph.encoders.unet import UNet, UNetConfig
from qtlgraph.runtime import save_checkpoint, write_json

SMALL = dict(
    in_channels=4, out_channels=6, depth=2, base_filters=3, kernel_size=3, pool="max", length=256
)


@pytest.fixture
def small_run(tmp_path):
    """A 'trained' run: config.json + checkpoint.pt of a small U-Net with scaled-up weights."""
    torch.manual_seed(1)
    model = UNet(UNetConfig(**SMALL))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    run = tmp_path / "run"
    run.mkdir()
    write_json(run / "config.json", {"model": "unet:A", "unet": SMALL})
    save_checkpoint(run / "checkpoint.pt", {"model": model.state_dict(), "epoch": 1})
    write_json(run / "run.json", {"kind": "unet", "finished": True})
    return run


def test_rf_refuses_a_trained_run_of_another_model_or_unfinished(tmp_path, small_run):
    args = ["rf", "--trained", str(small_run), "--n-inputs", "2"]
    res = CliRunner().invoke(cli, [*args, "--model", "unet:B", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "a unet:A run, not unet:B" in res.output
    assert not (tmp_path / "b").exists()
    write_json(small_run / "run.json", {"kind": "unet", "finished": False})
    res = CliRunner().invoke(cli, [*args, "--model", "unet:A", "--out", str(tmp_path / "u")])
    assert res.exit_code == 2 and "did not finish" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "u").exists()


def test_rf_trained_vs_untrained_end_to_end(tmp_path, small_run):
    out = tmp_path / "rf"
    res = CliRunner().invoke(
        cli,
        [
            "rf",
            "--model",
            "unet:A",
            "--trained",
            str(small_run),
            "--n-inputs",
            "3",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "rf.json").read_text())
    assert set(summary["probes"]) == {"untrained", "trained"}
    analytic = summary["analytic"]
    for version in ("untrained", "trained"):
        for method in ("perturbation", "gradient"):
            s = summary["probes"][version][method]
            assert 0 < s["span_bp"] <= analytic["max_size"]
    assert summary["configs"]["untrained"] == summary["configs"]["trained"]
    assert summary["report"]["span_bp"] == 1100
    for name in ("rf.md", "profiles.npz", "rf_perturbation.png", "rf_gradient.png"):
        assert (out / name).stat().st_size > 0
    assert "| trained | gradient |" in (out / "rf.md").read_text()


def test_rf_run_dir_as_model_and_one_method(tmp_path, small_run):
    out = tmp_path / "rf"
    res = CliRunner().invoke(
        cli,
        [
            "rf",
            "--model",
            str(small_run),
            "--method",
            "gradient",
            "--n-inputs",
            "2",
            "--position",
            "100",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "rf.json").read_text())
    assert list(summary["probes"]) == ["trained"]
    assert list(summary["probes"]["trained"]) == ["gradient"]
    assert summary["probes"]["trained"]["gradient"]["position"] == 100
    assert not (out / "rf_perturbation.png").exists()


def test_rf_bad_input_is_one_line_exit_2(tmp_path, capsys, small_run):
    bad = tmp_path / "bad"
    bad.mkdir()
    write_json(bad / "config.json", {"model": "gnn:graphconv"})
    for args in (
        ["--model", "unet:Q"],
        ["--model", str(bad)],
        ["--model", "bin-encoder", "--trained", str(small_run)],
    ):
        out = tmp_path / "out"
        with pytest.raises(SystemExit) as exc:
            main(["rf", *args, "--out", str(out)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
        assert not out.exists()


def test_rf_bin_encoder_run(tmp_path):
    from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig

    cfg = BinEncoderConfig(
        bin_size=2_000, flank=0, seq_channels=(4, 4, 4), dim=8, acc_channels=2, head_hidden=4
    )
    torch.manual_seed(0)
    run = tmp_path / "local"
    run.mkdir()
    write_json(run / "config.json", {"model": "local", "encoder": cfg.to_dict()})
    save_checkpoint(run / "checkpoint.pt", {"model": BinEncoder(cfg).state_dict()})
    write_json(run / "run.json", {"kind": "local", "finished": True})
    out = tmp_path / "rf"
    res = CliRunner().invoke(
        cli,
        [
            "rf",
            "--model",
            "bin-encoder",
            "--trained",
            str(run),
            "--method",
            "gradient",
            "--n-inputs",
            "1",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "rf.json").read_text())
    assert summary["family"] == "bin-encoder" and summary["input_length"] == 2_000
    for version in ("untrained", "trained"):
        assert summary["probes"][version]["gradient"]["span_bp"] == summary["analytic"]["size"]


@pytest.fixture(scope="module")
def gnn_runs(tiny_pipeline, run_cli, tmp_path_factory):
    """GNN and local runs (3 epochs) on the shared tiny pipeline, in their own folder."""
    root = tmp_path_factory.mktemp("gnn_rf")
    for name, extra in (("gnn", []), ("local", ["--model", "local"])):
        assert (
            run_cli(
                [
                    "train",
                    "--dataset",
                    str(tiny_pipeline.dataset),
                    *tiny_pipeline.graph_args(),
                    "--embeddings",
                    str(tiny_pipeline.embeddings),
                    "--epochs",
                    "3",
                    "--hidden",
                    "8",
                    "--bootstrap",
                    "5",
                    "--device",
                    "cpu",
                    "--out",
                    str(root / name),
                    *extra,
                ]
            )
            == 0
        )
    return root


@pytest.mark.slow
def test_rf_gnn_run_reach_end_to_end(tmp_path, gnn_runs, run_cli, capsys):
    from qtlgraph.analysis.enformer_probe import ENFORMER_INPUT
    from qtlgraph.analysis.rf_targets import default_unet_analytic

    out = tmp_path / "rf"
    assert (
        run_cli(["rf", "--model", str(gnn_runs / "gnn"), "--n-inputs", "12", "--out", str(out)])
        == 0
    )
    s = json.loads((out / "rf.json").read_text())
    assert s["family"] == "gnn" and s["layers"] == 2 and s["n_sources"] == 12
    r = s["reach"]
    assert r["n_targets"] > 0 and r["n_other_cell_type"] == 0 and r["n_other_chrom"] == 0
    assert 0 < r["quantile_distance_bp"] <= r["max_distance_bp"] <= s["analytic"]["max_bp"][1]
    assert 1 <= r["max_hops"] <= 2 and r["n_beyond_max_hops"] == 0
    u = default_unet_analytic()
    assert s["compare"]["unet"]["reach_bp"] == max(-u["start"], u["end"] - 1)
    assert s["compare"]["enformer"]["reach_bp"] == ENFORMER_INPUT // 2
    assert s["compare"]["gnn_measured"]["reach_bp"] == r["max_distance_bp"]
    reach = np.load(out / "reach.npz")
    assert (
        reach["distance"].max() == r["max_distance_bp"]
        and (reach["distance"] % s["bin_size"] == 0).all()
    )
    for name in ("rf.md", "rf_reach.png", "rf_compare.png"):
        assert (out / name).stat().st_size > 0
    assert "GNN measured" in capsys.readouterr().out
    # the local baseline passes no messages: only the perturbed bin itself moves
    out = tmp_path / "rf_local"
    assert (
        run_cli(
            [
                "rf",
                "--model",
                str(gnn_runs / "local"),
                "--n-inputs",
                "4",
                "--perturb",
                "swap",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    s = json.loads((out / "rf.json").read_text())
    assert s["layers"] == 0 and s["reach"]["n_targets"] == 0 and s["reach"]["max_self_effect"] > 0
    assert "gnn_analytic" not in s["compare"]
    # a graph run given as --trained is refused in one line
    assert (
        run_cli(
            [
                "rf",
                "--model",
                "unet:A",
                "--trained",
                str(gnn_runs / "gnn"),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "x").exists()


def test_rf_graph_run_without_data_is_one_line_error(tmp_path, run_cli, capsys):
    run = tmp_path / "gnn"
    run.mkdir()
    write_json(
        run / "config.json", {"model": "gnn:graphconv", "model_config": {"in_dim": 4, "out_dim": 2}}
    )
    write_json(run / "run.json", {"kind": "gnn", "finished": True})
    out = tmp_path / "out"
    assert run_cli(["rf", "--model", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "data section" in err and "\n" not in err
    assert not out.exists()
