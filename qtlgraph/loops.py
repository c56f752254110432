"""Chromatin loops (BEDPE) as a second source of graph edges.

Each loop joins the bins of its two anchor midpoints (0-based ``(start + end - 1) // 2``);
it becomes an edge in both directions (one edge when both anchors share a bin). Loops
with an unknown chromosome, an anchor off its chromosome or anchors on two chromosomes
are dropped and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.filters import chrom_codes
from qtlgraph.genome import BinIndex

LOOP_TYPE = "loop"


class LoopLinks(NamedTuple):
    """Loop edges (both directions) and loop counts.

    ``frame``: ``source_bin, target_bin`` (Int64), ``distance`` (Int64, target anchor
    midpoint minus source anchor midpoint).
    """

    frame: pl.DataFrame
    rows: int
    counts: dict[str, int]


def _read_bedpe(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path) as fh:
            first = fh.readline()
        if not first.strip():
            raise InputError(f"{path}: empty loops file")
        fields = first.split("\t")
        header = first.startswith("#") or len(fields) < 6 or not fields[1].strip().isdigit()
        df = pl.read_csv(
            path,
            separator="\t",
            has_header=header,
            infer_schema=False,
            columns=list(range(6)),
            truncate_ragged_lines=True,
        )
        df.columns = ["c1", "s1", "e1", "c2", "s2", "e2"]
        ints = [pl.col(c).cast(pl.Int64) for c in ("s1", "e1", "s2", "e2")]
        return df.with_columns(ints)
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"{path}: expected BEDPE (chrom1 start1 end1 chrom2 start2 end2, "
            f"tab-separated, integer coordinates): {str(exc).splitlines()[0]}"
        ) from None


def read_loops(path: str | Path, index: BinIndex) -> LoopLinks:
    """Loop edges between anchor bins.

    Args:
        path: BEDPE (tab-separated, first six columns used; a header line is skipped).
        index: the genome's bins.

    Returns:
        LoopLinks; ``counts`` has ``unknown_chrom``, ``off_chrom_end``, ``other_chrom``.
    """
    df = _read_bedpe(Path(path))
    c1, c2 = chrom_codes(df["c1"], index), chrom_codes(df["c2"], index)
    m1 = ((df["s1"] + df["e1"] - 1) // 2).to_numpy()
    m2 = ((df["s2"] + df["e2"] - 1) // 2).to_numpy()
    b1 = index.bin_of(c1, m1, one_based=False)
    b2 = index.bin_of(c2, m2, one_based=False)
    unknown = (c1 < 0) | (c2 < 0)
    off = ~unknown & ((b1 < 0) | (b2 < 0))
    other = ~unknown & ~off & (c1 != c2)
    ok = ~(unknown | off | other)
    b1, b2, d = b1[ok], b2[ok], (m2 - m1)[ok]
    self_loop = b1 == b2
    src = np.concatenate([b1, b2[~self_loop]])
    tgt = np.concatenate([b2, b1[~self_loop]])
    dist = np.concatenate([d, -d[~self_loop]])
    frame = pl.DataFrame(
        {"source_bin": src, "target_bin": tgt, "distance": dist},
        schema={"source_bin": pl.Int64, "target_bin": pl.Int64, "distance": pl.Int64},
    )
    counts = {
        "unknown_chrom": int(unknown.sum()),
        "off_chrom_end": int(off.sum()),
        "other_chrom": int(other.sum()),
    }
    return LoopLinks(frame, df.height, counts)
