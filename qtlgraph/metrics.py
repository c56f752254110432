"""Metrics shared by every model comparison: correlations, PR/ROC-AUC, bootstrap CIs, and
the ``results.json`` metric rows built from them.

Every function ignores positions where the target is NaN (the report's masking policy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import stats


def _finite(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    return y_true[keep], y_pred[keep]


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson r over finite pairs; NaN with fewer than 3 pairs or a constant vector."""
    t, p = _finite(y_true, y_pred)
    if len(t) < 3 or t.std() == 0 or p.std() == 0:
        return float("nan")
    return float(np.corrcoef(t, p)[0, 1])


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    t, p = _finite(y_true, y_pred)
    if len(t) < 3 or t.std() == 0 or p.std() == 0:
        return float("nan")
    return float(stats.spearmanr(t, p).statistic)


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    t, p = _finite(y_true, y_pred)
    return float(np.mean((t - p) ** 2)) if len(t) else float("nan")


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision); NaN without both classes."""
    from sklearn.metrics import average_precision_score

    t, p = _finite(labels, scores)
    if len(t) == 0 or t.min() == t.max():
        return float("nan")
    return float(average_precision_score(t > 0.5, p))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    t, p = _finite(labels, scores)
    if len(t) == 0 or t.min() == t.max():
        return float("nan")
    return float(roc_auc_score(t > 0.5, p))


class Interval(NamedTuple):
    value: float
    low: float
    high: float


#: most resampled items held at once (replicates x items); bounds a bootstrap's memory
BOOT_CHUNK = 2_000_000


def _pearson_rows(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """:func:`pearson` of every row pair at once; NaN where a row is constant.

    Shapes: t, p: (m, n) -> (m,)
    """
    tc = t - t.mean(axis=1, keepdims=True)
    pc = p - p.mean(axis=1, keepdims=True)
    den = np.sqrt((tc * tc).sum(axis=1) * (pc * pc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (tc * pc).sum(axis=1) / den
    r[~(den > 0)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _mse_rows(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return ((t - p) ** 2).mean(axis=1)


#: metrics computed for many resamples in one NumPy pass (the others row by row)
_BATCHED = {pearson: _pearson_rows, mse: _mse_rows}


def _resampled(metric, t: np.ndarray, p: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``metric`` on each resample: ``rows`` (m, n) holds the item indices of m resamples."""
    batched = _BATCHED.get(metric)
    if batched is not None:
        return batched(t[rows], p[rows])
    return np.array([metric(t[i], p[i]) for i in rows], dtype=np.float64)


def _bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, level: float, seed: int
) -> tuple[float, float]:
    """Percentile interval over ``n_boot`` resamples of ``n`` items.

    ``statistic`` maps a block of resamples, item indices of shape (m, n), to their m
    values; blocks hold at most :data:`BOOT_CHUNK` indices and come from one generator in
    order, so the resamples do not depend on the block size.
    """
    if n < 3 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    step = max(1, min(n_boot, BOOT_CHUNK // n))
    draws = np.concatenate(
        [
            statistic(rng.integers(0, n, size=(min(step, n_boot - s), n)))
            for s in range(0, n_boot, step)
        ]
    )
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return float("nan"), float("nan")
    q = (1 - level) / 2
    return float(np.quantile(draws, q)), float(np.quantile(draws, 1 - q))


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Metric with a percentile bootstrap confidence interval, resampling items (bins)."""
    t, p = _finite(y_true, y_pred)
    lo, hi = _bootstrap(lambda rows: _resampled(metric, t, p, rows), len(t), n_boot, level, seed)
    return Interval(metric(t, p), lo, hi)


def paired_bootstrap_diff(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """metric(a) - metric(b) with a paired bootstrap CI (the same resampled bins for both)."""
    y_true, pred_a, pred_b = (np.asarray(x, np.float64).ravel() for x in (y_true, pred_a, pred_b))
    keep = np.isfinite(y_true) & np.isfinite(pred_a) & np.isfinite(pred_b)
    t, a_, b_ = y_true[keep], pred_a[keep], pred_b[keep]

    def diff(rows):
        return _resampled(metric, t, a_, rows) - _resampled(metric, t, b_, rows)

    lo, hi = _bootstrap(diff, len(t), n_boot, level, seed)
    return Interval(metric(t, a_) - metric(t, b_), lo, hi)


def metric_rows(
    frame,
    split: str,
    *,
    threshold: float | None = None,
    samples: dict | None = None,
    with_mse: bool = True,
) -> list[dict]:
    """``results.json`` metric rows (stratum ``all``), one per cell type and mark.

    Pearson, Spearman and MSE compare ``pred`` with ``target`` over the bins; the AUCs
    score either the bins themselves (``threshold``) or a sample taken elsewhere, such as
    bases (``samples``).

    Args:
        frame: pandas DataFrame ``cell_type, mark, pred, target`` (NaN targets ignored);
            rows come out in the order the (cell type, mark) pairs first appear.
        split: the split name written into each row.
        threshold: AUC labels of the bins with a finite target: ``target > threshold``,
            scored by ``pred``.
        samples: instead, ``(cell_type, mark) -> (labels, scores)``; each row then adds
            ``n_bases`` (finite labels) and ``positive_fraction``.
        with_mse: False writes ``mse`` as None (a classification loss has no comparable MSE).
    """
    if (threshold is None) == (samples is None):
        raise ValueError("metric_rows: give exactly one of threshold and samples")
    rows = []
    for (cell, mark), g in frame.groupby(["cell_type", "mark"], sort=False):
        t, p = g["target"].to_numpy(np.float64), g["pred"].to_numpy(np.float64)
        keep = np.isfinite(t)
        if samples is None:
            labels, scores = (t[keep] > threshold).astype(np.float64), p[keep]
        else:
            labels, scores = samples[cell, mark]
        row = {
            "cell_type": cell,
            "mark": mark,
            "split": split,
            "stratum": "all",
            "n": int(keep.sum()),
            "pearson": pearson(t, p),
            "spearman": spearman(t, p),
            "mse": mse(t, p) if with_mse else None,
            "pr_auc": pr_auc(labels, scores),
            "roc_auc": roc_auc(labels, scores),
        }
        if samples is not None:
            finite = np.isfinite(labels)
            row["n_bases"] = int(finite.sum())
            row["positive_fraction"] = float(np.nanmean(labels)) if finite.any() else None
        rows.append(row)
    return rows
