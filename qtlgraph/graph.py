"""The QTL graph over genome bins: build it from QTL tables, write and read its directory.

An edge joins the bin of a QTL's SNP (source) to the bin of its target's midpoint, one
edge per distinct (source bin, target bin, edge type) with ``n_qtl``, ``min_pvalue``,
``mean_abs_beta``, ``max_abs_beta`` and ``mean_distance``. Per target bin, ``connected``
counts QTL rows and ``binned`` distinct source bins (the report's Tables 1 and 2). The
directory layout is in ``docs/architecture.md``. Statistics are
:mod:`qtlgraph.graph_stats`, the directory's writing and reading :mod:`qtlgraph.graph_io`
(their names are importable from here too).
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

import polars as pl

from qtlgraph.errors import InputError
from qtlgraph.filters import REASONS, FilterOptions, check_options, filter_chunk
from qtlgraph.genome import BinIndex, Genome, load_genome
from qtlgraph.graph_io import (
    EDGE_ATTRS,
    BuiltGraph,
    GraphDir,
    graph_arrays,
    graph_tensors,
    load_graph_dir,
    to_pyg,
    write_graph_dir,
    write_graphml,
)
from qtlgraph.graph_stats import degree_table, summary_table
from qtlgraph.link_stats import EdgeStats, edge_key
from qtlgraph.loops import LOOP_TYPE, read_loops
from qtlgraph.qtl import BLOCK_BYTES, QtlSource, open_qtl
from qtlgraph.qtl_stream import stream_links

__all__ = [
    "EDGE_ATTRS",
    "BuiltGraph",
    "GraphDir",
    "aggregate_edges",
    "build_graph",
    "default_edge_type",
    "degree_table",
    "graph_arrays",
    "graph_tensors",
    "load_graph_dir",
    "summary_table",
    "to_pyg",
    "write_graph_dir",
    "write_graphml",
]
WRONG_BUILD_FRACTION = 0.01


def default_edge_type(path: str | Path) -> str:
    """The file name without its ``.gz``/``.txt``/``.tsv``/... extensions."""
    name = Path(path).name
    for ext in (".gz", ".parquet", ".txt", ".tsv", ".csv"):
        name = name[: -len(ext)] if name.endswith(ext) else name
    return name


def _edge_types(paths: list[Path], names: list[str] | None) -> list[str]:
    if names and len(names) != len(paths):
        raise InputError(
            f"--edge-type given {len(names)} time(s) for {len(paths)} file(s); "
            "give one per file or none"
        )
    types = list(names) if names else [default_edge_type(p) for p in paths]
    if LOOP_TYPE in types:
        raise InputError(f"edge type {LOOP_TYPE!r} is reserved for --loops")
    return types


def _read_input(
    path: Path,
    index: BinIndex,
    options: FilterOptions,
    opts: dict,
    progress: bool,
    stats: EdgeStats,
) -> tuple[dict, str]:
    """Filter one table's chunks into ``stats`` (its edge type's); its record and layout."""
    from tqdm import tqdm

    source = open_qtl(
        path,
        opts["format"],
        phenotypes=opts["phenotypes"],
        columns=opts["columns"],
        block_bytes=opts["block_bytes"],
    )
    check_options(options, source.provides, str(path))
    counts = dict.fromkeys(REASONS, 0)
    with tqdm(
        unit=" rows",
        unit_scale=True,
        desc=path.name,
        file=sys.stderr,
        disable=not progress,
        leave=False,
    ) as bar:
        rows, dropped = _links_into(stats, source, index, options, bar, opts["block_bytes"])
    for k, v in dropped.items():
        counts[k] += v
    return {"rows_read": rows, "dropped": counts}, source.format


def _links_into(
    stats: EdgeStats,
    source: QtlSource,
    index: BinIndex,
    options: FilterOptions,
    bar,
    block_bytes: int,
) -> tuple[int, dict[str, int]]:
    """Rows read and dropped per reason; the kept links added to ``stats``, progress on ``bar``.

    One streaming pass where the table allows it (:func:`qtlgraph.qtl_stream.stream_links`);
    chunk by chunk otherwise, and after any read error of that pass, so that the chunked
    reader can name the bad row (what the pass added is rolled back first).
    """
    if source.scan is not None:
        mark = stats.checkpoint()
        try:
            return stream_links(
                source, index, options, stats.add, bar.update, max(block_bytes // 256, 1)
            )
        except (pl.exceptions.PolarsError, OSError):
            stats.rollback(mark)
            bar.reset()
    counts, rows = dict.fromkeys(REASONS, 0), 0
    for links in _filtered(source, index, options):
        stats.add(links.frame)
        rows += links.rows
        for k, v in links.counts.items():
            counts[k] += v
        bar.update(links.rows)
    return rows, counts


def _filtered(source, index: BinIndex, options: FilterOptions, workers: int = 2):
    """:func:`filter_chunk` over the chunks, ``workers`` chunks at a time, results in order.

    polars and NumPy release the GIL, so threads filter one chunk while the reader parses
    the next: the build uses both cores of a small machine instead of about one.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for chunk in source.chunks:
            pending.append(
                pool.submit(filter_chunk, chunk.frame, index, options, source.provides, chunk.rows)
            )
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def aggregate_edges(links: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per distinct ``(edge_type, source_bin, target_bin)`` with its statistics."""
    out = (
        links.lazy()
        .group_by(edge_key().alias("key"))  # one int64 key groups fastest
        .agg(
            pl.first("edge_type"),
            pl.first("source_bin"),
            pl.first("target_bin"),
            pl.len().cast(pl.Int64).alias("n_qtl"),
            pl.col("pvalue").min().alias("min_pvalue"),
            pl.col("abs_beta").mean().cast(pl.Float64).alias("mean_abs_beta"),
            pl.col("abs_beta").max().cast(pl.Float64).alias("max_abs_beta"),
            pl.col("distance").mean().alias("mean_distance"),
        )
    )
    return out.sort(["edge_type", "target_bin", "source_bin"]).drop("key").collect()


def _loop_edges(path: Path, index: BinIndex, type_id: int) -> tuple[pl.DataFrame, dict]:
    loops = read_loops(path, index)
    links = loops.frame.with_columns(
        pl.lit(None, pl.Float64).alias("pvalue"),
        pl.lit(None, pl.Float32).alias("abs_beta"),
        pl.lit(type_id, pl.Int32).alias("edge_type"),
    )
    kept = loops.rows - sum(loops.counts.values())
    return aggregate_edges(links), {
        "path": str(path),
        "edge_type": LOOP_TYPE,
        "rows_read": loops.rows,
        "dropped": loops.counts,
        "kept": kept,
    }


def _warnings(record: dict, genome: Genome) -> list[str]:
    d = record["dropped"]
    reached = record["rows_read"] - d["missing_value"] - d["above_threshold"] - d["bad_position"]
    out = []
    if reached and d["unknown_chrom"] > 0.5 * reached:
        out.append(
            f"{record['path']}: {d['unknown_chrom']} of {reached} rows name chromosomes "
            f"that {genome.name} does not have"
        )
    known = reached - d["unknown_chrom"]
    if known and d["off_chrom_end"] > WRONG_BUILD_FRACTION * known:
        out.append(
            f"{record['path']}: {d['off_chrom_end']} of {known} rows "
            f"({100 * d['off_chrom_end'] / known:.1f}%) fall beyond chromosome ends of "
            f"{genome.name}: is the table on another genome build?"
        )
    if record["kept"] == 0:
        out.append(f"{record['path']}: no QTL passed the filters")
    return out


def build_graph(
    paths,
    genome: str | Path | Genome,
    *,
    fmt: str = "auto",
    edge_types: list[str] | None = None,
    fdr: float | None = 0.05,
    pvalue: float | None = None,
    max_distance: int = 1_000_000,
    bin_size: int = 10_000,
    loops: str | Path | None = None,
    phenotypes: str | Path | None = None,
    columns: str | dict | None = None,
    target_mode: str = "midpoint",
    block_bytes: int = BLOCK_BYTES,
    name: str | None = None,
    progress: bool = True,
) -> BuiltGraph:
    """Build the QTL graph from one or more QTL tables (one edge type per table name).

    Args:
        paths: QTL tables; tables given the same edge type are merged.
        genome: ``hg38``, ``hg19``, a ``.chrom.sizes`` file or a :class:`Genome`.
        fmt: layout name or ``auto`` (see :data:`qtlgraph.qtl.FORMATS`), for every table.
        edge_types: one name per table (default: the file name without extensions).
        fdr: keep rows with FDR below this (see :class:`FilterOptions`).
        pvalue: keep rows with p-value below this instead.
        max_distance: largest ``|target midpoint - SNP|`` in bp.
        bin_size: bin width in bp.
        loops: optional BEDPE of chromatin loops (edge type ``loop``).
        phenotypes: phenotype positions (see :func:`qtlgraph.qtl.open_qtl`).
        columns: the ``generic`` column mapping (see :func:`qtlgraph.qtl.open_qtl`).
        target_mode: ``midpoint`` or ``overlap`` (see :class:`FilterOptions`).
        block_bytes: text read per chunk.
        name: the graph's name in ``build.json`` (default: the file name, or "N tables").
        progress: show tqdm progress on stderr.

    Returns:
        BuiltGraph. Shapes: ``degrees`` has ``index.n_bins`` rows.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise InputError("no QTL table given")
    genome = genome if isinstance(genome, Genome) else load_genome(genome)
    index = BinIndex(genome, bin_size)
    options = FilterOptions(fdr, pvalue, max_distance, target_mode)
    per_file = _edge_types(paths, edge_types)
    names = list(dict.fromkeys(per_file)) + ([LOOP_TYPE] if loops else [])
    opts = {"format": fmt, "phenotypes": phenotypes, "columns": columns, "block_bytes": block_bytes}
    overlap = target_mode == "overlap"
    stats = {n: EdgeStats(i, overlap) for i, n in enumerate(n for n in names if n != LOOP_TYPE)}
    inputs = []
    for path, etype in zip(paths, per_file):
        record, layout = _read_input(path, index, options, opts, progress, stats[etype])
        inputs.append({"path": str(path), "format": layout, "edge_type": etype, **record})
    edge_frames = []
    for etype, acc in stats.items():
        edges, n_dup = acc.finish()
        _share_duplicates(inputs, etype, n_dup)
        if edges is not None:
            edge_frames.append(edges)
    if loops:
        loop_edges, record = _loop_edges(Path(loops), index, len(names) - 1)
        edge_frames.append(loop_edges)
        inputs.append(record)
    edges = _edge_table(edge_frames)
    degrees = degree_table(edges, names, index.n_bins)
    meta = _meta(genome, index, paths, inputs, options, opts, loops)
    meta["warnings"] = [
        w for r in inputs if r["edge_type"] != LOOP_TYPE for w in _warnings(r, genome)
    ]
    meta["edge_types"] = names
    if name:
        meta["name"] = name
    return BuiltGraph(index, names, edges, degrees, meta)


def _share_duplicates(inputs: list[dict], name: str, n_dup: int) -> None:
    """Record duplicates against the (first) input of this edge type; fill ``kept``."""
    records = [r for r in inputs if r["edge_type"] == name]
    for j, r in enumerate(records):
        r["dropped"]["duplicate"] = n_dup if j == 0 else 0
        r["kept"] = r["rows_read"] - sum(r["dropped"].values())


def _edge_table(edge_frames: list[pl.DataFrame]) -> pl.DataFrame:
    schema = {
        "edge_type": pl.Int32,
        "source_bin": pl.Int64,
        "target_bin": pl.Int64,
        "n_qtl": pl.Int64,
        "min_pvalue": pl.Float64,
        "mean_abs_beta": pl.Float64,
        "max_abs_beta": pl.Float64,
        "mean_distance": pl.Float64,
    }
    if not edge_frames:
        return pl.DataFrame(schema=schema)
    return pl.concat([f.cast(schema) for f in edge_frames])


def _meta(
    genome: Genome,
    index: BinIndex,
    paths: list[Path],
    inputs: list[dict],
    options: FilterOptions,
    opts: dict,
    loops,
) -> dict:
    qtl = [r for r in inputs if r["edge_type"] != LOOP_TYPE]
    dropped = {k: sum(r["dropped"][k] for r in qtl) for k in REASONS}
    return {
        "name": paths[0].name if len(paths) == 1 else f"{len(paths)} tables",
        "genome": {
            "name": genome.name,
            "chroms": list(genome.chroms),
            "lengths": list(genome.lengths),
        },
        "bin_size": index.bin_size,
        "n_bins": index.n_bins,
        "inputs": inputs,
        "options": {
            **options._asdict(),
            "format": opts["format"],
            "phenotypes": str(opts["phenotypes"]) if opts["phenotypes"] else None,
            "columns": opts["columns"],
            "loops": str(loops) if loops else None,
        },
        "counts": {
            "rows_read": sum(r["rows_read"] for r in qtl),
            "dropped": dropped,
            "kept": sum(r["kept"] for r in qtl),
        },
    }
