"""Receptive-field figures in the style of the report's Figures 16-20.

One column per model version (e.g. untrained and trained side by side), two rows: the
effect on a linear scale and on a log scale, against the offset from the mutated base
(perturbation) or from the probed output position (gradient). The mean over inputs is
the line, the maximum the light line; dashed lines bound the measured span, dotted ones
the analytic receptive field where there is one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.receptive_field import ProbeResult
from qtlgraph.outputs import atomic_path

_XLABEL = {
    "perturbation": "position relative to the mutation (bp)",
    "gradient": "input position relative to the output position (bp)",
}


def _xlim(result: ProbeResult, analytic: dict | None) -> tuple[float, float]:
    """Zoom on the reach: 1.5x the measured or analytic extent, within the data."""
    lo, hi = float(result.offsets.min()), float(result.offsets.max())
    reach = [abs(v) for v in (result.start, result.end) if np.isfinite(v)]
    if analytic:
        reach += [abs(analytic["start"]), abs(analytic["end"])]
    if not reach:
        return lo, hi
    half = 1.5 * max(reach) + 1
    return max(lo, -half), min(hi, half)


def _panel(ax, result: ProbeResult, log: bool, analytic: dict | None) -> None:
    x = result.offsets
    floor = result.threshold
    peak = np.where(result.peak > floor, result.peak, np.nan) if log else result.peak
    mean = np.where(result.profile > floor, result.profile, np.nan) if log else result.profile
    ax.plot(x, peak, color="tab:blue", alpha=0.35, lw=0.8, label="max over inputs")
    ax.plot(x, mean, color="tab:blue", lw=1.2, label="mean over inputs")
    if log:
        ax.set_yscale("log")
    if result.span:
        for i, edge in enumerate((result.start, result.end)):
            ax.axvline(edge, color="tab:red", ls="--", lw=0.8, label=None if i else "measured span")
    if analytic:
        for i, edge in enumerate((analytic["start"], analytic["end"] - 1)):
            ax.axvline(edge, color="grey", ls=":", lw=0.8, label=None if i else "analytic receptive field")
    ax.axvline(0, color="black", lw=0.5, alpha=0.5)
    ax.set_xlim(*_xlim(result, analytic))
    ax.set_xlabel(_XLABEL.get(result.method, "offset (bp)"))
    ax.set_ylabel("|effect| (log)" if log else "|effect|")


def plot_probes(results: dict[str, ProbeResult], path: str | Path, title: str,
                analytic: dict | None = None) -> Path:
    """Write one PNG: a column per labelled result, linear and log rows.

    Args:
        results: label (e.g. ``untrained``, ``trained``) -> probe result of one method.
        path: PNG to write (atomically).
        title: figure title.
        analytic: analytic receptive field (``start``, ``end`` offsets) or None.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(5.5 * n, 6.5), squeeze=False)
    for col, (label, result) in enumerate(results.items()):
        for row, log in enumerate((False, True)):
            _panel(axes[row, col], result, log, analytic)
        axes[0, col].set_title(f"{label}: span {result.span:,} bp, "
                               f"effective width {result.effective_width:,} bp", fontsize=10)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
