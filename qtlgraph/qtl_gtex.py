"""tensorQTL and GTEx tables (text or, for tensorQTL, parquet).

- ``tensorqtl``: SNP parsed from ``variant_id`` (``chr1_123_A_G_b38`` or ``chr1:123:A:G``);
  target from ``--phenotypes`` or else the TSS ``pos - start_distance``; no FDR.
- ``gtex-egenes``: target = TSS (``gene_start`` on +, ``gene_end`` on -); ``fdr`` = ``qval``.
- ``gtex-pairs``: target from the gene columns when present, else ``--phenotypes``, else
  the TSS ``variant_pos - tss_distance``; no FDR (``qval`` used where present).
"""

from __future__ import annotations

import polars as pl

from qtlgraph.qtl_layout import (
    Context,
    F,
    Layout,
    finish,
    fixed,
    join_phenotypes,
    point_target,
    provides_with,
    tss_target,
    variant_snp,
)


def _from_distance(ctx: Context, key: str, dist: str, end_dist: str | None = None) -> dict:
    pos = variant_snp("variant_id")["snp_pos"]
    tss = pos - pl.col(dist)
    out = point_target(variant_snp("variant_id")["snp_chrom"], tss)
    if end_dist and end_dist in ctx.present:
        out["target_end"] = pos - pl.col(end_dist)
    return out


def _tensorqtl(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if ctx.phenotypes is not None:
        lf, target = join_phenotypes(lf, ctx, "phenotype_id")
    else:
        target = _from_distance(ctx, "phenotype_id", "start_distance", "end_distance")
    return finish(
        lf,
        **variant_snp("variant_id"),
        **target,
        pvalue=pl.col("pval_nominal"),
        beta=pl.col("slope"),
        se=pl.col("slope_se"),
        variant_id=pl.col("variant_id"),
        phenotype_id=pl.col("phenotype_id"),
    )


def _gtex_egenes(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if ctx.phenotypes is not None:
        lf, target = join_phenotypes(lf, ctx, "gene_id")
    else:
        target = tss_target("gene_chr", "gene_start", "gene_end", "strand")
    return finish(
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
        target = tss_target("gene_chr", "gene_start", "gene_end", "strand")
    elif ctx.phenotypes is not None:
        lf, target = join_phenotypes(lf, ctx, "gene_id")
    else:
        target = _from_distance(ctx, "gene_id", "tss_distance")
    extra = {"fdr": pl.col("qval")} if "qval" in ctx.present else {}
    return finish(
        lf,
        **variant_snp("variant_id"),
        **target,
        pvalue=pl.col("pval_nominal"),
        beta=pl.col("slope"),
        se=pl.col("slope_se"),
        variant_id=pl.col("variant_id"),
        phenotype_id=pl.col("gene_id"),
        **extra,
    )


GTEX: dict[str, Layout] = {
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
        fixed("pvalue", "beta"),
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
        fixed("pvalue", "fdr", "beta"),
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
        provides_with("qval"),
        "variant_id",
    ),
}
# columns a layout cannot do without (the others it reads when present)
GTEX_REQUIRED = {
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
}
