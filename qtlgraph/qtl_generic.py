"""The ``generic`` layout: any table, given a ``--columns`` mapping of canonical keys
(:data:`GENERIC_KEYS`) to the file's columns.
"""

from __future__ import annotations

import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.qtl_layout import Context, F, Layout, finish, join_phenotypes, point_target

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
        exprs.update(point_target(tchrom, col["target_mid"].floor()))
    elif "target_start" in col:
        exprs.update(
            target_chrom=tchrom,
            target_start=col["target_start"].floor(),
            target_end=col.get("target_end", col["target_start"] + 1).floor(),
        )
    else:
        lf, target = join_phenotypes(lf, ctx, m["phenotype_id"])
        exprs.update(target)
    return finish(lf, **exprs)


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
