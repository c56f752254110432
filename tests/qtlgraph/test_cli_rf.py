import json

import pytest
import torch
from click.testing import CliRunner

from encoders.unet import UNet, UNetConfig
from qtlgraph.cli import cli, main
from qtlgraph.runtime import save_checkpoint, write_json

SMALL = dict(in_channels=4, out_channels=6, depth=2, base_filters=3, kernel_size=3, pool="max", length=256)


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
    return run


def test_rf_trained_vs_untrained_end_to_end(tmp_path, small_run):
    out = tmp_path / "rf"
    res = CliRunner().invoke(cli, ["rf", "--model", "unet:A", "--trained", str(small_run), "--n-inputs", "3",
                                   "--out", str(out)])
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
    res = CliRunner().invoke(cli, ["rf", "--model", str(small_run), "--method", "gradient", "--n-inputs", "2",
                                   "--position", "100", "--out", str(out)])
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
    for args in (["--model", "unet:Q"], ["--model", str(bad)], ["--model", "bin-encoder", "--trained", str(small_run)]):
        out = tmp_path / "out"
        with pytest.raises(SystemExit) as exc:
            main(["rf", *args, "--out", str(out)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
        assert not out.exists()


def test_rf_bin_encoder_run(tmp_path):
    from encoders.bin_encoder import BinEncoder, BinEncoderConfig

    cfg = BinEncoderConfig(bin_size=2_000, flank=0, seq_channels=(4, 4, 4), dim=8, acc_channels=2, head_hidden=4)
    torch.manual_seed(0)
    run = tmp_path / "local"
    run.mkdir()
    write_json(run / "config.json", {"model": "local", "encoder": cfg.to_dict()})
    save_checkpoint(run / "checkpoint.pt", {"model": BinEncoder(cfg).state_dict()})
    out = tmp_path / "rf"
    res = CliRunner().invoke(cli, ["rf", "--model", "bin-encoder", "--trained", str(run), "--method", "gradient",
                                   "--n-inputs", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "rf.json").read_text())
    assert summary["family"] == "bin-encoder" and summary["input_length"] == 2_000
    for version in ("untrained", "trained"):
        assert summary["probes"][version]["gradient"]["span_bp"] == summary["analytic"]["size"]
