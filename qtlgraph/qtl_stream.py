"""One streaming pass over a whole text QTL table: read, filter and parse inside polars.

polars reads the table in parallel and runs two branches over one cache of its raw
columns: every row's :func:`qtlgraph.filters.row_status` (the first two drop reasons, and
the progress) and the rows that pass the thresholds, parsed into integers and
categorical chromosome names (:func:`qtlgraph.filters.passed_rows`). Both reach Python
as batches of plain columns: statuses are counted, passed rows binned by
:func:`qtlgraph.filters.bin_rows` and handed on. Memory stays bounded by the batches in
flight. A polars error ends the pass; the caller then reads the table chunk by chunk
instead (:attr:`qtlgraph.qtl.QtlSource.chunks`), which names the bad row and column.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.filters import FilterOptions, bin_rows, passed_rows, row_status, status_counts
from qtlgraph.genome import BinIndex
from qtlgraph.qtl import QtlSource


def stream_links(
    source: QtlSource,
    index: BinIndex,
    options: FilterOptions,
    on_links: Callable[[pl.DataFrame], None],
    on_rows: Callable[[int], object] = lambda n: None,
    batch_rows: int = 262_144,
) -> tuple[int, dict[str, int]]:
    """Filter and bin every row of ``source`` (a text table with a ``scan``) in one pass.

    Args:
        source: an opened table whose ``scan`` is not None.
        index: the genome's bins.
        options: thresholds, distance and target mode.
        on_links: called with each batch's kept links (:class:`qtlgraph.filters.Links`
            ``frame``), in file order.
        on_rows: called with the number of rows of each batch read (progress).
        batch_rows: rows per batch handed to Python.

    Returns:
        ``(rows read, rows dropped per reason)`` (``duplicate`` is left to the caller).

    Raises:
        polars.exceptions.PolarsError, OSError: the table cannot be read this way.
        InputError: the table has a header and no rows.
    """
    raw = source.scan.cache()  # one read feeds both branches
    plans = [
        source.canonical(raw).select(row_status(source.provides, options)),
        passed_rows(source.canonical(raw), source.provides, options),
    ]
    rows, counts = 0, {"missing_value": 0, "above_threshold": 0}
    for branch, batch in _batches(plans, batch_rows):
        if branch == 0:
            rows += batch.height
            for key, n in status_counts(batch["status"]).items():
                counts[key] += n
            on_rows(batch.height)
            continue
        links = bin_rows(batch, index, options)
        for key, n in links.counts.items():
            counts[key] = counts.get(key, 0) + n
        on_links(links.frame)
    if rows == 0:
        raise InputError(f"{source.path}: no data rows (only a header)")
    return rows, counts


def _batches(plans: list[pl.LazyFrame], batch_rows: int, depth: int = 4) -> Iterator:
    """``(plan number, batch)`` of every plan, run together by polars in a background thread.

    polars hands each batch to a callback on one of its worker threads; the callback only
    queues it, so that the workers go on reading while this thread bins. At most
    ``depth`` batches wait; an exception in polars is raised here.
    """
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return False
            except queue.Full:
                continue
        return True  # tells polars to stop

    def run() -> None:
        sinks = [
            plan.sink_batches(lambda df, i=i: put((i, df)), chunk_size=batch_rows, lazy=True)
            for i, plan in enumerate(plans)
        ]
        try:
            # the cache is the only shared part: merging the two canonical mappings would
            # parse the strings of every row, not only of the passed ones
            pl.collect_all(
                sinks,
                engine="streaming",
                optimizations=pl.QueryOptFlags(comm_subplan_elim=False),
            )
        except BaseException as exc:  # handed to the consumer
            put((-1, exc))
            return
        put((-1, None))

    threading.Thread(target=run, daemon=True).start()
    try:
        while True:
            branch, item = q.get()
            if branch < 0:
                if item is not None:
                    raise item
                return
            yield branch, item
    finally:
        stop.set()
