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

from qtlgraph.analysis.receptive_field import ProbeResult
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
            ax.axvline(
                edge, color="grey", ls=":", lw=0.8, label=None if i else "analytic receptive field"
            )
    ax.axvline(0, color="black", lw=0.5, alpha=0.5)
    ax.set_xlim(*_xlim(result, analytic))
    ax.set_xlabel(_XLABEL.get(result.method, "offset (bp)"))
    ax.set_ylabel("|effect| (log)" if log else "|effect|")


def plot_probes(
    results: dict[str, ProbeResult], path: str | Path, title: str, analytic: dict | None = None
) -> Path:
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
        axes[0, col].set_title(
            f"{label}: span {result.span:,} bp, effective width {result.effective_width:,} bp",
            fontsize=10,
        )
    axes[0, 0].legend(fontsize=8, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_reach(result, path: str | Path, title: str) -> Path:
    """Effect against genomic distance (log-log), one point per affected target, coloured by hops.

    Args:
        result: an :class:`qtlgraph.analysis.graph_reach.ReachResult`.
        path: PNG to write (atomically).
        title: figure title.
    """
    import matplotlib

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ok = np.isfinite(result.distance) & (result.distance > 0)
    effect = (
        result.effect.max(axis=1) if result.effect.ndim == 2 and len(result.effect) else np.zeros(0)
    )
    if ok.any():
        hops = result.hops[ok]
        levels = np.arange(hops.min(), hops.max() + 2) - 0.5  # one colour per hop count
        cmap = plt.get_cmap("viridis", len(levels) - 1)
        norm = matplotlib.colors.BoundaryNorm(levels, cmap.N)
        points = ax.scatter(
            result.distance[ok], effect[ok], c=hops, cmap=cmap, norm=norm, s=14, alpha=0.8
        )
        fig.colorbar(
            points,
            ax=ax,
            label="hops from the source (-1: beyond max_hops)",
            ticks=np.arange(hops.min(), hops.max() + 1),
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvline(
            result.quantile_distance,
            color="tab:orange",
            ls="--",
            lw=1,
            label=f"{result.quantile:.0%} quantile: {result.quantile_distance:,.0f} bp",
        )
        ax.axvline(
            result.max_distance,
            color="tab:red",
            ls="--",
            lw=1,
            label=f"max: {result.max_distance:,.0f} bp",
        )
        ax.legend(fontsize=8, loc="upper right")
    else:
        ax.text(0.5, 0.5, "no target changed", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("distance from the perturbed bin (bp, bin starts)")
    ax.set_ylabel("|change| of the prediction (max over marks)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_reach_compare(spans: dict, distances: np.ndarray, path: str | Path, title: str) -> Path:
    """Plot "reach in bp" on one log axis: U-Net, Enformer (analytic) and the GNN.

    The GNN is drawn both from its edges (analytic) and as measured.

    Args:
        spans: ``rf.json``'s ``compare`` section: ``unet``, ``enformer``, ``gnn_analytic``,
            ``gnn_measured`` each with ``reach_bp`` (and ``quantile_bp`` for the GNN).
        distances: (K,) measured distances of affected targets (bp), drawn as points.
        path: PNG to write (atomically).
        title: figure title.
    """
    plt = _pyplot()
    rows = [k for k in ("unet", "enformer", "gnn_analytic", "gnn_measured") if k in spans]
    fig, ax = plt.subplots(figsize=(8, 0.8 * len(rows) + 1.6))
    colors = {
        "unet": "tab:blue",
        "enformer": "tab:purple",
        "gnn_analytic": "tab:grey",
        "gnn_measured": "tab:red",
    }
    for y, key in enumerate(rows):
        s = spans[key]
        ax.barh(y, max(s["reach_bp"], 1), left=1, height=0.5, color=colors[key], alpha=0.35)
        ax.text(
            max(s["reach_bp"], 1) * 1.15, y, f"{s['reach_bp']:,.0f} bp", va="center", fontsize=8
        )
        if s.get("quantile_bp"):
            ax.plot([s["quantile_bp"]], [y], marker="|", ms=18, mew=2, color=colors[key])
    if "gnn_measured" in spans and len(distances):
        jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(distances))
        ax.scatter(distances, rows.index("gnn_measured") + jitter, s=6, color="tab:red", alpha=0.5)
    ax.set_yticks(range(len(rows)), [spans[k]["label"] for k in rows], fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(1, 10 ** np.ceil(np.log10(max(max(spans[k]["reach_bp"] for k in rows), 10) * 3)))
    ax.set_xlabel(
        "reach in bp, one side (log; bar: largest, tick: quantile, dots: measured targets)"
    )
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", which="major", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
