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


_COLUMNS = ["c1", "s1", "e1", "c2", "s2", "e2"]
_COORDS = ("s1", "e1", "s2", "e2")
_EXPECTED = "expected BEDPE: chrom1 start1 end1 chrom2 start2 end2, tab-separated"


def _is_header(line: str) -> bool:
    """A first line that names columns: ``#...``, or no coordinate column is a number."""
    fields = line.rstrip("\r\n").split("\t")
    coords = [fields[i].strip() for i in (1, 2, 4, 5) if i < len(fields)]
    return line.startswith("#") or not any(c.lstrip("-").isdigit() for c in coords)


def _read_bedpe(path: Path) -> pl.DataFrame:
    """The six anchor columns of a plain or gzip BEDPE; a bad row is an error naming it."""
    import io

    from qtlgraph.inputs import read_bytes

    data = read_bytes(path, "BEDPE loop file")
    text = data.decode("utf-8", errors="replace")
    first = text.split("\n", 1)[0]
    if not text.strip():
        raise InputError(f"{path}: empty loops file ({_EXPECTED})")
    header = _is_header(first)
    try:
        df = pl.read_csv(
            io.BytesIO(data),
            separator="\t",
            has_header=False,
            skip_rows=1 if header else 0,
            infer_schema=False,
            truncate_ragged_lines=True,
            comment_prefix="#",
        )
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: {_EXPECTED}: {str(exc).splitlines()[0]}") from None
    if df.width < 6:
        raise InputError(f"{path}: {df.width} column(s) per row, {_EXPECTED}")
    df = df.select(df.columns[:6])
    df.columns = _COLUMNS
    raw = df
    df = df.with_columns(pl.col(c).str.strip_chars().cast(pl.Int64, strict=False) for c in _COORDS)
    _check_rows(df, raw, path, 2 if header else 1)
    return df


def _check_rows(df: pl.DataFrame, raw: pl.DataFrame, path: Path, first_line: int) -> None:
    """Refuse missing or non-integer coordinates, negative starts and start > end.

    One error names the first such row (its line number when the file has no comment
    lines inside).
    """
    bad_value = pl.any_horizontal([pl.col(c).is_null() for c in _COLUMNS])  # cast failed
    negative = (pl.col("s1") < 0) | (pl.col("s2") < 0)
    reversed_ = (pl.col("s1") > pl.col("e1")) | (pl.col("s2") > pl.col("e2"))
    checks = (
        (bad_value, "a missing column or a coordinate that is not an integer"),
        (negative.fill_null(False), "a negative start"),
        (reversed_.fill_null(False), "a start after its end"),
    )
    for mask, what in checks:
        rows = np.flatnonzero(df.select(mask).to_series().to_numpy())
        if len(rows):
            row = raw.row(int(rows[0]))
            raise InputError(
                f"{path}: line {first_line + int(rows[0])}: {what} "
                f"({' '.join(str(v) for v in row)}); {_EXPECTED}, 0-based, start <= end"
            )


def read_loops(path: str | Path, index: BinIndex) -> LoopLinks:
    """Loop edges between anchor bins.

    Args:
        path: BEDPE, plain or gzip (tab-separated, first six columns used; a first line
            starting with ``#`` or without numbers in its coordinate columns is a header).
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
