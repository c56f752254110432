"""Degree analysis of several graph directories at once, written as one output directory.

Layout of ``OUT`` (``qtlgraph degrees``)::

    summary.tsv, summary.md          one column per graph (and per graph:type with per_type)
    <graph>/histogram.tsv            links, connected, binned (regions with exactly `links`)
    <graph>/histogram.png            top: connected QTLs per region, bottom: binned; log counts
    <graph>/powerlaw.tsv, .json      one fit per degree kind (connected, binned)
    <graph>/hubs.bed                 BED6 of hub regions, score = degree
    <graph>/<type>/...               the same per edge type (per_type=True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from qtlgraph.analysis import degrees as dg
from qtlgraph.analysis.plots import degree_histogram_figure
from qtlgraph.analysis.powerlaw_fit import ALTERNATIVES, DegreeFit, fit_power_law, fit_record
from qtlgraph.errors import InputError
from qtlgraph.outputs import staged_dir
from qtlgraph.runtime import write_json


class DegreeReport(NamedTuple):
    """What :func:`analyse_degrees` wrote: the summary table and every fit by column label."""

    out: Path
    summary: pd.DataFrame
    fits: dict[str, dict[str, DegreeFit]]


class HubRule(NamedTuple):
    """Which degree defines a hub and the cut: ``> threshold``, or ``> quantile`` of non-zero."""

    column: str = "binned"
    threshold: int = dg.HUB_THRESHOLD
    quantile: float | None = None


def _labels(tables: Sequence[dg.DegreeTable]) -> list[str]:
    labels: list[str] = []
    for table in tables:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", table.name).strip("._") or "graph"
        label, i = base, 2
        while label in labels:
            label, i = f"{base}_{i}", i + 1
        labels.append(label)
    return labels


def _analyse_one(
    frame: pd.DataFrame,
    edge_type: str | None,
    folder: Path,
    title: str,
    hubs: HubRule,
    xmin_range: tuple[int, int],
    alternatives: tuple[str, ...],
) -> dict[str, DegreeFit]:
    folder.mkdir(parents=True, exist_ok=True)
    histogram = dg.histogram_table(frame, edge_type)
    histogram.to_csv(folder / "histogram.tsv", sep="\t", index=False)
    degree_histogram_figure(histogram, folder / "histogram.png", title)
    columns = dict(zip(("connected", "binned"), dg.degree_columns(edge_type)))
    fits = {
        kind: fit_power_law(frame[col].to_numpy(), xmin_range, alternatives)
        for kind, col in columns.items()
    }
    records = pd.DataFrame([{"degree": kind, **fit_record(fit)} for kind, fit in fits.items()])
    records.to_csv(folder / "powerlaw.tsv", sep="\t", index=False, na_rep="NA")
    write_json(folder / "powerlaw.json", {kind: _json_record(fit) for kind, fit in fits.items()})
    hub_col = columns[hubs.column]
    cut = dg.hub_threshold(frame[hub_col].to_numpy(), hubs.threshold, hubs.quantile)
    dg.hub_regions(frame, hub_col, cut).to_csv(
        folder / "hubs.bed", sep="\t", index=False, header=False
    )
    return fits


def _json_record(fit: DegreeFit) -> dict:
    record = fit_record(fit)
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()}


def analyse_degrees(
    graph_dirs: Sequence[str | Path],
    out: str | Path,
    force: bool = False,
    per_type: bool = False,
    hubs: HubRule = HubRule(),
    xmin_range: tuple[int, int] = (1, 100),
    alternatives: tuple[str, ...] = ALTERNATIVES,
    progress: bool = True,
) -> DegreeReport:
    """Histograms, fractions, power-law fits and hubs for each graph, and a summary across them.

    Args:
        graph_dirs: graph directories (``qtlgraph build`` output); all are read and checked
            before anything is written.
        out: output directory, refused when non-empty unless ``force``.
        force: replace a non-empty ``out``.
        per_type: also analyse each edge type of graphs that have several.
        hubs: the hub rule (degree kind and cut).
        xmin_range: the range searched for the power law's ``xmin``.
        alternatives: distributions compared with the power law (``powerlaw`` names); the
            discrete truncated power law is the slow one (seconds per fit).
        progress: show a progress bar on stderr.

    Returns:
        A :class:`DegreeReport`.
    """
    from tqdm import tqdm

    if not graph_dirs:
        raise InputError("no graph directory given")
    if hubs.column not in ("connected", "binned"):
        raise InputError(f"hub column {hubs.column!r}: expected 'connected' or 'binned'")
    unknown = sorted(set(alternatives) - set(ALTERNATIVES))
    if unknown:
        raise InputError(f"alternative {unknown[0]!r}: expected one of {', '.join(ALTERNATIVES)}")
    tables = [dg.read_degrees(d) for d in graph_dirs]
    jobs = [
        (label, t, kind)
        for label, t in zip(_labels(tables), tables)
        for kind in (None, *(t.edge_types if per_type else ()))
    ]
    columns, all_fits = {}, {}
    with staged_dir(out, force) as tmp:
        for label, table, edge_type in tqdm(
            jobs, desc="degrees", unit="graph", disable=not progress
        ):
            column = label if edge_type is None else f"{label}:{edge_type}"
            folder = tmp / label if edge_type is None else tmp / label / edge_type
            fits = _analyse_one(
                table.frame,
                edge_type,
                folder,
                f"{table.name} {edge_type or 'all edges'}",
                hubs,
                xmin_range,
                tuple(alternatives),
            )
            all_fits[column] = fits
            columns[column] = dg.summary_column(table.frame, fits, edge_type)
        summary = dg.summary_table(columns)
        summary.to_csv(tmp / "summary.tsv", sep="\t", na_rep="NA")
        (tmp / "summary.md").write_text(dg.summary_markdown(summary))
    return DegreeReport(Path(out), summary, all_fits)
