"""QTLtools cis output, nominal and permutation passes.

Phenotype ``[phe_from - 1, phe_to)``; nominal output has no FDR; permutation output uses
``adj_beta_pval`` (the beta-approximated permutation p-value per phenotype) as its best
FDR equivalent.
"""

from __future__ import annotations

import polars as pl

from qtlgraph.qtl_layout import Context, F, Layout, finish, fixed

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
    return finish(
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


QTLTOOLS: dict[str, Layout] = {
    "qtltools-nominal": Layout(
        "qtltools-nominal",
        None,
        "optional",
        {15: _NOMINAL + ("best_hit",), 16: _NOMINAL + ("slope_se", "best_hit")},
        _QT_NUM,
        _QT_TEXT,
        _qtltools,
        fixed("pvalue", "beta"),
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
        fixed("pvalue", "fdr", "beta"),
        "phe_id",
    ),
}
# columns a layout cannot do without (the others it reads when present)
QTLTOOLS_REQUIRED = {
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
