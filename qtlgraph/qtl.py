"""Reading QTL tables, chunk by chunk, into the canonical QTL table.

Text tables (plain or gzip) are read by polars' streaming engine (``scan_csv`` +
``collect_batches``: parallel parsing, fast gzip, bounded memory) in chunks of about
``block_bytes / 256`` rows. When polars reports a problem, the rest of the file is read
again by this module's own block reader (blocks of ``block_bytes`` of text, decompressed by
a background thread), which names the bad row and column or the truncated gzip. tensorQTL
parquet is read batch by batch. The layouts and their column conventions are in
:mod:`qtlgraph.qtl_formats`.
"""

from __future__ import annotations

import gzip
import queue
import re
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.genome import canonical_chrom
from qtlgraph.qtl_formats import (
    CANONICAL,
    FORMATS,
    LAYOUTS,
    REQUIRED,
    Context,
    Layout,
    generic_layout,
)

BLOCK_BYTES = 64 << 20
NULLS = ["NA"]  # "nan"/"NaN" parse as NaN, empty numeric fields as null
__all__ = [
    "CANONICAL",
    "FORMATS",
    "QtlChunk",
    "QtlSource",
    "detect_format",
    "open_qtl",
    "read_qtl",
    "read_phenotypes",
    "parse_columns",
]


class QtlChunk(NamedTuple):
    """One chunk of a QTL table: canonical columns, still lazy so filters push down."""

    frame: pl.LazyFrame
    rows: int  # rows in this chunk
    first_row: int  # 1-based line number (or parquet row) of the chunk's first row
    done: int  # bytes of the file consumed so far; -1 when unknown


class QtlSource(NamedTuple):
    """An opened QTL table: its layout, what statistics it has, and its chunks."""

    path: Path
    format: str
    provides: frozenset  # of "pvalue", "fdr", "beta"
    size: int
    chunks: Iterator[QtlChunk]


def _magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def _is_gzip(path: Path) -> bool:
    return _magic(path)[:2] == b"\x1f\x8b"


def _first_lines(path: Path, n: int = 2) -> list[str]:
    """The first ``n`` non-empty lines of a plain or gzip text file."""
    opener = gzip.open if _is_gzip(path) else open
    lines: list[str] = []
    try:
        with opener(path, "rt", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) == n:
                    break
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip file ({exc})") from None
    if not lines:
        raise InputError(f"{path}: empty file (no rows)")
    lines[0] = lines[0].removeprefix("\ufeff")  # a UTF-8 byte-order mark is not a column name
    return lines


def _fields(line: str, sep: str | None = None) -> list[str]:
    if sep is None:
        sep = "\t" if "\t" in line else " "
    return line.split(sep)


def _detect_header(tokens: set[str], first: str) -> str | None:
    if {"gene_chr", "qval", "variant_pos"} <= tokens:
        return "gtex-egenes"
    if "molecular_trait_id" in tokens:
        return "eqtlcatalogue"
    if first == "phe_id":
        return "qtltools-permutation" if "adj_beta_pval" in tokens else "qtltools-nominal"
    if {"SNP", "PHENOTYPEID"} <= tokens:
        return "blueprint-reformatted"
    if {"phenotype_id", "variant_id", "pval_nominal"} <= tokens:
        return "tensorqtl"
    if {"variant_id", "gene_id", "pval_nominal"} <= tokens:
        return "gtex-pairs"
    return None


def detect_format(path: str | Path) -> str:
    """The layout name of a QTL table, from its first line (or parquet schema).

    Raises:
        InputError: the file is empty or its layout is not one qtlgraph knows.
    """
    path = Path(path)
    if _magic(path) == b"PAR1":
        import pyarrow.parquet as pq

        names = set(pq.ParquetFile(path).schema_arrow.names)
        fmt = _detect_header(names, "")
        if fmt not in ("tensorqtl", "gtex-pairs"):
            raise InputError(
                f"{path}: parquet without tensorQTL columns "
                "(phenotype_id, variant_id, pval_nominal)"
            )
        return fmt
    first = _first_lines(path, 1)[0]
    fields = _fields(first)
    fmt = _detect_header(set(fields), fields[0])
    if fmt:
        return fmt
    if (
        len(fields) == 9
        and re.match(r"^[^:\s]+:\d+", fields[0])
        and re.match(r"^[^:\s]+:\d+:\d+$", fields[2])
    ):
        return "blueprint"
    if len(fields) in (15, 16, 19) and fields[4] in ("+", "-", ".") and fields[2].isdigit():
        return "qtltools-permutation" if len(fields) == 19 else "qtltools-nominal"
    raise InputError(
        f"{path}: cannot tell the table's layout from its first line "
        f"({first[:80]!r}); give --format (one of {', '.join(FORMATS[1:])})"
    )


def parse_columns(spec: str | dict | None) -> dict[str, str] | None:
    """``'snp_chrom=Chr,snp_pos=Pos'`` -> ``{'snp_chrom': 'Chr', 'snp_pos': 'Pos'}``."""
    if spec is None or isinstance(spec, dict):
        return spec
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise InputError(f"--columns: expected KEY=COLUMN pairs, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def read_phenotypes(path: str | Path) -> pl.DataFrame:
    """Phenotype positions from a BED (chrom, start, end, id, ...) or eQTL Catalogue metadata.

    Returns:
        ``phenotype_id, target_chrom, target_start, target_end`` (0-based half-open; the
        metadata's ``phenotype_pos`` is a 1-based TSS, so ``[pos - 1, pos)``).
    """
    from qtlgraph.inputs import check_complete  # polars reads a truncated gzip quietly

    path = check_complete(path, "phenotype file")
    first = _first_lines(path, 1)[0]
    head = _fields(first.lstrip("#"), "\t")
    try:
        if "phenotype_pos" in head:
            df = pl.read_csv(path, separator="\t", infer_schema=False)
            df = df.select(
                pl.col("phenotype_id"),
                pl.col("chromosome").alias("target_chrom"),
                (pl.col("phenotype_pos").cast(pl.Int64) - 1).alias("target_start"),
                pl.col("phenotype_pos").cast(pl.Int64).alias("target_end"),
            )
        else:
            has_header = first.startswith("#") or not head[1].strip().isdigit()
            df = pl.read_csv(
                path,
                separator="\t",
                has_header=has_header,
                infer_schema=False,
                columns=[0, 1, 2, 3],
                truncate_ragged_lines=True,
            )
            df.columns = ["c", "s", "e", "i"]
            df = df.select(
                pl.col("i").alias("phenotype_id"),
                pl.col("c").alias("target_chrom"),
                pl.col("s").cast(pl.Int64).alias("target_start"),
                pl.col("e").cast(pl.Int64).alias("target_end"),
            )
    except (pl.exceptions.PolarsError, IndexError) as exc:
        raise InputError(
            f"{path}: expected a phenotype BED (chrom, start, end, id) or "
            f"eQTL Catalogue metadata (phenotype_id, chromosome, phenotype_pos): "
            f"{str(exc).splitlines()[0]}"
        ) from None
    return df.unique(subset="phenotype_id", keep="first", maintain_order=True)


class _Text(NamedTuple):
    path: Path
    sep: str
    header: bool
    names: list[str]
    index: list[int]  # positions of the columns read
    dtypes: dict[str, type]  # polars column_<i> -> dtype for numeric ones


def _text_spec(path: Path, layout: Layout, required: tuple[str, ...]) -> _Text:
    first = _first_lines(path, 1)[0]
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
    return _Text(path, sep, header, names, index, dtypes)


def _blocks(path: Path, block_bytes: int, skip_header: bool) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines of text and the file bytes consumed after each."""
    try:
        with open(path, "rb") as raw:
            fh = gzip.GzipFile(fileobj=raw) if _is_gzip(path) else raw
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


def _read_block(block: bytes, spec: _Text, first_row: int) -> pl.DataFrame:
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


def _locate_error(block: bytes, spec: _Text, first_row: int, exc: Exception) -> None:
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
    spec: _Text, layout: Layout, ctx: Context, block_bytes: int, skip: int = 0
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


def _stream_chunks(
    spec: _Text, layout: Layout, ctx: Context, block_bytes: int
) -> Iterator[QtlChunk]:
    """Polars' streaming engine (parallel parsing, fast gzip, bounded memory).

    Batches are pulled by a background thread (:func:`_prefetch`), so the next batch is
    parsed while the caller filters this one. On any polars error the rest is read by
    :func:`_text_chunks`, which names the bad row and column (or the truncated gzip).
    """
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
    lf = lf.select([pl.col(f"column_{i}").alias(spec.names[i]) for i in spec.index])
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


def _parquet_chunks(
    path: Path, layout: Layout, ctx: Context, batch_rows: int
) -> Iterator[QtlChunk]:
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


def open_qtl(
    path: str | Path,
    fmt: str = "auto",
    *,
    phenotypes: str | Path | None = None,
    columns: str | dict | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> QtlSource:
    """Open a QTL table of any supported layout; the header is checked now, rows lazily.

    Args:
        path: the table (plain, gzip or, for tensorQTL, parquet).
        fmt: a name in :data:`FORMATS`; ``auto`` detects it (``generic`` when ``columns``).
        phenotypes: phenotype BED or eQTL Catalogue metadata giving target positions.
        columns: the ``generic`` mapping, ``'snp_chrom=Chr,snp_pos=Pos,...'``.
        block_bytes: text read per chunk (bounds memory).

    Raises:
        InputError: missing file, unknown layout, missing columns, empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (no rows)")
    mapping = parse_columns(columns)
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: unknown; expected one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = "generic" if mapping else detect_format(path)
    ph = read_phenotypes(phenotypes) if phenotypes else None
    if fmt == "eqtlcatalogue" and ph is None:
        raise InputError(
            f"{path}: eQTL Catalogue tables need --phenotypes (the phenotype "
            "metadata file, phenotype_pos = TSS)"
        )
    if fmt == "generic":
        if not mapping:
            raise InputError(f"{path}: --format generic needs --columns KEY=COLUMN,...")
        layout, required = (
            generic_layout(mapping, str(path), ph is not None),
            tuple(mapping.values()),
        )
    else:
        layout, required = LAYOUTS[fmt], REQUIRED.get(fmt, ())
    if _magic(path) == b"PAR1":
        import pyarrow.parquet as pq

        present = frozenset(pq.ParquetFile(path).schema_arrow.names)
        missing = [c for c in required if c not in present]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} for format {fmt}")
        ctx = Context(str(path), present, ph, mapping)
        chunks = _parquet_chunks(path, layout, ctx, max(block_bytes // 64, 1))
    else:
        spec = _text_spec(path, layout, required)
        ctx = Context(str(path), frozenset(spec.names), ph, mapping)
        chunks = _stream_chunks(spec, layout, ctx, block_bytes)
    return QtlSource(path, fmt, layout.provides(ctx.present), path.stat().st_size, chunks)


def read_qtl(path: str | Path, fmt: str = "auto", **kwargs) -> pl.DataFrame:
    """The whole table as one canonical DataFrame (for small tables; see :func:`open_qtl`).

    Chromosome names are made canonical (``chr`` prefix) here; the chunked reader keeps
    them as written and the binning step canonicalises each distinct name once.
    """
    source = open_qtl(path, fmt, **kwargs)
    frames = [c.frame.collect() for c in source.chunks]
    if not frames:
        return pl.DataFrame(schema=list(CANONICAL))
    table = pl.concat(frames)
    return table.with_columns(
        pl.col(c).replace_strict(
            {u: canonical_chrom(u) for u in table[c].drop_nulls().unique().to_list()},
            default=None,
            return_dtype=pl.Utf8,
        )
        for c in ("snp_chrom", "target_chrom")
    )
