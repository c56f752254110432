"""The QTL graph over genome bins: build it from QTL tables, write and read its directory.

An edge joins the bin of a QTL's SNP (source) to the bin of its target's midpoint, one
edge per distinct (source bin, target bin, edge type) with ``n_qtl``, ``min_pvalue``,
``mean_abs_beta``, ``max_abs_beta`` and ``mean_distance``. Per target bin, ``connected``
counts QTL rows and ``binned`` distinct source bins (the report's Tables 1 and 2). The
directory layout is in ``docs/architecture.md``.
"""

from __future__ import annotations

import gzip
import sys
from collections import deque
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from qtlgraph import torch_file
from qtlgraph.errors import InputError
from qtlgraph.filters import REASONS, FilterOptions, check_options, filter_chunk
from qtlgraph.genome import BinIndex, Genome, load_genome
from qtlgraph.link_stats import EdgeStats
from qtlgraph.loops import LOOP_TYPE, read_loops
from qtlgraph.qtl import BLOCK_BYTES, open_qtl

EDGE_ATTRS = ("log1p_n_qtl", "neg_log10_min_p", "mean_abs_beta", "max_abs_beta", "mean_distance")
WRONG_BUILD_FRACTION = 0.01
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


class BuiltGraph(NamedTuple):
    """A built graph, in memory.

    Attributes:
        index: the bins (nodes).
        edge_types: edge type names (QTL types in input order, then ``loop``).
        edges: the ``edges.parquet`` table (polars).
        degrees: ``connected, binned`` (+ per type) for every bin (polars, n_bins rows).
        meta: the ``build.json`` content (inputs, options, counts, warnings).
    """

    index: BinIndex
    edge_types: list[str]
    edges: pl.DataFrame
    degrees: pl.DataFrame
    meta: dict


class GraphDir(NamedTuple):
    """A graph directory read back: edges and degrees (pandas), the PyG ``Data``, meta."""

    edges: object
    degrees: object
    data: object
    meta: dict


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
    counts, rows = dict.fromkeys(REASONS, 0), 0
    with tqdm(
        unit=" rows",
        unit_scale=True,
        desc=path.name,
        file=sys.stderr,
        disable=not progress,
        leave=False,
    ) as bar:
        for links in _filtered(source, index, options):
            stats.add(links.frame)
            rows += links.rows
            for k, v in links.counts.items():
                counts[k] += v
            bar.update(links.rows)
    return {"rows_read": rows, "dropped": counts}, source.format


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
    # one int64 key (type, source, target: 62 bits for < 2^29 bins) groups fastest
    key = (pl.col("edge_type").cast(pl.Int64) * (1 << 29) + pl.col("source_bin")) * (
        1 << 29
    ) + pl.col("target_bin")
    out = (
        links.lazy()
        .group_by(key.alias("key"))
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


def summary_table(degrees: pl.DataFrame, edge_types: list[str]):
    """The report's Table 1 and 2 rows, one column per edge type and ``all`` (QTL types).

    Returns:
        pandas DataFrame: ``metric`` then one column per edge type (when several) and
        ``all``; counts are integers, averages are rounded to 2 decimals.
    """
    import pandas as pd

    sets = {t: (f"connected_{t}", f"binned_{t}") for t in edge_types} if len(edge_types) > 1 else {}
    sets["all"] = ("connected", "binned")
    out = {"metric": list(_SUMMARY_ROWS)}
    n_all = degrees.height
    for name, (c, b) in sets.items():
        conn, binned = int(degrees[c].sum()), int(degrees[b].sum())
        regions = int((degrees[c] > 0).sum())
        per = regions or 1
        out[name] = pd.Series(
            [
                conn,
                binned,
                regions,
                n_all,
                round(conn / per, 2),
                round(conn / max(n_all, 1), 2),
                round(binned / per, 2),
                round(binned / max(n_all, 1), 2),
            ],
            dtype=object,
        )
    return pd.DataFrame(out)


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


def graph_arrays(built: BuiltGraph) -> dict:
    """The fields of the PyG ``Data`` as NumPy arrays, lists and ints (``graph.pt``).

    Shapes:
        edge_index (2, E) int64 (row 0 source bin, row 1 target bin); edge_type (E,) int64;
        edge_attr (E, 5) float32 in the order of :data:`EDGE_ATTRS` (NaN -> 0).
    """
    e = built.edges
    p = e["min_pvalue"].fill_null(1.0).clip(lower_bound=1e-300).to_numpy()
    attr = np.stack(
        [
            np.log1p(e["n_qtl"].to_numpy()),
            -np.log10(p),
            e["mean_abs_beta"].to_numpy(),
            e["max_abs_beta"].to_numpy(),
            e["mean_distance"].to_numpy(),
        ],
        axis=1,
    ).astype(np.float32)
    return {
        "edge_index": np.stack([e["source_bin"].to_numpy(), e["target_bin"].to_numpy()]).astype(
            np.int64
        ),
        "edge_type": e["edge_type"].to_numpy().astype(np.int64),
        "edge_attr": np.nan_to_num(attr),
        "num_nodes": built.index.n_bins,
        "edge_types": list(built.edge_types),
        "edge_attr_names": list(EDGE_ATTRS),
        "bin_size": built.index.bin_size,
    }


def graph_tensors(built: BuiltGraph) -> dict:
    """:func:`graph_arrays` with the arrays as torch tensors (what ``graph.pt`` loads as)."""
    import torch

    return {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
        for k, v in graph_arrays(built).items()
    }


def to_pyg(built_or_tensors):
    """The graph as a PyG ``Data`` over all bins (see :func:`graph_tensors` for fields)."""
    from torch_geometric.data import Data

    tensors = (
        built_or_tensors if isinstance(built_or_tensors, dict) else graph_tensors(built_or_tensors)
    )
    return Data(**tensors)


def _named_edges(built: BuiltGraph) -> pl.DataFrame:
    names = dict(enumerate(built.edge_types))
    return built.edges.with_columns(
        pl.col("edge_type").replace_strict(names, return_dtype=pl.Utf8)
    ).select(
        "source_bin",
        "target_bin",
        "edge_type",
        "n_qtl",
        "min_pvalue",
        "mean_abs_beta",
        "max_abs_beta",
        "mean_distance",
    )


def _bins_frame(built: BuiltGraph) -> pl.DataFrame:
    idx = built.index
    codes = np.repeat(np.arange(len(idx.chroms)), idx.n_bins_per_chrom)
    starts = idx.starts()
    ends = np.minimum(starts + idx.bin_size, np.asarray(idx.genome.lengths)[codes])
    chrom = pl.Series("chrom", np.asarray(idx.chroms, dtype=object)[codes], dtype=pl.Utf8)
    return pl.DataFrame([chrom, pl.Series("start", starts), pl.Series("end", ends)])


def write_graph_dir(
    built: BuiltGraph, out: str | Path, *, graphml: bool = False, force: bool = False
) -> Path:
    """Write the graph directory (``graph.pt``, ``edges.parquet``, ``degrees.tsv.gz``,
    ``summary.tsv``, ``build.json`` and, on request, ``graph.graphml``) atomically.

    ``graph.pt`` holds the PyG ``Data`` fields as a dict of tensors (:func:`graph_tensors`),
    written in torch's format without importing torch (:mod:`qtlgraph.torch_file`);
    :func:`load_graph_dir` returns them as a ``Data``.
    """
    from qtlgraph.outputs import staged_dir
    from qtlgraph.runtime import versions, write_json

    with staged_dir(out, force) as tmp:
        # plain tensors, loadable with torch.load(weights_only=True) and without PyG
        torch_file.save(graph_arrays(built), tmp / "graph.pt")
        edges = _named_edges(built)
        edges.write_parquet(tmp / "edges.parquet")
        degrees = pl.concat([_bins_frame(built), built.degrees], how="horizontal")
        with gzip.open(tmp / "degrees.tsv.gz", "wb", compresslevel=3) as fh:
            degrees.write_csv(fh, separator="\t")
        summary_table(built.degrees, built.edge_types).to_csv(
            tmp / "summary.tsv", sep="\t", index=False
        )
        if graphml:
            write_graphml(edges, _bins_frame(built), tmp / "graph.graphml")
        write_json(tmp / "build.json", {**built.meta, "versions": versions()})
    return Path(out)


def write_graphml(edges: pl.DataFrame, bins: pl.DataFrame, path: Path) -> None:
    """GraphML of the bins that have edges (a MultiDiGraph keyed by edge type)."""
    import networkx as nx

    g = nx.MultiDiGraph()
    used = np.unique(
        np.concatenate([edges["source_bin"].to_numpy(), edges["target_bin"].to_numpy()])
    )
    sub = bins[used]
    g.add_nodes_from(
        (int(b), {"chrom": c, "start": int(s), "end": int(e)})
        for b, c, s, e in zip(used, sub["chrom"], sub["start"], sub["end"])
    )
    g.add_edges_from(
        (
            r["source_bin"],
            r["target_bin"],
            r["edge_type"],
            {k: v for k, v in r.items() if v is not None and k not in ("source_bin", "target_bin")},
        )
        for r in edges.iter_rows(named=True)
    )
    nx.write_graphml(g, path)


def load_graph_dir(path: str | Path) -> GraphDir:
    """Read a ``qtlgraph build`` directory.

    Returns:
        GraphDir: ``edges`` and ``degrees`` as pandas DataFrames, ``data`` the PyG
        ``Data``, ``meta`` the ``build.json`` dict.
    """
    import pandas as pd
    import torch

    from qtlgraph.runtime import read_json

    path = Path(path)
    missing = [
        f
        for f in ("graph.pt", "edges.parquet", "degrees.tsv.gz", "build.json")
        if not (path / f).is_file()
    ]
    if missing:
        raise InputError(
            f"{path}: not a graph directory (missing {', '.join(missing)}); "
            "make one with 'qtlgraph build'"
        )
    from qtlgraph.inputs import read_with  # damaged files: one InputError naming the file

    data = to_pyg(read_with(path / "graph.pt", "graph", lambda p: torch.load(p, weights_only=True)))
    edges = read_with(path / "edges.parquet", "edge table", pd.read_parquet)
    degrees = read_with(path / "degrees.tsv.gz", "degree table", lambda p: pd.read_csv(p, sep="\t"))
    return GraphDir(edges, degrees, data, read_json(path / "build.json"))
