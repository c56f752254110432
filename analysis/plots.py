"""Shared plotting helpers. Every figure is drawn on matplotlib's non-interactive Agg canvas
(``Figure`` + ``FigureCanvasAgg``, never ``pyplot``), so plotting works without a display
and leaves the global backend alone; matplotlib is imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qtlgraph.outputs import atomic_path


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (7.0, 5.0)):
    """A ``(figure, axes)`` pair on an Agg canvas; ``axes`` as from ``Figure.subplots``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, squeeze=False)


def save_figure(figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``figure`` atomically; the format follows ``path``'s suffix (png, pdf, svg)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    return path


def nice_width(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at least ``raw`` (readable bar widths)."""
    width = 1
    while width < raw:
        for step in (2, 2.5, 2):
            width = int(width * step)
            if width >= raw:
                break
    return width


def count_histogram_panel(
    ax, links: np.ndarray, regions: np.ndarray, xlabel: str, n_bars: int = 60
) -> None:
    """Bars of region counts over equal-width degree bins, log-scaled counts.

    Args:
        ax: a matplotlib axes.
        links: distinct degree values.
        regions: how many regions have each degree.
        xlabel: the x-axis label.
        n_bars: at most this many bars (integer-width bins from 0 to the maximum degree).

    Shapes:
        links, regions: (n_values,)
    """
    top = int(links.max()) + 1 if links.size else 1
    width = nice_width(top / n_bars)
    edges = np.arange(0, top + width, width)
    counts, _ = np.histogram(links, bins=edges, weights=regions)
    shown = counts > 0
    ax.bar(
        edges[:-1][shown],
        counts[shown],
        width=width,
        align="edge",
        color="#3b6ea5",
        edgecolor="#1f3d5c",
        linewidth=0.4,
    )
    ax.set_yscale("log")
    ax.set_xlim(0, edges[-1])
    ax.set_xlabel(xlabel + ("" if width == 1 else f" (bins of {width})"))
    ax.set_ylabel("Number of regions")
    ax.grid(axis="y", which="major", alpha=0.3)


def degree_histogram_figure(
    histogram: pd.DataFrame, path: str | Path, title: str, threshold: int | None = 100
) -> Path:
    """The report's Figures 5-10: connected QTLs per region (top), binned QTLs (bottom).

    Args:
        histogram: ``links, connected, binned`` (regions with exactly ``links`` links).
        path: the image file to write.
        title: the figure title (graph and edge type).
        threshold: a dashed line at this many links (the hub and "> 100" cut); None for none.
    """
    figure, axes = new_figure(2, 1, size=(7.0, 7.0))
    links = histogram["links"].to_numpy()
    for ax, column, label in (
        (axes[0, 0], "connected", "Connected QTLs per region"),
        (axes[1, 0], "binned", "Binned QTLs (source bins) per region"),
    ):
        regions = histogram[column].to_numpy()
        keep = regions > 0
        count_histogram_panel(ax, links[keep], regions[keep], label)
        if threshold is not None:
            ax.axvline(
                threshold, color="#c0392b", linestyle="--", linewidth=1, label=f"{threshold} links"
            )
            ax.legend(loc="upper right", fontsize=8)
        total = regions.sum()
        none = regions[links == 0].sum()
        ax.set_title(
            f"{label}: {none / total:.1%} of {total:,} regions have none" if total else label,
            fontsize=10,
        )
    figure.suptitle(title)
    return save_figure(figure, path)
