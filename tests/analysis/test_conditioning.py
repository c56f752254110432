"""The conditioning table, finding and figures on hand-written histories and metrics."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from qtlgraph.analysis.conditioning import (
    conditioning_table,
    finding,
    load_results,
    table_markdown,
    write_conditioning,
)
from qtlgraph.errors import InputError


def _result(model, train, valid, pr, roc):
    """A U-Net results.json: per-epoch losses, test PR/ROC-AUC per cell type and mark."""
    history = [
        {"epoch": i + 1, "train_loss": t, "valid_loss": v}
        for i, (t, v) in enumerate(zip(train, valid))
    ]
    metrics = [
        {
            "cell_type": cell,
            "mark": mark,
            "split": "test",
            "stratum": "all",
            "pr_auc": pr + d,
            "roc_auc": roc,
            "positive_fraction": 0.1,
        }
        for cell, d in (("mono", 0.01), ("tcel", -0.01))
        for mark in ("H3K27ac", "H3K4me1")
    ]
    best = min(history, key=lambda h: h["valid_loss"])["epoch"]
    return {
        "run": f"unet_{model}",
        "model": f"unet:{model}",
        "history": history,
        "best_epoch": best,
        "metrics": metrics,
        "windows_seen": 400 * len(history),
        "seconds": {"train": 12.3, "evaluate": 4.0},
    }


# the report's pattern: B, C train lowest; A, then D, best at test
REVERSAL = {
    "A": _result("A", [0.5, 0.4], [0.45, 0.42], 0.40, 0.80),
    "B": _result("B", [0.4, 0.2], [0.35, 0.38], 0.25, 0.70),
    "C": _result("C", [0.4, 0.3], [0.36, 0.37], 0.20, 0.70),
    "D": _result("D", [0.6, 0.5], [0.50, 0.49], 0.30, 0.75),
}


def test_table_ranks_training_loss_and_test_pr_auc():
    table = conditioning_table(REVERSAL).set_index("model")
    assert table.loc["B", "train_loss"] == 0.2 and table.loc["A", "valid_loss"] == 0.42
    assert table.loc["A", "test_pr_auc"] == pytest.approx(0.40)  # mean over cell types
    assert table["train_rank"].to_dict() == {"A": 3, "B": 1, "C": 2, "D": 4}
    assert table["test_rank"].to_dict() == {"A": 1, "B": 3, "C": 4, "D": 2}
    assert table.loc["B", "best_epoch"] == 1 and table["learnt"].all()
    text = finding(conditioning_table(REVERSAL))
    assert "Lowest training loss first: B, C, A, D." in text
    assert "Best test PR-AUC first: A, D, B, C." in text
    assert "reproduces the report's reversal" in text and "does not" not in text


def test_a_model_at_chance_is_named_not_ranked():
    results = {**REVERSAL, "D": _result("D", [0.7, 0.69], [0.7, 0.7], 0.1, 0.5)}
    table = conditioning_table(results).set_index("model")
    assert not table.loc["D", "learnt"] and pd.isna(table.loc["D", "train_rank"])
    assert table["train_rank"].dropna().to_dict() == {"A": 3, "B": 1, "C": 2}
    text = finding(conditioning_table(results))
    assert "left out of the rankings: D." in text and "Best test PR-AUC first: A, B, C." in text
    assert "reversal cannot be tested" not in text  # A is left on the A-D side
    sequence_only_lost = {
        **results,
        "A": _result("A", [0.7, 0.69], [0.7, 0.7], 0.1, 0.51),
    }
    text = finding(conditioning_table(sequence_only_lost))
    assert "reversal cannot be tested here: no model of one side learnt (A, D)" in text
    md = table_markdown(conditioning_table(results))
    row = next(line for line in md.splitlines() if line.startswith("| D |"))
    assert "not learnt" in row and "not ranked" in row


def test_no_reversal_is_stated_as_such():
    results = {
        "A": _result("A", [0.3], [0.3], 0.2, 0.8),
        "B": _result("B", [0.2], [0.2], 0.5, 0.9),
    }
    text = finding(conditioning_table(results))
    assert "does not reproduce the report's reversal" in text
    assert "in training loss (the report's first finding): yes" in text
    assert "(its second): no" in text


def test_write_conditioning_figures_and_table(tmp_path):
    runs = []
    for model, res in REVERSAL.items():
        run = tmp_path / f"unet_{model}"
        run.mkdir()
        (run / "results.json").write_text(json.dumps(res))
        runs.append(run)
    md = write_conditioning(runs, tmp_path / "out")
    for name in ("training_curves.png", "test_pr_auc.png"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    tsv = pd.read_csv(tmp_path / "out" / "conditioning.tsv", sep="\t")
    assert tsv["model"].tolist() == ["A", "B", "C", "D"]
    text = md.read_text()
    assert (
        "(training_curves.png)" in text
        and "| A | 2 | 800 | 12 / 4 | 2 | 0.4000 | 0.4200 | 0.400 |" in text
    )
    other = tmp_path / "local"
    other.mkdir()
    (other / "results.json").write_text(json.dumps({"model": "local", "metrics": []}))
    with pytest.raises(InputError, match="not a U-Net run"):
        load_results([other])
