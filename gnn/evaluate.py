"""Held-out metrics per cell type, mark and in-degree stratum, with bootstrap intervals.

Input is a bin-prediction table (``cell_type, mark, bin, pred, target`` plus
``in_degree``), the shape every run writes to ``bin_predictions.parquet``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from qtlgraph import metrics as M

#: binarisation threshold of the raw bin mean; on log1p targets it is log1p(2)
RAW_THRESHOLD = 2.0
LOG1P_THRESHOLD = math.log1p(RAW_THRESHOLD)


def stratum_masks(in_degree: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks per stratum: all, linked (in-degree >= 1), 0, 1-10, 11-100, >100.

    Shapes: in_degree ``(n,)`` -> each mask ``(n,)``.
    """
    d = np.asarray(in_degree)
    return {
        "all": np.ones(len(d), bool),
        "linked": d >= 1,
        "deg0": d == 0,
        "deg1-10": (d >= 1) & (d <= 10),
        "deg11-100": (d >= 11) & (d <= 100),
        "deg>100": d > 100,
    }


class Scores(NamedTuple):
    n: int
    pearson: float
    pearson_low: float
    pearson_high: float
    spearman: float
    mse: float
    mse_low: float
    mse_high: float
    pr_auc: float
    roc_auc: float


def score(
    target: np.ndarray,
    pred: np.ndarray,
    *,
    threshold: float = LOG1P_THRESHOLD,
    n_boot: int = 200,
    seed: int = 0,
) -> Scores:
    """All metrics for one group of bins; NaN targets ignored.

    PR-AUC and ROC-AUC score ``pred`` against ``target > threshold``. Bootstrap intervals
    (resampling bins) are given for Pearson and MSE.
    """
    target = np.asarray(target, np.float64)
    pred = np.asarray(pred, np.float64)
    keep = np.isfinite(target) & np.isfinite(pred)
    t, p = target[keep], pred[keep]
    labels = (t > threshold).astype(np.float64)
    r = M.bootstrap_ci(M.pearson, t, p, n_boot=n_boot, seed=seed)
    e = M.bootstrap_ci(M.mse, t, p, n_boot=n_boot, seed=seed)
    return Scores(
        int(len(t)),
        r.value,
        r.low,
        r.high,
        M.spearman(t, p),
        e.value,
        e.low,
        e.high,
        M.pr_auc(labels, p),
        M.roc_auc(labels, p),
    )


def metrics_table(
    frame,
    *,
    split: str = "test",
    threshold: float = LOG1P_THRESHOLD,
    n_boot: int = 200,
    seed: int = 0,
) -> list[dict]:
    """One row per cell type, mark and stratum (``results.json`` ``metrics`` records).

    Args:
        frame: pandas DataFrame with ``cell_type, mark, pred, target, in_degree``.
        split: the split name written into each row.
        threshold: binarisation threshold in target units.
        n_boot: bootstrap resamples (0: no intervals).
        seed: bootstrap seed.
    """
    rows = []
    for (ct, mark), g in frame.groupby(["cell_type", "mark"], sort=False):
        t, p = g["target"].to_numpy(), g["pred"].to_numpy()
        for stratum, m in stratum_masks(g["in_degree"].to_numpy()).items():
            s = score(t[m], p[m], threshold=threshold, n_boot=n_boot, seed=seed)
            rows.append(
                {"cell_type": ct, "mark": mark, "split": split, "stratum": stratum, **s._asdict()}
            )
    return rows


def paired_table(frame_a, frame_b, *, n_boot: int = 200, seed: int = 0) -> list[dict]:
    """Paired bootstrap of model a minus model b (Pearson and MSE) over the same bins.

    Args:
        frame_a: bin-prediction table of model a; ``in_degree`` is taken from it.
        frame_b: bin-prediction table of model b (matched on cell type, mark and bin).
        n_boot: bootstrap replicates.
        seed: bootstrap seed.
    """
    keys = ["cell_type", "mark", "bin"]
    both = frame_a.merge(frame_b[keys + ["pred"]], on=keys, suffixes=("", "_b"))
    rows = []
    for (ct, mark), g in both.groupby(["cell_type", "mark"], sort=False):
        t, a, b = (g[c].to_numpy(np.float64) for c in ("target", "pred", "pred_b"))
        for stratum, m in stratum_masks(g["in_degree"].to_numpy()).items():
            r = M.paired_bootstrap_diff(M.pearson, t[m], a[m], b[m], n_boot=n_boot, seed=seed)
            e = M.paired_bootstrap_diff(M.mse, t[m], a[m], b[m], n_boot=n_boot, seed=seed)
            rows.append(
                {
                    "cell_type": ct,
                    "mark": mark,
                    "stratum": stratum,
                    "n": int(np.sum(m & np.isfinite(t))),
                    "d_pearson": r.value,
                    "d_pearson_low": r.low,
                    "d_pearson_high": r.high,
                    "d_mse": e.value,
                    "d_mse_low": e.low,
                    "d_mse_high": e.high,
                }
            )
    return rows


def prediction_frame(data, pred, cell_types, marks, part: str = "test"):
    """Long table ``cell_type, mark, bin, pred, target, in_degree`` for one split's nodes.

    Shapes: pred ``(num_nodes, n_marks)``.
    """
    import pandas as pd

    idx = np.flatnonzero(data[f"{part}_mask"].cpu().numpy())
    ct = data.cell_type.cpu().numpy()[idx]
    frames = []
    for m, mark in enumerate(marks):
        frames.append(
            pd.DataFrame(
                {
                    "cell_type": np.asarray(cell_types, dtype=object)[ct],
                    "mark": mark,
                    "bin": data.bin.cpu().numpy()[idx].astype(np.int64),
                    "pred": pred[idx, m].cpu().numpy().astype(np.float32),
                    "target": data.y[idx, m].cpu().numpy().astype(np.float32),
                    "in_degree": data.in_degree.cpu().numpy()[idx].astype(np.int64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
