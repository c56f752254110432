"""The QTL table layouts qtlgraph reads, each mapped onto the canonical QTL table.

A :class:`Layout` says how a file looks (separator, header, column names) and how its
columns become the canonical columns (``docs/architecture.md``): ``snp_chrom, snp_pos``
(1-based), ``target_chrom, target_start, target_end`` (0-based half-open), ``pvalue, fdr,
beta, se, variant_id, phenotype_id``. The mapping is a polars expression over a lazy
frame, so a threshold on ``pvalue``/``fdr`` is pushed down before any string parsing.

Conventions per layout (what each column means is the layout's documented meaning):

- ``blueprint``: ``chr:pos_ref_alt`` gives the SNP; the peak ``chr:start:end`` is taken as
  a BED interval ``[start, end)``; ``fdr`` = the FDR column.
- ``blueprint-reformatted``: ``CHR BP`` give the SNP, ``PHENOTYPEID`` the peak as above,
  ``fdr`` = ``LFDR``; there are no p-values (``pvalue`` null).
- ``qtltools-nominal`` / ``qtltools-permutation``: phenotype ``[phe_from - 1, phe_to)``;
  nominal output has no FDR; permutation output uses ``adj_beta_pval`` (the
  beta-approximated permutation p-value per phenotype) as its best FDR equivalent.
- ``tensorqtl``: SNP parsed from ``variant_id`` (``chr1_123_A_G_b38`` or ``chr1:123:A:G``);
  target from ``--phenotypes`` or else the TSS ``pos - start_distance``; no FDR.
- ``gtex-egenes``: target = TSS (``gene_start`` on +, ``gene_end`` on -); ``fdr`` = ``qval``.
- ``gtex-pairs``: target from the gene columns when present, else ``--phenotypes``, else
  the TSS ``variant_pos - tss_distance``; no FDR (``qval`` used where present).
- ``eqtlcatalogue``: target from ``--phenotypes`` (metadata, ``phenotype_pos`` = TSS);
  permuted files use ``p_beta`` as the FDR equivalent, nominal files have none.
- ``generic``: a ``--columns`` mapping (see :data:`GENERIC_KEYS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import polars as pl

from qtlgraph.errors import InputError

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
_DTYPES = {
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
_STATS = ("pvalue", "fdr", "beta", "se")
GENERIC_KEYS = (
    "snp_chrom",
    "snp_pos",
    "target_chrom",
    "target_start",
    "target_end",
    "target_mid",
    "pvalue",
    "fdr",
    "beta",
    "se",
    "variant_id",
    "phenotype_id",
)
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


def _part(col: str, sep: str, i: int, n: int) -> pl.Expr:
    return pl.col(col).str.split_exact(sep, n).struct.field(f"field_{i}")


def _int(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Int64, strict=False)


def _finish(lf: pl.LazyFrame, **exprs: pl.Expr) -> pl.LazyFrame:
    """Select every canonical column, in order, with its dtype; absent ones null.

    Statistics columns are read as Float64 already and stay plain renames (no cast), so
    that a threshold on them is pushed down before the string parsing of the others.
    """

    def one(c: str) -> pl.Expr:
        if c not in exprs:
            return pl.lit(None, _DTYPES[c]).alias(c)
        if c in _STATS:
            return exprs[c].alias(c)
        return exprs[c].cast(_DTYPES[c], strict=False).alias(c)

    return lf.select([one(c) for c in CANONICAL])


def _point(chrom: pl.Expr, pos: pl.Expr) -> dict[str, pl.Expr]:
    """A 1-based position as the 0-based interval ``[pos - 1, pos)``."""
    return {"target_chrom": chrom, "target_start": pos - 1, "target_end": pos}


def _peak(col: str) -> dict[str, pl.Expr]:
    return {
        "target_chrom": _part(col, ":", 0, 2),
        "target_start": _int(_part(col, ":", 1, 2)),
        "target_end": _int(_part(col, ":", 2, 2)),
    }


def _variant(col: str) -> dict[str, pl.Expr]:
    """SNP chrom/pos from ``chr1_123_A_G_b38`` or ``chr1:123:A:G`` style ids."""
    norm = pl.col(col).str.replace_all(":", "_", literal=True)
    parts = norm.str.split_exact("_", 2)
    return {
        "snp_chrom": parts.struct.field("field_0"),
        "snp_pos": _int(parts.struct.field("field_1")),
    }


def _join_phenotypes(lf: pl.LazyFrame, ctx: Context, key: str) -> tuple[pl.LazyFrame, dict]:
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


def _tss(chrom: str, start: str, end: str, strand: str) -> dict[str, pl.Expr]:
    tss = pl.when(pl.col(strand) == "-").then(pl.col(end)).otherwise(pl.col(start))
    return _point(pl.col(chrom), tss)


def _fixed(*cols: str) -> Callable[[frozenset], frozenset]:
    return lambda present: frozenset(cols)


# --- BLUEPRINT -------------------------------------------------------------------------
def _blueprint(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    return _finish(
        lf,
        snp_chrom=_part("snp", ":", 0, 1),
        snp_pos=_int(_part("snp", ":", 1, 1).str.split_exact("_", 1).struct.field("field_0")),
        **_peak("phenotype"),
        pvalue=pl.col("pvalue"),
        fdr=pl.col("fdr"),
        beta=pl.col("beta"),
        se=pl.col("se"),
        variant_id=pl.col("snp"),
        phenotype_id=pl.col("phenotype"),
    )


def _blueprint_reformatted(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    return _finish(
        lf,
        snp_chrom=pl.col("CHR").cast(pl.Utf8),
        snp_pos=_int(pl.col("BP")),
        **_peak("PHENOTYPEID"),
        fdr=pl.col("LFDR"),
        beta=pl.col("BETA"),
        se=pl.col("SE"),
        variant_id=pl.col("SNP"),
        phenotype_id=pl.col("PHENOTYPEID"),
    )


# --- QTLtools --------------------------------------------------------------------------
_QTLTOOLS = (
    "phe_id",
    "phe_chr",
    "phe_from",
    "phe_to",
    "phe_strd",
    "n_var_in_cis",
    "dist_phe_var",
    "var_id",
    "var_chr",
    "var_from",
    "var_to",
)
_NOMINAL = _QTLTOOLS + ("nom_pval", "r_squared", "slope")
_PERMUTATION = _QTLTOOLS + (
    "dof1",
    "dof2",
    "bml1",
    "bml2",
    "nom_pval",
    "slope",
    "adj_emp_pval",
    "adj_beta_pval",
)


def _qtltools(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    se = pl.col("slope_se") if "slope_se" in ctx.present else None
    fdr = pl.col("adj_beta_pval") if "adj_beta_pval" in ctx.present else None
    extra = {k: v for k, v in (("se", se), ("fdr", fdr)) if v is not None}
    return _finish(
        lf,
        snp_chrom=pl.col("var_chr").cast(pl.Utf8),
        snp_pos=pl.col("var_from"),
        target_chrom=pl.col("phe_chr").cast(pl.Utf8),
        target_start=pl.col("phe_from") - 1,
        target_end=pl.col("phe_to"),
        pvalue=pl.col("nom_pval"),
        beta=pl.col("slope"),
        variant_id=pl.col("var_id"),
        phenotype_id=pl.col("phe_id"),
        **extra,
    )


_QT_NUM = {
    "phe_from": pl.Int64,
    "phe_to": pl.Int64,
    "var_from": pl.Int64,
    "nom_pval": F,
    "slope": F,
    "slope_se": F,
    "adj_beta_pval": F,
}
_QT_TEXT = ("phe_id", "phe_chr", "var_id", "var_chr")


# --- tensorQTL, GTEx -------------------------------------------------------------------
def _from_distance(ctx: Context, key: str, dist: str, end_dist: str | None = None) -> dict:
    pos = _variant("variant_id")["snp_pos"]
    tss = pos - pl.col(dist)
    out = _point(_variant("variant_id")["snp_chrom"], tss)
    if end_dist and end_dist in ctx.present:
        out["target_end"] = pos - pl.col(end_dist)
    return out


def _tensorqtl(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if ctx.phenotypes is not None:
        lf, target = _join_phenotypes(lf, ctx, "phenotype_id")
    else:
        target = _from_distance(ctx, "phenotype_id", "start_distance", "end_distance")
    return _finish(
        lf,
        **_variant("variant_id"),
        **target,
        pvalue=pl.col("pval_nominal"),
        beta=pl.col("slope"),
        se=pl.col("slope_se"),
        variant_id=pl.col("variant_id"),
        phenotype_id=pl.col("phenotype_id"),
    )


def _gtex_egenes(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if ctx.phenotypes is not None:
        lf, target = _join_phenotypes(lf, ctx, "gene_id")
    else:
        target = _tss("gene_chr", "gene_start", "gene_end", "strand")
    return _finish(
        lf,
        snp_chrom=pl.col("chr"),
        snp_pos=pl.col("variant_pos"),
        **target,
        pvalue=pl.col("pval_nominal"),
        fdr=pl.col("qval"),
        beta=pl.col("slope"),
        se=pl.col("slope_se"),
        variant_id=pl.col("variant_id"),
        phenotype_id=pl.col("gene_id"),
    )


def _gtex_pairs(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if {"gene_chr", "gene_start", "gene_end", "strand"} <= ctx.present:
        target = _tss("gene_chr", "gene_start", "gene_end", "strand")
    elif ctx.phenotypes is not None:
        lf, target = _join_phenotypes(lf, ctx, "gene_id")
    else:
        target = _from_distance(ctx, "gene_id", "tss_distance")
    extra = {"fdr": pl.col("qval")} if "qval" in ctx.present else {}
    return _finish(
        lf,
        **_variant("variant_id"),
        **target,
        pvalue=pl.col("pval_nominal"),
        beta=pl.col("slope"),
        se=pl.col("slope_se"),
        variant_id=pl.col("variant_id"),
        phenotype_id=pl.col("gene_id"),
        **extra,
    )


# --- eQTL Catalogue --------------------------------------------------------------------
def _eqtlcatalogue(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if ctx.phenotypes is None:
        raise InputError(
            f"{ctx.path}: eQTL Catalogue tables need --phenotypes "
            "(the phenotype metadata file with phenotype_pos = TSS)"
        )
    lf, target = _join_phenotypes(lf, ctx, "molecular_trait_id")
    extra = {"fdr": pl.col("p_beta")} if "p_beta" in ctx.present else {}
    if "se" in ctx.present:
        extra["se"] = pl.col("se")
    return _finish(
        lf,
        snp_chrom=pl.col("chromosome").cast(pl.Utf8),
        snp_pos=pl.col("position"),
        **target,
        pvalue=pl.col("pvalue"),
        beta=pl.col("beta"),
        variant_id=pl.col("variant"),
        phenotype_id=pl.col("molecular_trait_id"),
        **extra,
    )


# --- generic ---------------------------------------------------------------------------
def _generic(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    m = ctx.columns or {}
    col = {k: pl.col(v) for k, v in m.items()}
    exprs = {
        k: col[k] for k in ("pvalue", "fdr", "beta", "se", "variant_id", "phenotype_id") if k in col
    }
    exprs["snp_chrom"] = col["snp_chrom"].cast(pl.Utf8)
    exprs["snp_pos"] = col["snp_pos"].floor()
    tchrom = col.get("target_chrom", exprs["snp_chrom"]).cast(pl.Utf8)
    if "target_mid" in col:
        exprs.update(_point(tchrom, col["target_mid"].floor()))
    elif "target_start" in col:
        exprs.update(
            target_chrom=tchrom,
            target_start=col["target_start"].floor(),
            target_end=col.get("target_end", col["target_start"] + 1).floor(),
        )
    else:
        lf, target = _join_phenotypes(lf, ctx, m["phenotype_id"])
        exprs.update(target)
    return _finish(lf, **exprs)


def generic_layout(mapping: dict[str, str], path: str, has_phenotypes: bool) -> Layout:
    """The generic layout for a ``--columns`` mapping (canonical key -> file column)."""
    unknown = set(mapping) - set(GENERIC_KEYS)
    if unknown:
        raise InputError(
            f"--columns: unknown key(s) {sorted(unknown)}; expected some of "
            f"{', '.join(GENERIC_KEYS)}"
        )
    needed = {"snp_chrom", "snp_pos"} - set(mapping)
    if needed:
        raise InputError(f"--columns: missing {sorted(needed)} (needed for {path})")
    if not ({"target_mid", "target_start"} & set(mapping)) and not (
        has_phenotypes and "phenotype_id" in mapping
    ):
        raise InputError(
            "--columns: give target_mid, or target_start[,target_end], or "
            "phenotype_id with --phenotypes"
        )
    text_keys = ("snp_chrom", "target_chrom", "variant_id", "phenotype_id")
    numeric = {v: F for k, v in mapping.items() if k not in text_keys}
    text = tuple(v for k, v in mapping.items() if k in text_keys)
    stats = frozenset(k for k in ("pvalue", "fdr", "beta") if k in mapping)
    return Layout("generic", None, "yes", {}, numeric, text, _generic, lambda p: stats)


def _provides_with(fdr_col: str) -> Callable[[frozenset], frozenset]:
    return lambda present: frozenset(
        {"pvalue", "beta"} | ({"fdr"} if fdr_col in present else set())
    )


LAYOUTS: dict[str, Layout] = {
    "blueprint": Layout(
        "blueprint",
        " ",
        "no",
        {9: ("snp", "rsid", "phenotype", "pvalue", "beta", "bonferroni", "fdr", "alt_af", "se")},
        {"pvalue": F, "beta": F, "fdr": F, "se": F},
        ("snp", "phenotype"),
        _blueprint,
        _fixed("pvalue", "fdr", "beta"),
    ),
    "blueprint-reformatted": Layout(
        "blueprint-reformatted",
        None,
        "yes",
        {},
        {"BP": pl.Int64, "LFDR": F, "BETA": F, "SE": F},
        ("SNP", "CHR", "PHENOTYPEID"),
        _blueprint_reformatted,
        _fixed("fdr", "beta"),
        "SNP",
    ),
    "qtltools-nominal": Layout(
        "qtltools-nominal",
        None,
        "optional",
        {15: _NOMINAL + ("best_hit",), 16: _NOMINAL + ("slope_se", "best_hit")},
        _QT_NUM,
        _QT_TEXT,
        _qtltools,
        _fixed("pvalue", "beta"),
        "phe_id",
    ),
    "qtltools-permutation": Layout(
        "qtltools-permutation",
        None,
        "optional",
        {19: _PERMUTATION},
        _QT_NUM,
        _QT_TEXT,
        _qtltools,
        _fixed("pvalue", "fdr", "beta"),
        "phe_id",
    ),
    "tensorqtl": Layout(
        "tensorqtl",
        None,
        "yes",
        {},
        {
            "start_distance": pl.Int64,
            "end_distance": pl.Int64,
            "pval_nominal": F,
            "slope": F,
            "slope_se": F,
        },
        ("phenotype_id", "variant_id"),
        _tensorqtl,
        _fixed("pvalue", "beta"),
        "phenotype_id",
    ),
    "gtex-egenes": Layout(
        "gtex-egenes",
        "\t",
        "yes",
        {},
        {
            "gene_start": pl.Int64,
            "gene_end": pl.Int64,
            "variant_pos": pl.Int64,
            "pval_nominal": F,
            "slope": F,
            "slope_se": F,
            "qval": F,
        },
        ("gene_id", "gene_chr", "strand", "variant_id", "chr"),
        _gtex_egenes,
        _fixed("pvalue", "fdr", "beta"),
        "gene_id",
    ),
    "gtex-pairs": Layout(
        "gtex-pairs",
        "\t",
        "yes",
        {},
        {
            "gene_start": pl.Int64,
            "gene_end": pl.Int64,
            "tss_distance": pl.Int64,
            "pval_nominal": F,
            "slope": F,
            "slope_se": F,
            "qval": F,
        },
        ("gene_id", "gene_chr", "strand", "variant_id"),
        _gtex_pairs,
        _provides_with("qval"),
        "variant_id",
    ),
    "eqtlcatalogue": Layout(
        "eqtlcatalogue",
        "\t",
        "yes",
        {},
        {"position": pl.Int64, "pvalue": F, "beta": F, "se": F, "p_beta": F},
        ("molecular_trait_id", "chromosome", "variant"),
        _eqtlcatalogue,
        _provides_with("p_beta"),
        "molecular_trait_id",
    ),
}
FORMATS = ("auto",) + tuple(LAYOUTS) + ("generic",)
# columns a layout cannot do without (the others it reads when present)
REQUIRED = {
    "blueprint-reformatted": ("CHR", "BP", "PHENOTYPEID", "LFDR", "BETA"),
    "tensorqtl": ("phenotype_id", "variant_id", "pval_nominal", "slope"),
    "gtex-egenes": (
        "gene_id",
        "gene_chr",
        "gene_start",
        "gene_end",
        "strand",
        "variant_id",
        "chr",
        "variant_pos",
        "pval_nominal",
        "slope",
        "qval",
    ),
    "gtex-pairs": ("variant_id", "gene_id", "pval_nominal", "slope"),
    "eqtlcatalogue": ("molecular_trait_id", "chromosome", "position", "variant", "pvalue", "beta"),
    "qtltools-nominal": (
        "phe_id",
        "phe_chr",
        "phe_from",
        "phe_to",
        "var_chr",
        "var_from",
        "nom_pval",
        "slope",
    ),
    "qtltools-permutation": (
        "phe_id",
        "phe_chr",
        "phe_from",
        "phe_to",
        "var_chr",
        "var_from",
        "nom_pval",
        "slope",
        "adj_beta_pval",
    ),
}
