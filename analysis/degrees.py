"""Region degrees of a QTL graph: reading them, histograms, fractions, hubs, summary rows.

A graph directory (``qtlgraph build`` output, see docs/architecture.md) holds
``degrees.tsv.gz`` with ``chrom, start, end, connected, binned`` for every bin (plus
``connected_<type>, binned_<type>`` per edge type when there are several) and
``build.json`` whose ``name`` labels the graph. ``connected`` counts the QTL rows that
target a bin, ``binned`` the distinct source bins linked to it (the report's "connected
QTLs" and "binned QTLs").

Hubs: a region is a hub when its ``binned`` degree exceeds 100 (the report's threshold:
about 0.3% of hg38 bins in the BLUEPRINT graphs); ``hub_threshold(..., quantile=q)``
instead takes the q-quantile of the non-zero degrees, for graphs of a different density.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from qtlgraph.analysis.powerlaw_fit import DegreeFit
from qtlgraph.errors import InputError

DEGREES_FILE = "degrees.tsv.gz"
BUILD_FILE = "build.json"
BASE_COLUMNS = ("chrom", "start", "end", "connected", "binned")
HUB_THRESHOLD = 100


class DegreeTable(NamedTuple):
    """One graph's degrees: ``frame`` has the columns of ``degrees.tsv.gz``."""

    name: str
    frame: pd.DataFrame
    edge_types: tuple[str, ...]
    path: Path


class DegreeFractions(NamedTuple):
    """How many regions have no link, and how many more than ``threshold``."""

    n_regions: int
    n_none: int
    n_over: int
    fraction_none: float
    fraction_over: float
    threshold: int


def _graph_name(graph_dir: Path) -> str:
    build = graph_dir / BUILD_FILE
    if not build.is_file():
        return graph_dir.resolve().name
    try:
        name = json.loads(build.read_text()).get("name")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise InputError(f"{build}: not a JSON object ({exc})") from None
    return str(name) if name else graph_dir.resolve().name


def read_degrees(graph_dir: str | Path) -> DegreeTable:
    """Read ``GRAPH_DIR/degrees.tsv.gz`` and the graph's name from ``build.json``.

    Args:
        graph_dir: a graph directory; ``build.json`` is optional (the name falls back to
            the directory name).

    Returns:
        A :class:`DegreeTable`; edge types are those with both ``connected_<type>`` and
        ``binned_<type>`` columns.

    Raises:
        InputError: the file is missing or unreadable, a column is missing, or a degree
            is negative or not an integer.
    """
    graph_dir = Path(graph_dir)
    path = graph_dir / DEGREES_FILE
    if not path.is_file():
        raise InputError(
            f"{path}: file not found (expected a graph directory from 'qtlgraph build')"
        )
    try:
        frame = pd.read_csv(path, sep="\t", dtype={"chrom": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable gzipped TSV ({exc})") from None
    missing = [c for c in BASE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column {missing[0]!r} (expected {', '.join(BASE_COLUMNS)})"
        )
    types = tuple(
        c[len("connected_") :]
        for c in frame.columns
        if c.startswith("connected_") and f"binned_{c[len('connected_') :]}" in frame.columns
    )
    per_type = [f"{kind}_{t}" for t in types for kind in ("connected", "binned")]
    for column in ["start", "end", "connected", "binned", *per_type]:
        _check_counts(frame, column, path)
    return DegreeTable(_graph_name(graph_dir), frame, types, path)


def _check_counts(frame: pd.DataFrame, column: str, path: Path) -> None:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values < 0) | (values != values.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: column {column!r} row {row + 1}: expected a non-negative integer, "
            f"got {frame[column].iloc[row]!r}"
        )
    frame[column] = values.astype(np.int64)


def degree_columns(edge_type: str | None = None) -> tuple[str, str]:
    """The (connected, binned) column names for all edges or for one edge type."""
    return (
        ("connected", "binned")
        if edge_type is None
        else (f"connected_{edge_type}", f"binned_{edge_type}")
    )


def degree_histogram(degrees: np.ndarray) -> pd.DataFrame:
    """Number of regions per degree value, for every value that occurs.

    Args:
        degrees: non-negative integer degrees, one per region.

    Returns:
        DataFrame ``links, regions`` sorted by ``links``.

    Shapes:
        degrees: (n_regions,)
    """
    counts = np.bincount(np.asarray(degrees, dtype=np.int64))
    links = np.flatnonzero(counts)
    return pd.DataFrame({"links": links, "regions": counts[links]})


def histogram_table(frame: pd.DataFrame, edge_type: str | None = None) -> pd.DataFrame:
    """Connected and binned histograms side by side: ``links, connected, binned`` (regions)."""
    connected, binned = degree_columns(edge_type)
    left = degree_histogram(frame[connected].to_numpy()).rename(columns={"regions": "connected"})
    right = degree_histogram(frame[binned].to_numpy()).rename(columns={"regions": "binned"})
    table = left.merge(right, on="links", how="outer").fillna(0).sort_values("links")
    return table.astype(np.int64).reset_index(drop=True)


def degree_fractions(degrees: np.ndarray, threshold: int = HUB_THRESHOLD) -> DegreeFractions:
    """Fractions of regions with no link and with more than ``threshold`` links.

    Shapes:
        degrees: (n_regions,)
    """
    degrees = np.asarray(degrees)
    n = int(degrees.size)
    n_none = int(np.sum(degrees == 0))
    n_over = int(np.sum(degrees > threshold))
    return DegreeFractions(
        n, n_none, n_over, n_none / n if n else np.nan, n_over / n if n else np.nan, threshold
    )


def hub_threshold(
    degrees: np.ndarray, threshold: int | None = HUB_THRESHOLD, quantile: float | None = None
) -> float:
    """The degree a hub must exceed: ``threshold``, or the ``quantile`` of non-zero degrees."""
    if quantile is None:
        return float(threshold)
    if not 0.0 < quantile < 1.0:
        raise InputError(f"hub quantile {quantile}: expected a number between 0 and 1")
    positive = np.asarray(degrees)[np.asarray(degrees) > 0]
    return float(np.quantile(positive, quantile)) if positive.size else np.inf


def hub_regions(
    frame: pd.DataFrame, column: str = "binned", threshold: float = HUB_THRESHOLD
) -> pd.DataFrame:
    """Regions whose ``column`` exceeds ``threshold``, as BED6 sorted by position.

    Returns:
        DataFrame ``chrom, start, end, name, score, strand`` (``name`` = ``hub<i>``,
        ``score`` = the degree, ``strand`` = ``.``), in the input's row order.
    """
    hubs = frame.loc[frame[column].to_numpy() > threshold, ["chrom", "start", "end", column]]
    hubs = hubs.rename(columns={column: "score"}).reset_index(drop=True)
    hubs.insert(3, "name", [f"hub{i + 1}" for i in range(len(hubs))])
    hubs["strand"] = "."
    return hubs


def summary_column(
    frame: pd.DataFrame,
    fits: dict[str, DegreeFit],
    edge_type: str | None = None,
    threshold: int = HUB_THRESHOLD,
) -> dict[str, float]:
    """The report's Table 1/2 rows for one graph (or one edge type), plus fit rows.

    Args:
        frame: a degree table (see :func:`read_degrees`).
        fits: power-law fits keyed by ``"connected"`` / ``"binned"``.
        edge_type: an edge type, or ``None`` for all edges.
        threshold: the "> N links" fraction's N.

    Returns:
        An ordered dict row label -> value.
    """
    connected_col, binned_col = degree_columns(edge_type)
    connected = frame[connected_col].to_numpy()
    binned = frame[binned_col].to_numpy()
    n_all = int(connected.size)
    n_linked = int(np.sum(binned > 0))
    rows = {
        "Connected QTLs": int(connected.sum()),
        "QTL bins": int(binned.sum()),
        "Connected regions": n_linked,
        "All regions": n_all,
        "Avg QTLs per connected region": connected.sum() / n_linked if n_linked else np.nan,
        "Avg QTLs per region": connected.sum() / n_all if n_all else np.nan,
        "Avg QTL bins per connected region": binned.sum() / n_linked if n_linked else np.nan,
        "Avg QTL bins per region": binned.sum() / n_all if n_all else np.nan,
        "Fraction with no link": degree_fractions(binned, threshold).fraction_none,
        f"Fraction > {threshold} connected QTLs": degree_fractions(
            connected, threshold
        ).fraction_over,
        f"Fraction > {threshold} QTL bins": degree_fractions(binned, threshold).fraction_over,
    }
    for kind, fit in fits.items():
        rows.update(_fit_rows(kind, fit))
    return rows


def _fit_rows(kind: str, fit: DegreeFit) -> dict[str, float]:
    rows = {
        f"alpha ({kind})": fit.alpha,
        f"xmin ({kind})": fit.xmin,
        f"KS D ({kind})": fit.ks_distance,
        f"n tail ({kind})": fit.n_tail,
    }
    for name, comparison in fit.comparisons.items():
        rows[f"LR vs {name} ({kind})"] = comparison.ratio
        rows[f"p vs {name} ({kind})"] = comparison.p
    return rows


def summary_table(columns: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Side-by-side table: one column per graph label, rows in first-seen order."""
    table = pd.DataFrame(columns)
    table.index.name = "statistic"
    return table


def summary_markdown(table: pd.DataFrame) -> str:
    """The summary table as a Markdown table (counts as integers, the rest to 3-4 digits)."""
    header = "| statistic | " + " | ".join(map(str, table.columns)) + " |"
    lines = [header, "|---" * (len(table.columns) + 1) + "|"]
    for label, row in table.iterrows():
        lines.append(f"| {label} | " + " | ".join(_format_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _format_cell(value) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if float(value) == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.4g}"
