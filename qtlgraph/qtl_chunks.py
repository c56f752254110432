"""Reading a QTL table's rows chunk by chunk into canonical lazy frames.

Text tables (plain or gzip) are read by polars' streaming engine (``scan_csv`` +
``collect_batches``: parallel parsing, fast gzip, bounded memory) in chunks of about
``block_bytes / 256`` rows. When polars reports a problem, the rest of the file is read
again by this module's own block reader (blocks of ``block_bytes`` of text, decompressed by
a background thread), which names the bad row and column or the truncated gzip. tensorQTL
parquet is read batch by batch. :func:`qtlgraph.qtl.open_qtl` picks the reader.
"""

from __future__ import annotations

import gzip
import queue
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.qtl_formats import Context, Layout
from qtlgraph.qtl_sniff import first_lines, is_gzip

NULLS = ["NA"]  # "nan"/"NaN" parse as NaN, empty numeric fields as null


class QtlChunk(NamedTuple):
    """One chunk of a QTL table: canonical columns, still lazy so filters push down."""

    frame: pl.LazyFrame
    rows: int  # rows in this chunk
    first_row: int  # 1-based line number (or parquet row) of the chunk's first row
    done: int  # bytes of the file consumed so far; -1 when unknown


class TextSpec(NamedTuple):
    """How to read a text table: separator, header, column names and the columns read."""

    path: Path
    sep: str
    header: bool
    names: list[str]
    index: list[int]  # positions of the columns read
    dtypes: dict[str, type]  # polars column_<i> -> dtype for numeric ones


def text_spec(path: Path, layout: Layout, required: tuple[str, ...]) -> TextSpec:
    """The :class:`TextSpec` of ``path`` read as ``layout``; InputError naming what is missing."""
    first = first_lines(path, 1)[0]
    sep = layout.sep or ("\t" if "\t" in first else " ")
    fields = first.split(sep)
    header = layout.header == "yes" or (
        layout.header == "optional" and fields[0] == layout.header_token
    )
    if header:
        names = [f.strip() for f in fields]
    elif len(fields) in layout.names:
        names = list(layout.names[len(fields)])
    else:
        expected = " or ".join(str(n) for n in sorted(layout.names))
        raise InputError(
            f"{path}: row 1: expected {expected} {sep!r}-separated columns for "
            f"format {layout.name}, found {len(fields)}"
        )
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} for format "
            f"{layout.name}; the header has: {', '.join(names[:40])}"
        )
    wanted = set(layout.numeric) | set(layout.text)
    index = [i for i, n in enumerate(names) if n in wanted and names.index(n) == i]
    dtypes = {f"column_{i}": layout.numeric[names[i]] for i in index if names[i] in layout.numeric}
    return TextSpec(path, sep, header, names, index, dtypes)


def _blocks(path: Path, block_bytes: int, skip_header: bool) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines of text and the file bytes consumed after each."""
    try:
        with open(path, "rb") as raw:
            fh = gzip.GzipFile(fileobj=raw) if is_gzip(path) else raw
            if skip_header:
                fh.readline()
            tail = b""
            while data := fh.read(block_bytes):
                data = tail + data if tail else data
                cut = data.rfind(b"\n") + 1
                block, tail = data[:cut], data[cut:]
                if block.strip():
                    yield block, raw.tell()
            if tail.strip():
                yield tail + b"\n", raw.tell()
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip file ({exc})") from None


def _prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """Run ``items`` in a background thread, ``depth`` items ahead (zlib drops the GIL)."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            q.put((False, exc))
        q.put((True, done))

    threading.Thread(target=work, daemon=True).start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()


def _read_block(block: bytes, spec: TextSpec, first_row: int) -> pl.DataFrame:
    try:
        df = pl.read_csv(
            block,
            has_header=False,
            separator=spec.sep,
            columns=spec.index,
            infer_schema=False,
            schema_overrides=spec.dtypes,
            quote_char=None,
            null_values=NULLS,
        )
    except pl.exceptions.PolarsError as exc:
        _locate_error(block, spec, first_row, exc)
    return df.rename({f"column_{i}": spec.names[i] for i in spec.index})


def _locate_error(block: bytes, spec: TextSpec, first_row: int, exc: Exception) -> None:
    """Re-read a block that failed as text and name the first bad row and column."""
    try:
        df = pl.read_csv(
            block,
            has_header=False,
            separator=spec.sep,
            columns=spec.index,
            infer_schema=False,
            quote_char=None,
            null_values=NULLS,
            truncate_ragged_lines=True,
        )
    except pl.exceptions.PolarsError:
        df = pl.DataFrame()
    for name, dtype in spec.dtypes.items():
        if name not in df.columns:
            continue
        s = df[name]
        bad = (s.is_not_null() & s.cast(dtype, strict=False).is_null()).arg_true()
        if len(bad):
            j = int(bad[0])
            kind = "an integer" if dtype == pl.Int64 else "a number"
            column = spec.names[int(name.split("_")[1])]
            raise InputError(
                f"{spec.path}: row {first_row + j}, column {column!r}: "
                f"expected {kind}, got {s[j]!r}"
            )
    raise InputError(
        f"{spec.path}: rows from {first_row}: cannot parse: {str(exc).splitlines()[0]}"
    )


def _text_chunks(
    spec: TextSpec, layout: Layout, ctx: Context, block_bytes: int, skip: int = 0
) -> Iterator[QtlChunk]:
    """Blocks read by this module: exact row numbers in errors. ``skip`` rows already seen."""
    row = 2 if spec.header else 1
    seen = 0
    for block, done in _prefetch(_blocks(spec.path, block_bytes, spec.header)):
        df = _read_block(block, spec, row)
        first, row = row, row + df.height
        if seen + df.height <= skip:
            seen += df.height
            continue
        if seen < skip:
            df, first = df.slice(skip - seen), first + skip - seen
        seen += df.height
        yield QtlChunk(layout.canonical(df.lazy(), ctx), df.height, first, done)
    if row == (2 if spec.header else 1):
        raise InputError(f"{spec.path}: no data rows (only a header)")


def text_scan(spec: TextSpec) -> pl.LazyFrame:
    """The whole table as one lazy frame of the columns read, named as in the layout."""
    lf = pl.scan_csv(
        spec.path,
        has_header=False,
        separator=spec.sep,
        quote_char=None,
        infer_schema=False,
        schema_overrides=spec.dtypes,
        null_values=NULLS,
        skip_rows=1 if spec.header else 0,
    )
    return lf.select([pl.col(f"column_{i}").alias(spec.names[i]) for i in spec.index])


def stream_chunks(
    spec: TextSpec, layout: Layout, ctx: Context, block_bytes: int
) -> Iterator[QtlChunk]:
    """Polars' streaming engine (parallel parsing, fast gzip, bounded memory).

    Batches are pulled by a background thread (:func:`_prefetch`), so the next batch is
    parsed while the caller filters this one. On any polars error the rest is read by
    :func:`_text_chunks`, which names the bad row and column (or the truncated gzip).
    """
    lf = text_scan(spec)
    row = first = 2 if spec.header else 1
    try:
        for df in _prefetch(iter(lf.collect_batches(chunk_size=max(block_bytes // 256, 1)))):
            if df.height:
                yield QtlChunk(layout.canonical(df.lazy(), ctx), df.height, row, -1)
                row += df.height
    except (pl.exceptions.PolarsError, OSError):
        yield from _text_chunks(spec, layout, ctx, block_bytes, skip=row - first)
        return
    if row == first:
        raise InputError(f"{spec.path}: no data rows (only a header)")


def parquet_chunks(path: Path, layout: Layout, ctx: Context, batch_rows: int) -> Iterator[QtlChunk]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    cols = [c for c in pf.schema_arrow.names if c in layout.numeric or c in layout.text]
    row, size = 1, path.stat().st_size
    n_total = max(pf.metadata.num_rows, 1)
    for batch in pf.iter_batches(batch_size=batch_rows, columns=cols):
        df = pl.from_arrow(batch).with_columns(
            [pl.col(c).cast(t, strict=False) for c, t in layout.numeric.items() if c in cols]
        )
        yield QtlChunk(
            layout.canonical(df.lazy(), ctx),
            df.height,
            row,
            int(size * min(1.0, (row + df.height) / n_total)),
        )
        row += df.height
    if row == 1:
        raise InputError(f"{path}: no data rows")
