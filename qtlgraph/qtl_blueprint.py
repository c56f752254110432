"""BLUEPRINT QTL tables: the original space-separated files and the reformatted ones.

- ``blueprint``: ``chr:pos_ref_alt`` gives the SNP; the peak ``chr:start:end`` is taken as
  a BED interval ``[start, end)``; ``fdr`` = the FDR column.
- ``blueprint-reformatted``: ``CHR BP`` give the SNP, ``PHENOTYPEID`` the peak as above,
  ``fdr`` = ``LFDR``; there are no p-values (``pvalue`` null).
"""

from __future__ import annotations

import polars as pl

from qtlgraph.qtl_layout import Context, F, Layout, as_int, finish, fixed, peak_target, split_field


def _blueprint(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    return finish(
        lf,
        snp_chrom=split_field("snp", ":", 0, 1),
        snp_pos=as_int(
            split_field("snp", ":", 1, 1).str.split_exact("_", 1).struct.field("field_0")
        ),
        **peak_target("phenotype"),
        pvalue=pl.col("pvalue"),
        fdr=pl.col("fdr"),
        beta=pl.col("beta"),
        se=pl.col("se"),
        variant_id=pl.col("snp"),
        phenotype_id=pl.col("phenotype"),
    )


def _blueprint_reformatted(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    return finish(
        lf,
        snp_chrom=pl.col("CHR").cast(pl.Utf8),
        snp_pos=as_int(pl.col("BP")),
        **peak_target("PHENOTYPEID"),
        fdr=pl.col("LFDR"),
        beta=pl.col("BETA"),
        se=pl.col("SE"),
        variant_id=pl.col("SNP"),
        phenotype_id=pl.col("PHENOTYPEID"),
    )


BLUEPRINT: dict[str, Layout] = {
    "blueprint": Layout(
        "blueprint",
        " ",
        "no",
        {9: ("snp", "rsid", "phenotype", "pvalue", "beta", "bonferroni", "fdr", "alt_af", "se")},
        {"pvalue": F, "beta": F, "fdr": F, "se": F},
        ("snp", "phenotype"),
        _blueprint,
        fixed("pvalue", "fdr", "beta"),
    ),
    "blueprint-reformatted": Layout(
        "blueprint-reformatted",
        None,
        "yes",
        {},
        {"BP": pl.Int64, "LFDR": F, "BETA": F, "SE": F},
        ("SNP", "CHR", "PHENOTYPEID"),
        _blueprint_reformatted,
        fixed("fdr", "beta"),
        "SNP",
    ),
}
# columns a layout cannot do without (the others it reads when present)
BLUEPRINT_REQUIRED = {
    "blueprint-reformatted": ("CHR", "BP", "PHENOTYPEID", "LFDR", "BETA"),
}
