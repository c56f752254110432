import json

import numpy as np
import pytest

from qtlgraph.encoders.evaluate import Tile, comparison_table, tile_windows, to_markdown
from qtlgraph.metrics import pr_auc


def test_tiles_cover_each_base_once():
    tiles = tile_windows({"chr1": 25, "chr2": 7}, ["chr1", "chr2"], 10)
    assert tiles == [
        Tile("chr1", 0, 0, 10),
        Tile("chr1", 10, 10, 20),
        Tile("chr1", 15, 20, 25),
        Tile("chr2", 0, 0, 7),
    ]
    covered = np.concatenate([np.arange(t.score_from, t.score_to) for t in tiles[:3]])
    assert np.array_equal(covered, np.arange(25))


def test_pr_auc_hand_case_is_the_shared_metric():
    # ranking 0.9(+), 0.8(-), 0.7(+): precision at the positives 1 and 2/3 -> AP = (1 + 2/3) / 2
    assert pr_auc(np.array([1, 0, 1, np.nan]), np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx(
        5 / 6
    )


def test_comparison_table_and_markdown(tmp_path):
    for name, r in (("a", 0.5), ("b", None)):
        (tmp_path / name).mkdir()
        metrics = [
            {
                "cell_type": "mono",
                "mark": "H3K27ac",
                "split": "test",
                "stratum": "all",
                "n": 3,
                "pearson": r,
                "spearman": 0.25,
                "mse": None,
                "pr_auc": 0.75,
                "roc_auc": 0.8,
            }
        ]
        (tmp_path / name / "results.json").write_text(
            json.dumps({"run": name, "model": "unet:A", "metrics": metrics})
        )
    df = comparison_table([tmp_path / "a", tmp_path / "b"])
    assert df["run"].tolist() == ["a", "b"] and df["pr_auc"].tolist() == [0.75, 0.75]
    md = to_markdown(df)
    assert "| a | unet:A | mono | H3K27ac | all | 3 | 0.500 | 0.250 | 0.750 | 0.800 |" in md
    assert "| b | unet:A | mono | H3K27ac | all | 3 | - |" in md


def test_bin_predictions_go_through_the_target_transform():
    from types import SimpleNamespace

    from qtlgraph.encoders.evaluate import Accumulated, score_bins

    # bin 0 unscored; bins 1-3: base outputs summing to 2, 6 and 3 over 2, 3 and 1 bases
    acc = Accumulated(
        sums=np.array([[[0.0, 2.0, 6.0, 3.0]]]),
        counts=np.array([0, 2, 3, 1]),
        labels=[[[np.array([0.0, 1.0])]]],
        scores=[[[np.array([0.2, 0.9])]]],
    )
    ds = SimpleNamespace(cell_types=[SimpleNamespace(name="mono")], marks=("H3K27ac",))
    targets = np.log1p(np.array([[[np.nan, 1.0, 2.0, 3.0]]], np.float32))  # bin_targets' scale
    rows, frames = score_bins(acc, targets, ds, kind="bce")
    cell, mark, bins, pred, target = frames[0]
    assert bins.tolist() == [1, 2, 3]
    np.testing.assert_allclose(pred, np.log1p([1.0, 2.0, 3.0]), rtol=1e-6)  # log1p(bin mean)
    np.testing.assert_allclose(target, pred, rtol=1e-6)  # one scale: equal where they agree
    assert rows[0]["pearson"] == pytest.approx(1.0) and rows[0]["roc_auc"] == 1.0
