"""Reading QTL tables, chunk by chunk, into the canonical QTL table.

:func:`open_qtl` checks a table's header now and reads its rows lazily, in chunks
(:mod:`qtlgraph.qtl_chunks`: polars' streaming engine, and a block reader of its own that
names a bad row and column); :func:`read_qtl` reads a small table whole. The layouts and
their column conventions are in :mod:`qtlgraph.qtl_formats`; telling them apart from a
file's first line is :mod:`qtlgraph.qtl_sniff`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.genome import canonical_chrom
from qtlgraph.qtl_chunks import (
    NULLS,
    QtlChunk,
    parquet_chunks,
    stream_chunks,
    text_scan,
    text_spec,
)
from qtlgraph.qtl_formats import (
    CANONICAL,
    FORMATS,
    LAYOUTS,
    REQUIRED,
    Context,
    generic_layout,
)
from qtlgraph.qtl_sniff import detect_format, first_lines, magic, split_fields

BLOCK_BYTES = 64 << 20
__all__ = [
    "BLOCK_BYTES",
    "CANONICAL",
    "FORMATS",
    "NULLS",
    "QtlChunk",
    "QtlSource",
    "detect_format",
    "open_qtl",
    "read_qtl",
    "read_phenotypes",
    "parse_columns",
]


class QtlSource(NamedTuple):
    """An opened QTL table: its layout, what statistics it has, and its chunks.

    ``scan`` is the whole table as one lazy frame of its raw columns, for one streaming
    pass (:mod:`qtlgraph.qtl_stream`), and ``canonical`` maps such a frame onto the
    canonical columns; ``scan`` is None where the table is read chunk by chunk only
    (parquet, or targets joined from ``--phenotypes``).
    """

    path: Path
    format: str
    provides: frozenset  # of "pvalue", "fdr", "beta"
    size: int
    chunks: Iterator[QtlChunk]
    scan: pl.LazyFrame | None = None
    canonical: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None


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
    first = first_lines(path, 1)[0]
    head = split_fields(first.lstrip("#"), "\t")
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
    scan = None
    if magic(path) == b"PAR1":
        import pyarrow.parquet as pq

        present = frozenset(pq.ParquetFile(path).schema_arrow.names)
        missing = [c for c in required if c not in present]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} for format {fmt}")
        ctx = Context(str(path), present, ph, mapping)
        chunks = parquet_chunks(path, layout, ctx, max(block_bytes // 64, 1))
    else:
        spec = text_spec(path, layout, required)
        ctx = Context(str(path), frozenset(spec.names), ph, mapping)
        chunks = stream_chunks(spec, layout, ctx, block_bytes)
        scan = text_scan(spec) if ph is None else None
    return QtlSource(
        path,
        fmt,
        layout.provides(ctx.present),
        path.stat().st_size,
        chunks,
        scan,
        lambda frame: layout.canonical(frame, ctx),
    )


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
