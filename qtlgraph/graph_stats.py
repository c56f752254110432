"""Per-bin degree counts of a QTL graph and the report's summary rows (Tables 1 and 2).

Per target bin, ``connected`` counts QTL rows and ``binned`` distinct source bins; loop
edges are left out of both and counted only in their own per-type columns.
"""

from __future__ import annotations

import csv

import numpy as np
import polars as pl

from qtlgraph.loops import LOOP_TYPE

_SUMMARY_ROWS = (
    "Connected QTLs",
    "QTL bins",
    "Connected regions",
    "All regions",
    "Avg QTLs per connected region",
    "Avg QTLs per region",
    "Avg QTL bins per connected region",
    "Avg QTL bins per region",
)


def degree_table(edges: pl.DataFrame, edge_types: list[str], n_bins: int) -> pl.DataFrame:
    """``connected`` (QTL rows) and ``binned`` (distinct source bins) per bin.

    ``connected``/``binned`` add up all QTL edge types (loops excluded); per-type columns
    ``connected_<type>``/``binned_<type>`` are added when there are several edge types.
    """
    tid = edges["edge_type"].to_numpy()
    tgt = edges["target_bin"].to_numpy()
    n = edges["n_qtl"].to_numpy()
    qtl = tid != edge_types.index(LOOP_TYPE) if LOOP_TYPE in edge_types else np.ones(len(tid), bool)
    pairs = edges.filter(pl.Series(qtl)).unique(["source_bin", "target_bin"])
    cols = {
        "connected": np.bincount(tgt[qtl], weights=n[qtl], minlength=n_bins),
        "binned": np.bincount(pairs["target_bin"].to_numpy(), minlength=n_bins),
    }
    if len(edge_types) > 1:
        for i, name in enumerate(edge_types):
            sel = tid == i
            cols[f"connected_{name}"] = np.bincount(tgt[sel], weights=n[sel], minlength=n_bins)
            cols[f"binned_{name}"] = np.bincount(tgt[sel], minlength=n_bins)
    return pl.DataFrame({k: v.astype(np.int64) for k, v in cols.items()})


def summary_columns(degrees: pl.DataFrame, edge_types: list[str]) -> dict[str, list]:
    """The report's Table 1 and 2 rows as plain columns: ``metric``, then one per edge type
    (when several) and ``all`` (QTL types); counts are ints, averages floats rounded to 2.
    """
    sets = {t: (f"connected_{t}", f"binned_{t}") for t in edge_types} if len(edge_types) > 1 else {}
    sets["all"] = ("connected", "binned")
    out: dict[str, list] = {"metric": list(_SUMMARY_ROWS)}
    n_all = degrees.height
    for name, (c, b) in sets.items():
        conn, binned = int(degrees[c].sum()), int(degrees[b].sum())
        regions = int((degrees[c] > 0).sum())
        per = regions or 1
        out[name] = [
            conn,
            binned,
            regions,
            n_all,
            round(conn / per, 2),
            round(conn / max(n_all, 1), 2),
            round(binned / per, 2),
            round(binned / max(n_all, 1), 2),
        ]
    return out


def summary_table(degrees: pl.DataFrame, edge_types: list[str]):
    """:func:`summary_columns` as a pandas DataFrame (object columns: ints stay ints)."""
    import pandas as pd

    cols = summary_columns(degrees, edge_types)
    return pd.DataFrame(
        {k: v if k == "metric" else pd.Series(v, dtype=object) for k, v in cols.items()}
    )


def write_summary_tsv(degrees: pl.DataFrame, edge_types: list[str], path) -> None:
    """:func:`summary_columns` as a tab-separated file with a header (``summary.tsv``)."""
    cols = summary_columns(degrees, edge_types)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh, delimiter="\t", lineterminator="\n")
        out.writerow(cols)
        out.writerows(zip(*cols.values()))
