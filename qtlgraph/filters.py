"""Filtering canonical QTL rows into (source bin, target bin) links, every drop counted.

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
   the same edge type; counted by :class:`qtlgraph.link_stats.EdgeStats` across chunks.

Steps 1-2 and the string parsing, chromosome names and row hash of the rows that pass
them are polars expressions (:func:`row_status`, :func:`passed_rows`), so that they run
inside polars, in parallel, before any row reaches Python; steps 3-7 are NumPy over the
passed rows (:func:`bin_rows`). :func:`filter_chunk` applies them to one chunk;
:mod:`qtlgraph.qtl_stream` to a whole text table in one streaming pass.

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
PASSED, MISSING, ABOVE = 0, 1, 2  # values of :func:`row_status`
_MIX = 0x9E3779B97F4A7C15  # odd 64-bit multiplier of :func:`_row_hash`


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


def _stat_masks(provides: frozenset, options: FilterOptions) -> tuple[pl.Expr, pl.Expr]:
    """``(bad, passed)``: a statistic no test can produce; the threshold met by a valid row.

    Bad: a null, NaN or infinite statistic, a p-value / FDR outside [0, 1], a NaN,
    infinite or negative SE (SE is optional: null is not bad). One comparison pair stands
    in for the NaN and infinity checks: polars orders NaN above every number, so NaN and
    +inf fail ``<= 1`` and ``< inf``, -inf fails ``>= 0``.
    """
    ok = [(pl.col(c) >= 0) & (pl.col(c) <= 1) for c in ("pvalue", "fdr") if c in provides]
    if "beta" in provides:
        ok.append(pl.col("beta").is_finite())
    se = pl.col("se")
    ok.append(((se >= 0) & (se < float("inf"))).fill_null(True))
    bad = ~pl.all_horizontal(ok).fill_null(False)
    if options.pvalue is not None:
        keep = pl.col("pvalue") < options.pvalue
    else:
        keep = pl.col("fdr") < options.fdr
    return bad, ~bad & keep.fill_null(False)


def row_status(provides: frozenset, options: FilterOptions) -> pl.Expr:
    """Int8 per row: :data:`PASSED`, :data:`MISSING` (missing_value) or :data:`ABOVE`."""
    bad, passed = _stat_masks(provides, options)
    return (
        pl.when(bad).then(MISSING).when(passed).then(PASSED).otherwise(ABOVE).cast(pl.Int8)
    ).alias("status")


def passed_rows(frame: pl.LazyFrame, provides: frozenset, options: FilterOptions) -> pl.LazyFrame:
    """The rows that pass steps 1-2, parsed into what :func:`bin_rows` needs.

    Columns: ``bad_position`` (bool), ``snp_chrom``/``target_chrom`` (Categorical),
    ``snp_pos, target_start, target_end`` (Int64, null as 0), ``pvalue`` (the FDR where
    there is none), ``abs_beta`` (Float32) and ``row_hash`` (UInt64 over the canonical
    columns). The filter is pushed below the layout's string parsing.
    """
    col = pl.col
    bad_position = (
        pl.any_horizontal([col(c).is_null() for c in _POSITIONS])
        | (col("snp_pos") < 0).fill_null(False)
        | (col("target_start") < 0).fill_null(False)
        | (col("target_end") < col("target_start")).fill_null(False)
    )
    return frame.filter(_stat_masks(provides, options)[1]).select(
        bad_position.alias("bad_position"),
        col("snp_chrom").cast(pl.Categorical),
        col("target_chrom").cast(pl.Categorical),
        *(col(c).fill_null(0) for c in ("snp_pos", "target_start", "target_end")),
        pl.coalesce("pvalue", "fdr").alias("pvalue"),
        col("beta").abs().cast(pl.Float32).alias("abs_beta"),
        _row_hash().alias("row_hash"),
    )


def _row_hash() -> pl.Expr:
    """UInt64 over every canonical column: equal rows, equal hashes.

    Column hashes folded by multiply-xor (integer arithmetic wraps in polars); cheaper
    than hashing a struct of the columns, which encodes each row first.
    """
    out = pl.lit(0, pl.UInt64)
    for seed, name in enumerate(CANONICAL):
        out = (out * pl.lit(_MIX, pl.UInt64)) ^ pl.col(name).hash(seed=seed)
    return out


def status_counts(status: pl.Series) -> dict[str, int]:
    """``missing_value`` and ``above_threshold`` counts of a :func:`row_status` column."""
    n = np.bincount(status.to_numpy(), minlength=3)
    return {"missing_value": int(n[MISSING]), "above_threshold": int(n[ABOVE])}


def chrom_codes(names: pl.Series, index: BinIndex) -> np.ndarray:
    """Genome index of each chromosome name (any ``chr`` style), -1 where unknown or null.

    ``names`` is String or Categorical; each distinct name is canonicalised once.
    """
    lookup = {c: i for i, c in enumerate(index.chroms)}
    if names.dtype == pl.Categorical:
        return _category_codes(names, lookup)
    mapping = {u: lookup.get(canonical_chrom(u), -1) for u in names.drop_nulls().unique()}
    codes = names.replace_strict(mapping, default=-1, return_dtype=pl.Int64)
    return codes.fill_null(-1).to_numpy()


def _category_codes(names: pl.Series, lookup: dict[str, int]) -> np.ndarray:
    """:func:`chrom_codes` of a Categorical: one name per distinct integer id, no sort."""
    ids = names.to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
    if not len(ids):
        return ids
    first = np.full(int(ids.max()) + 2, -1, np.int64)  # the last slot stands for null
    first[ids[::-1]] = np.arange(len(ids) - 1, -1, -1)  # first row of each id
    present = np.flatnonzero(first[:-1] >= 0)
    table = np.full(len(first), -1, np.int64)
    named = names.gather(first[present]).cast(pl.Utf8)
    table[present] = [lookup.get(canonical_chrom(u), -1) for u in named]
    return table[ids]


def _step(alive: np.ndarray, mask: np.ndarray, reason: str, counts: dict) -> np.ndarray:
    """Count the still-alive rows that ``mask`` drops; return the rows left alive."""
    counts[reason] = int(np.count_nonzero(mask & alive))
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


def bin_rows(df: pl.DataFrame, index: BinIndex, options: FilterOptions) -> Links:
    """Steps 3-7 on rows from :func:`passed_rows`; the links and their drop counts.

    ``Links.rows`` is the number of rows given.
    """
    counts: dict[str, int] = {}
    alive = _step(np.ones(df.height, bool), df["bad_position"].to_numpy(), "bad_position", counts)
    arrays = {
        "scode": chrom_codes(df["snp_chrom"], index),
        "tcode": chrom_codes(df["target_chrom"], index),
        "pos": df["snp_pos"].to_numpy(),
        "ts": df["target_start"].to_numpy(),
        "te": df["target_end"].to_numpy(),
    }
    alive = _step(alive, (arrays["scode"] < 0) | (arrays["tcode"] < 0), "unknown_chrom", counts)
    arrays["sbin"] = index.bin_of(arrays["scode"], arrays["pos"], one_based=True)
    arrays["tbin"], arrays["span"] = _targets(arrays, index, options.target_mode)
    alive = _step(alive, (arrays["sbin"] < 0) | (arrays["tbin"] < 0), "off_chrom_end", counts)
    alive = _step(alive, arrays["scode"] != arrays["tcode"], "other_chrom", counts)
    arrays["dist"] = (arrays["ts"] + arrays["te"] - 1) // 2 + 1 - arrays["pos"]
    alive = _step(alive, np.abs(arrays["dist"]) > options.max_distance, "too_far", counts)
    for key in ("pvalue", "abs_beta", "row_hash"):
        arrays[key] = df[key].to_numpy()
    if not alive.all():
        arrays = {k: v[alive] for k, v in arrays.items()}
    return Links(_link_frame(arrays), df.height, counts)


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
    status, passed = pl.collect_all(
        [frame.select(row_status(provides, options)), passed_rows(frame, provides, options)],
        optimizations=pl.QueryOptFlags(comm_subplan_elim=False),  # parse passed rows only
    )
    links = bin_rows(passed, index, options)
    counts = status_counts(status["status"]) | links.counts
    return Links(links.frame, status.height if rows is None else rows, counts)


def _link_frame(arrays: dict) -> pl.DataFrame:
    span, target = arrays["span"], arrays["tbin"]
    columns = {k: arrays[k] for k in ("sbin", "pvalue", "abs_beta", "dist", "row_hash")}
    if (span > 1).any():
        rep = np.repeat(np.arange(len(span)), span)
        within = np.arange(len(rep)) - np.repeat(np.cumsum(span) - span, span)
        target = target[rep] + within
        columns = {k: v[rep] for k, v in columns.items()}
    return pl.DataFrame(
        {
            "source_bin": columns["sbin"],
            "target_bin": target,
            "pvalue": columns["pvalue"],
            "abs_beta": columns["abs_beta"],
            "distance": columns["dist"],
            "row_hash": columns["row_hash"],
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
