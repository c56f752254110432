"""Links of one edge type -> edges, in memory that does not grow with the table's rows.

Kept links arrive chunk by chunk (:func:`qtlgraph.filters.bin_rows`). Holding them all
until the end costs 44 bytes per kept row (a 100 M-row table would need gigabytes); here
every ``batch_rows`` pending links are folded into partial sums per edge and only each
kept row's 8-byte hash is retained, to drop exact duplicates of rows seen earlier.
Partial sums merge exactly: counts and sums add, minima and maxima combine, and the means
are sums over counts at the end.
"""

from __future__ import annotations

import numpy as np
import polars as pl

BATCH_ROWS = 2_000_000  # pending links folded at once (about 90 MB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BITS = 29  # bins per field of an edge key


def edge_key() -> pl.Expr:
    """One int64 per (type, source, target): 62 bits for fewer than 2^29 bins."""
    return (pl.col("edge_type").cast(pl.Int64) * (1 << _BITS) + pl.col("source_bin")) * (
        1 << _BITS
    ) + pl.col("target_bin")


def _partial(links: pl.LazyFrame) -> pl.DataFrame:
    """Partial sums per edge ``key`` (edge type, source and target are read back from it)."""
    return (
        links.group_by(edge_key().alias("key"))
        .agg(
            pl.len().cast(pl.Int64).alias("n_qtl"),
            pl.col("pvalue").min().alias("min_pvalue"),
            pl.col("abs_beta").cast(pl.Float64).sum().alias("sum_abs_beta"),
            pl.col("abs_beta").count().cast(pl.Int64).alias("n_beta"),
            pl.col("abs_beta").max().cast(pl.Float64).alias("max_abs_beta"),
            pl.col("distance").cast(pl.Float64).sum().alias("sum_distance"),
        )
        .collect()
    )


def _decoded_key() -> list[pl.Expr]:
    field, key = 1 << _BITS, pl.col("key")
    return [
        (key // (field * field)).cast(pl.Int32).alias("edge_type"),
        (key // field % field).alias("source_bin"),
        (key % field).alias("target_bin"),
    ]


class EdgeStats:
    """Accumulates one edge type's links into per-edge statistics.

    Args:
        type_id: the edge type's index.
        overlap: links come from ``overlap`` target mode (one row gives several links,
            told apart by their target bin).
        batch_rows: pending links folded into partial sums at once.
    """

    def __init__(self, type_id: int, overlap: bool, batch_rows: int = BATCH_ROWS) -> None:
        self.type_id, self.overlap, self.batch_rows = type_id, overlap, batch_rows
        self.pending: list[pl.DataFrame] = []
        self.n_pending = 0
        self.parts: list[pl.DataFrame] = []
        self.seen = pl.Series("row_hash", [], dtype=pl.UInt64)
        self.n_dup = 0

    def add(self, links: pl.DataFrame) -> None:
        """Add one chunk's links (:class:`qtlgraph.filters.Links` ``frame``)."""
        if links.height:
            self.pending.append(links)
            self.n_pending += links.height
        if self.n_pending >= self.batch_rows:
            self._fold()

    def checkpoint(self) -> tuple[int, int, int]:
        """A mark to :meth:`rollback` to (pending links are folded first)."""
        self._fold()
        return len(self.parts), self.seen.len(), self.n_dup

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Forget every link added since :meth:`checkpoint` returned ``mark``."""
        self.pending, self.n_pending = [], 0
        self.parts = self.parts[: mark[0]]
        self.seen = self.seen.head(mark[1])
        self.n_dup = mark[2]

    def _first_seen(self, key: pl.Series) -> pl.Series | None:
        """Which links are not repeats of earlier ones; None when none is a repeat.

        Exact repeats are rare, so one distinct count over these and the earlier hashes
        (which are distinct) usually settles it without marking each link.
        """
        every = pl.concat([self.seen, key]) if self.seen.len() else key
        if every.n_unique() == every.len():
            return None
        first = key.is_first_distinct()
        return first & ~key.is_in(self.seen.implode()) if self.seen.len() else first

    def _fold(self) -> None:
        if not self.pending:
            return
        links = pl.concat(self.pending, rechunk=False)
        self.pending, self.n_pending = [], 0
        key = links["row_hash"]
        if self.overlap:
            target = links["target_bin"].to_numpy().astype(np.uint64)
            key = pl.Series("row_hash", key.to_numpy() ^ (target * _GOLDEN))
        first = self._first_seen(key)
        if first is not None:
            self.n_dup += links.height - int(first.sum())
            links, key = links.filter(first), key.filter(first)
        self.seen = pl.concat([self.seen, key])
        lazy = links.lazy().select(
            pl.lit(self.type_id, pl.Int32).alias("edge_type"),
            pl.exclude("row_hash"),
        )
        self.parts.append(_partial(lazy))

    def finish(self) -> tuple[pl.DataFrame | None, int]:
        """The edges and the number of duplicate rows dropped.

        Returns:
            ``(edges, n_dup)``: edges as :func:`qtlgraph.graph.aggregate_edges` gives them
            (None when there are no links), and the duplicates dropped.
        """
        self._fold()
        if not self.parts:
            return None, self.n_dup
        merged = (
            pl.concat(self.parts)
            .lazy()
            .group_by("key")
            .agg(
                pl.col("n_qtl").sum(),
                pl.col("min_pvalue").min(),
                pl.col("sum_abs_beta").sum(),
                pl.col("n_beta").sum(),
                pl.col("max_abs_beta").max(),
                pl.col("sum_distance").sum(),
            )
        )
        edges = merged.select(
            *_decoded_key(),
            "n_qtl",
            "min_pvalue",
            pl.when(pl.col("n_beta") > 0)
            .then(pl.col("sum_abs_beta") / pl.col("n_beta"))
            .alias("mean_abs_beta"),
            "max_abs_beta",
            (pl.col("sum_distance") / pl.col("n_qtl")).alias("mean_distance"),
        )
        return edges.sort(["edge_type", "target_bin", "source_bin"]).collect(), self.n_dup
