"""A QTL graph on disk: the graph directory written from a built graph and read back.

``graph.pt`` (the PyG ``Data`` fields as plain tensors), ``edges.parquet``,
``degrees.tsv.gz``, ``summary.tsv``, ``build.json`` and, on request, ``graph.graphml``;
the layout is in ``docs/architecture.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from qtlgraph import torch_file
from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex
from qtlgraph.graph_stats import write_summary_tsv

EDGE_ATTRS = ("log1p_n_qtl", "neg_log10_min_p", "mean_abs_beta", "max_abs_beta", "mean_distance")


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
    chrom = pl.Series("chrom", idx.chroms, dtype=pl.Utf8).gather(codes)
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
        degrees.write_csv(
            tmp / "degrees.tsv.gz", separator="\t", compression="gzip", compression_level=3
        )
        write_summary_tsv(built.degrees, built.edge_types, tmp / "summary.tsv")
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
