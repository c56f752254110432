import json

import pandas as pd
import pytest
from click.testing import CliRunner

from qtlgraph.cli import cli, main

SMALL = [
    "--windows",
    "32",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--base-filters",
    "4",
    "--depth",
    "2",
    "--length",
    "512",
    "--base-fraction",
    "0.2",
    "--device",
    "cpu",
]


@pytest.mark.slow
def test_train_unet_and_evaluate_end_to_end(tiny_dataset, tmp_path):
    runner = CliRunner()
    runs = []
    for model in ("A", "B"):
        out = tmp_path / f"run{model}"
        res = runner.invoke(
            cli,
            [
                "train-unet",
                "--dataset",
                str(tiny_dataset),
                "--model",
                model,
                "--out",
                str(out),
                *SMALL,
            ],
        )
        assert res.exit_code == 0, res.output
        runs.append(out)
    results = json.loads((runs[1] / "results.json").read_text())
    assert results["model"] == "unet:B" and len(results["metrics"]) == 4
    row = results["metrics"][0]
    assert row["n"] == 4 and 0 <= row["pr_auc"] <= 1 and 0 <= row["roc_auc"] <= 1
    assert results["target"] == "log1p(bin mean)" and len(results["history"]) == 2
    assert results["best_epoch"] in (1, 2) and results["epochs_run"] == 2
    bins = pd.read_parquet(runs[0] / "bin_predictions.parquet")
    assert list(bins.columns) == ["cell_type", "mark", "bin", "pred", "target"]
    assert len(bins) == 2 * 2 * 4 and bins["bin"].max() == 3  # chr1 = 40 kb = bins 0-3
    assert ((bins["pred"] >= 0) & (bins["pred"] <= 1)).all()
    config = json.loads((runs[0] / "config.json").read_text())
    assert config["unet"]["in_channels"] == 4 and config["unet"]["out_channels"] == 4
    assert config["target"] == "log1p(bin mean)"
    md = tmp_path / "table.md"
    res = runner.invoke(cli, ["evaluate", str(runs[0]), str(runs[1]), "--out", str(md)])
    assert res.exit_code == 0, res.output
    assert md.read_text() == res.output and res.output.count("unet:") == 8
    res = runner.invoke(cli, ["evaluate", str(runs[0]), "--recompute", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    again = json.loads((runs[0] / "results.json").read_text())
    assert len(again["history"]) == 2 and set(again["seconds"]) == {"train", "evaluate"}


def test_resume_extends_training(tiny_dataset, tmp_path):
    import torch

    out = tmp_path / "run"
    args = [
        "train-unet",
        "--dataset",
        str(tiny_dataset),
        "--model",
        "D",
        "--out",
        str(out),
        "--no-evaluate",
    ]
    small = [a for a in SMALL if a not in ("--base-fraction", "0.2")]
    assert CliRunner().invoke(cli, [*args, *small]).exit_code == 0
    refused = CliRunner().invoke(cli, [*args, *small])
    assert refused.exit_code != 0
    res = CliRunner().invoke(cli, [*args, "--resume", "--epochs", "3", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == 3 and len(ckpt["history"]) == 3 and ckpt["config"]["baseline"] == "D"


def test_bad_input_one_line_exit_2(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "bad"
    try:
        main(
            [
                "train-unet",
                "--dataset",
                str(tiny_dataset),
                "--model",
                "A",
                "--out",
                str(out),
                "--length",
                "1000",
                "--depth",
                "5",
            ]
        )
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "multiple of" in err and err.count("\n") == 1
    assert not out.exists()
