"""The canonical QTL table and the pieces every QTL layout is built from.

A :class:`Layout` says how a file looks (separator, header, column names) and how its
columns become the canonical columns (``docs/architecture.md``): ``snp_chrom, snp_pos``
(1-based), ``target_chrom, target_start, target_end`` (0-based half-open), ``pvalue, fdr,
beta, se, variant_id, phenotype_id``. The mapping is a polars expression over a lazy
frame, so a threshold on ``pvalue``/``fdr`` is pushed down before any string parsing.
The helpers build those expressions; the layouts themselves are one module per format
family, gathered in :mod:`qtlgraph.qtl_formats`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import polars as pl

CANONICAL = (
    "snp_chrom",
    "snp_pos",
    "target_chrom",
    "target_start",
    "target_end",
    "pvalue",
    "fdr",
    "beta",
    "se",
    "variant_id",
    "phenotype_id",
)
DTYPES = {
    "snp_chrom": pl.Utf8,
    "snp_pos": pl.Int64,
    "target_chrom": pl.Utf8,
    "target_start": pl.Int64,
    "target_end": pl.Int64,
    "pvalue": pl.Float64,
    "fdr": pl.Float64,
    "beta": pl.Float64,
    "se": pl.Float64,
    "variant_id": pl.Utf8,
    "phenotype_id": pl.Utf8,
}
STATS = ("pvalue", "fdr", "beta", "se")
F = pl.Float64


class Context(NamedTuple):
    """What a layout's mapping may need beyond the file's own columns."""

    path: str
    present: frozenset  # column names in the file
    phenotypes: pl.DataFrame | None  # phenotype_id, target_chrom, target_start, target_end
    columns: dict | None  # generic: canonical key -> file column


class Layout(NamedTuple):
    """How one QTL table layout looks and maps onto the canonical table.

    Args:
        name: the ``--format`` name.
        sep: field separator; ``None`` = tab when the first line has one, else space.
        header: ``"yes"``, ``"no"`` or ``"optional"`` (a header starts with ``header_token``).
        names: column names by number of columns, for files without a header.
        numeric: columns read as Float64 or Int64 (others read are text).
        text: columns read as text.
        canonical: ``(lazy frame, Context) -> lazy frame`` of the canonical columns.
        provides: which of ``pvalue``, ``fdr``, ``beta`` the layout has
            (a function of the file's columns).
        header_token: first field of a header line.
    """

    name: str
    sep: str | None
    header: str
    names: dict[int, tuple[str, ...]]
    numeric: dict[str, type]
    text: tuple[str, ...]
    canonical: Callable[[pl.LazyFrame, Context], pl.LazyFrame]
    provides: Callable[[frozenset], frozenset]
    header_token: str = ""


def split_field(col: str, sep: str, i: int, n: int) -> pl.Expr:
    return pl.col(col).str.split_exact(sep, n).struct.field(f"field_{i}")


def as_int(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Int64, strict=False)


def finish(lf: pl.LazyFrame, **exprs: pl.Expr) -> pl.LazyFrame:
    """Select every canonical column, in order, with its dtype; absent ones null.

    Statistics columns are read as Float64 already and stay plain renames (no cast), so
    that a threshold on them is pushed down before the string parsing of the others.
    """

    def one(c: str) -> pl.Expr:
        if c not in exprs:
            return pl.lit(None, DTYPES[c]).alias(c)
        if c in STATS:
            return exprs[c].alias(c)
        return exprs[c].cast(DTYPES[c], strict=False).alias(c)

    return lf.select([one(c) for c in CANONICAL])


def point_target(chrom: pl.Expr, pos: pl.Expr) -> dict[str, pl.Expr]:
    """A 1-based position as the 0-based interval ``[pos - 1, pos)``."""
    return {"target_chrom": chrom, "target_start": pos - 1, "target_end": pos}


def peak_target(col: str) -> dict[str, pl.Expr]:
    return {
        "target_chrom": split_field(col, ":", 0, 2),
        "target_start": as_int(split_field(col, ":", 1, 2)),
        "target_end": as_int(split_field(col, ":", 2, 2)),
    }


def variant_snp(col: str) -> dict[str, pl.Expr]:
    """SNP chrom/pos from ``chr1_123_A_G_b38`` or ``chr1:123:A:G`` style ids."""
    norm = pl.col(col).str.replace_all(":", "_", literal=True)
    parts = norm.str.split_exact("_", 2)
    return {
        "snp_chrom": parts.struct.field("field_0"),
        "snp_pos": as_int(parts.struct.field("field_1")),
    }


def join_phenotypes(lf: pl.LazyFrame, ctx: Context, key: str) -> tuple[pl.LazyFrame, dict]:
    ph = ctx.phenotypes.lazy().rename(
        {
            "phenotype_id": "__ph",
            "target_chrom": "__tc",
            "target_start": "__ts",
            "target_end": "__te",
        }
    )
    lf = lf.join(
        ph, left_on=pl.col(key).cast(pl.Utf8), right_on="__ph", how="left", maintain_order="left"
    )
    return lf, {
        "target_chrom": pl.col("__tc"),
        "target_start": pl.col("__ts"),
        "target_end": pl.col("__te"),
    }


def tss_target(chrom: str, start: str, end: str, strand: str) -> dict[str, pl.Expr]:
    tss = pl.when(pl.col(strand) == "-").then(pl.col(end)).otherwise(pl.col(start))
    return point_target(pl.col(chrom), tss)


def fixed(*cols: str) -> Callable[[frozenset], frozenset]:
    return lambda present: frozenset(cols)


def provides_with(fdr_col: str) -> Callable[[frozenset], frozenset]:
    return lambda present: frozenset(
        {"pvalue", "beta"} | ({"fdr"} if fdr_col in present else set())
    )
