"""Filtering canonical QTL chunks into (source bin, target bin) links, every drop counted.

Steps, in order, each counted under its reason in :data:`REASONS`:

1. ``missing_value``: NaN, empty or impossible p-value, FDR or beta (those the layout
   has): infinite, or a p-value / FDR outside [0, 1]; also a given SE that is NaN,
   infinite or negative;
2. ``above_threshold``: FDR (or q-value) ``>= fdr``, or p-value ``>= pvalue`` when a
   p-value threshold is given instead;
3. ``bad_position``: SNP or target position missing, unparseable or impossible (a
   negative SNP position or target start, a target end before its start; also a
   phenotype absent from the ``--phenotypes`` file);
4. ``unknown_chrom``: a chromosome the genome does not have (``chr`` prefixes are
   canonicalised first, so ``1`` and ``chr1`` are the same);
5. ``off_chrom_end``: a SNP or target midpoint outside its chromosome (many of these mean
   the table is on another build; :func:`qtlgraph.graph.build_graph` warns);
6. ``other_chrom``: SNP and target on different chromosomes;
7. ``too_far``: ``|target midpoint - SNP| > max_distance``;
8. ``duplicate``: an exact duplicate row (same canonical columns) of an earlier kept row of
   the same edge type; counted by :func:`qtlgraph.graph.build_graph` across chunks.

The target midpoint of ``[start, end)`` is the 0-based coordinate ``(start + end - 1) // 2``
(a TSS ``[tss - 1, tss)`` is its own midpoint); distances are 1-based midpoint minus SNP.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, canonical_chrom
from qtlgraph.qtl_formats import CANONICAL

REASONS = (
    "missing_value",
    "above_threshold",
    "bad_position",
    "unknown_chrom",
    "off_chrom_end",
    "other_chrom",
    "too_far",
    "duplicate",
)
TARGET_MODES = ("midpoint", "overlap")
_POSITIONS = ["snp_chrom", "snp_pos", "target_chrom", "target_start", "target_end"]


class FilterOptions(NamedTuple):
    """Which QTL rows become links.

    Args:
        fdr: keep rows with FDR (q-value) below this (used when ``pvalue`` is None).
        pvalue: keep rows with p-value below this instead of the FDR threshold.
        max_distance: largest ``|target midpoint - SNP|`` in bp.
        target_mode: ``midpoint`` (the bin of the target midpoint) or ``overlap`` (every bin
            the target interval overlaps).
    """

    fdr: float | None = 0.05
    pvalue: float | None = None
    max_distance: int = 1_000_000
    target_mode: str = "midpoint"


class Links(NamedTuple):
    """Kept links of one chunk and the rows dropped per reason.

    ``frame`` columns: ``source_bin, target_bin`` (Int64), ``pvalue`` (Float64; the FDR
    where a layout has no p-values), ``abs_beta`` (Float32), ``distance`` (Int64),
    ``row_hash`` (UInt64, for duplicate detection). In ``overlap`` mode a row gives one
    link per overlapped target bin.
    """

    frame: pl.DataFrame
    rows: int
    counts: dict[str, int]


def check_options(options: FilterOptions, provides: frozenset, where: str) -> None:
    """Refuse options that cannot apply to a table with these statistics."""
    if options.target_mode not in TARGET_MODES:
        raise InputError(
            f"--target-mode {options.target_mode}: expected one of {', '.join(TARGET_MODES)}"
        )
    if options.max_distance < 0:
        raise InputError(f"--max-distance must be >= 0, got {options.max_distance}")
    if options.pvalue is not None:
        if "pvalue" not in provides:
            raise InputError(f"{where}: this layout has no p-values; use --fdr instead")
        if not 0 < options.pvalue <= 1:
            raise InputError(f"--pvalue must be in (0, 1], got {options.pvalue}")
        return
    if options.fdr is None or not 0 < options.fdr <= 1:
        raise InputError(f"--fdr must be in (0, 1], got {options.fdr}")
    if "fdr" not in provides:
        raise InputError(
            f"{where}: this layout has no FDR or q-value column; give a p-value "
            "threshold with --pvalue (e.g. --pvalue 1e-5)"
        )


def _invalid(column: str) -> pl.Expr:
    """A statistic no test can produce.

    Infinite values, a p-value / FDR outside [0, 1], a NaN or negative SE (SE is
    optional: null is not invalid).
    """
    col = pl.col(column)
    if column in ("pvalue", "fdr"):
        return col.is_infinite() | (col < 0) | (col > 1)
    if column == "se":
        return col.is_not_null() & (col.is_nan() | col.is_infinite() | (col < 0))
    return col.is_infinite()


def _stat_masks(provides: frozenset, options: FilterOptions) -> tuple[pl.Expr, pl.Expr]:
    stats = [c for c in ("pvalue", "fdr", "beta") if c in provides]
    checks = [pl.col(c).is_null() | pl.col(c).is_nan() | _invalid(c) for c in stats]
    bad = pl.any_horizontal([*checks, _invalid("se").fill_null(False)])
    if options.pvalue is not None:
        keep = pl.col("pvalue") < options.pvalue
    else:
        keep = pl.col("fdr") < options.fdr
    return bad, keep


def chrom_codes(names: pl.Series, index: BinIndex) -> np.ndarray:
    """Genome index of each chromosome name (any ``chr`` style), -1 where unknown."""
    lookup = {c: i for i, c in enumerate(index.chroms)}
    mapping = {u: lookup.get(canonical_chrom(u), -1) for u in names.unique().to_list()}
    return names.replace_strict(mapping, default=-1, return_dtype=pl.Int64).to_numpy()


def _step(alive: np.ndarray, mask: np.ndarray, reason: str, counts: dict) -> np.ndarray:
    """Count the still-alive rows that ``mask`` drops; return the rows left alive."""
    counts[reason] = int((mask & alive).sum())
    return alive & ~mask


def _targets(arrays: dict, index: BinIndex, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Target bins and, in overlap mode, how many bins each row spans."""
    code, ts, te = arrays["tcode"], arrays["ts"], arrays["te"]
    if mode == "midpoint":
        return index.bin_of(code, (ts + te - 1) // 2, one_based=False), np.ones(len(ts), np.int64)
    lengths = np.asarray(index.genome.lengths, np.int64)[np.maximum(code, 0)]
    first = index.bin_of(code, np.clip(ts, 0, None), one_based=False)
    last = index.bin_of(code, np.clip(np.minimum(te, lengths) - 1, 0, None), one_based=False)
    last = np.where((last < first) | (first < 0), first, last)
    return first, last - first + 1


def filter_chunk(
    frame: pl.LazyFrame,
    index: BinIndex,
    options: FilterOptions,
    provides: frozenset,
    rows: int | None = None,
) -> Links:
    """Apply the filters to one canonical chunk and bin what is left.

    Args:
        frame: canonical QTL columns (lazy, so the threshold runs before string parsing).
        index: the genome's bins.
        options: thresholds, distance and target mode.
        provides: which statistics the layout has (``pvalue``, ``fdr``, ``beta``).
        rows: rows in the chunk, when known.

    Returns:
        Links with per-reason counts (``duplicate`` is left to the caller).
    """
    bad, keep = _stat_masks(provides, options)
    tally = frame.select(
        pl.len().alias("n"), bad.sum().alias("bad"), (~bad & ~keep).sum().alias("above")
    ).collect()
    counts = {"missing_value": int(tally["bad"][0]), "above_threshold": int(tally["above"][0])}
    df = frame.filter(~bad & keep).collect()
    missing = df.select(
        pl.any_horizontal([pl.col(c).is_null() for c in _POSITIONS])
        | (pl.col("snp_pos") < 0).fill_null(False)
        | (pl.col("target_start") < 0).fill_null(False)
        | (pl.col("target_end") < pl.col("target_start")).fill_null(False)
    )
    alive = _step(np.ones(df.height, bool), missing.to_series().to_numpy(), "bad_position", counts)
    arrays = {
        "scode": chrom_codes(df["snp_chrom"].fill_null(""), index),
        "tcode": chrom_codes(df["target_chrom"].fill_null(""), index),
    }
    for key, col in (("pos", "snp_pos"), ("ts", "target_start"), ("te", "target_end")):
        arrays[key] = df[col].fill_null(0).to_numpy()
    alive = _step(alive, (arrays["scode"] < 0) | (arrays["tcode"] < 0), "unknown_chrom", counts)
    arrays["sbin"] = index.bin_of(arrays["scode"], arrays["pos"], one_based=True)
    arrays["tbin"], arrays["span"] = _targets(arrays, index, options.target_mode)
    alive = _step(alive, (arrays["sbin"] < 0) | (arrays["tbin"] < 0), "off_chrom_end", counts)
    alive = _step(alive, arrays["scode"] != arrays["tcode"], "other_chrom", counts)
    arrays["dist"] = (arrays["ts"] + arrays["te"] - 1) // 2 + 1 - arrays["pos"]
    alive = _step(alive, np.abs(arrays["dist"]) > options.max_distance, "too_far", counts)
    if not alive.all():
        df = df.filter(pl.Series(alive))
        arrays = {k: v[alive] for k, v in arrays.items()}
    return Links(_link_frame(df, arrays), int(tally["n"][0]) if rows is None else rows, counts)


def _link_frame(df: pl.DataFrame, arrays: dict) -> pl.DataFrame:
    span, dist = arrays["span"], arrays["dist"]
    p = df.select(pl.coalesce("pvalue", "fdr")).to_series().to_numpy()
    beta = df["beta"].abs().cast(pl.Float32).to_numpy()
    row_hash = df.select(CANONICAL).hash_rows(seed=0).to_numpy()
    target = arrays["tbin"]
    if (span > 1).any():
        rep = np.repeat(np.arange(len(span)), span)
        within = np.arange(len(rep)) - np.repeat(np.cumsum(span) - span, span)
        target = target[rep] + within
        p, beta, dist, row_hash = p[rep], beta[rep], dist[rep], row_hash[rep]
        arrays = arrays | {"sbin": arrays["sbin"][rep]}
    return pl.DataFrame(
        {
            "source_bin": arrays["sbin"],
            "target_bin": target,
            "pvalue": p,
            "abs_beta": beta,
            "distance": dist,
            "row_hash": row_hash,
        },
        schema={
            "source_bin": pl.Int64,
            "target_bin": pl.Int64,
            "pvalue": pl.Float64,
            "abs_beta": pl.Float32,
            "distance": pl.Int64,
            "row_hash": pl.UInt64,
        },
    )
