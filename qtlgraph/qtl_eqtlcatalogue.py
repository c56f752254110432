"""eQTL Catalogue summary statistics, permuted and nominal.

The target comes from ``--phenotypes`` (the phenotype metadata, ``phenotype_pos`` = TSS);
permuted files use ``p_beta`` as the FDR equivalent, nominal files have none.
"""

from __future__ import annotations

import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.qtl_layout import Context, F, Layout, finish, join_phenotypes, provides_with


def _eqtlcatalogue(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if ctx.phenotypes is None:
        raise InputError(
            f"{ctx.path}: eQTL Catalogue tables need --phenotypes "
            "(the phenotype metadata file with phenotype_pos = TSS)"
        )
    lf, target = join_phenotypes(lf, ctx, "molecular_trait_id")
    extra = {"fdr": pl.col("p_beta")} if "p_beta" in ctx.present else {}
    if "se" in ctx.present:
        extra["se"] = pl.col("se")
    return finish(
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


EQTLCATALOGUE: dict[str, Layout] = {
    "eqtlcatalogue": Layout(
        "eqtlcatalogue",
        "\t",
        "yes",
        {},
        {"position": pl.Int64, "pvalue": F, "beta": F, "se": F, "p_beta": F},
        ("molecular_trait_id", "chromosome", "variant"),
        _eqtlcatalogue,
        provides_with("p_beta"),
        "molecular_trait_id",
    ),
}
# columns a layout cannot do without (the others it reads when present)
EQTLCATALOGUE_REQUIRED = {
    "eqtlcatalogue": ("molecular_trait_id", "chromosome", "position", "variant", "pvalue", "beta"),
}
