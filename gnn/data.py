"""One PyG ``Data`` for all cell types: the disjoint union of per-cell-type QTL graphs.

Node ``cell_type * N + bin`` carries that cell type's bin embedding and accessibility
summary, its mark targets (NaN where unknown) and its split masks; edges come from that
cell type's QTL graph (edge types = marks, plus ``loop`` / ``neighbor`` when present).
Two layers: :func:`build_data` (pure arrays -> ``Data``) and :func:`load_graph_data`
(a manifest, one graph directory per cell type and an embedding cache -> ``Data``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qtlgraph.errors import InputError
from qtlgraph.gnn.features import (  # noqa: F401 (re-exported: the feature builders' old home)
    DISTANCE_CENTRES,
    DISTANCE_WIDTH,
    EDGE_ATTR_MODES,
    N_BASE_FEATURES,
    NodeStats,
    check_edge_attr,
    edge_features,
    feature_stats,
    node_stats,
    standardise,
    standardise_in_place,
    withhold_edge_attrs,
)
from qtlgraph.gnn.kmers import kmer_features, kmer_rows  # noqa: F401 (re-exported)


class CellEdges(NamedTuple):
    """Edges of one cell type's graph over bins (graph directory ``graph.pt`` fields).

    Shapes: source, target, type ``(E,)`` int64; attr ``(E, 5)`` float: log1p(n_qtl),
    -log10(min p), mean |beta|, max |beta|, signed distance in bp.
    """

    source: np.ndarray
    target: np.ndarray
    type: np.ndarray
    attr: np.ndarray


def neighbor_edges(chrom_of_bin: np.ndarray, type_id: int, bin_size: int) -> CellEdges:
    """Edges ``b-1 -> b`` and ``b+1 -> b`` between adjacent bins of the same chromosome.

    Shapes: chrom_of_bin ``(N,)`` int chromosome code per bin (bins sorted by chromosome).
    """
    b = np.flatnonzero(chrom_of_bin[1:] == chrom_of_bin[:-1])  # b and b+1 adjacent
    source = np.concatenate([b, b + 1])
    target = np.concatenate([b + 1, b])
    attr = np.zeros((len(source), 5))
    attr[:, 4] = np.where(source < target, bin_size, -bin_size)  # target - source midpoint
    return CellEdges(source, target, np.full(len(source), type_id, np.int64), attr)


def qtl_in_degree(edges: CellEdges, n_bins: int, qtl_types: Sequence[int]) -> np.ndarray:
    """Distinct QTL source bins per target bin (loop / neighbour edges not counted).

    Shapes: ``(n_bins,)`` int64.
    """
    keep = np.isin(edges.type, np.asarray(list(qtl_types), dtype=np.int64))
    key = np.unique(edges.target[keep].astype(np.int64) * n_bins + edges.source[keep])
    return np.bincount(key // n_bins, minlength=n_bins).astype(np.int64)


def _check(embeddings, access, targets, masks, edges) -> tuple[int, int]:
    shapes = {np.shape(e) for e in embeddings}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InputError(
            f"embeddings: expected shape (cell_types, bins, d), got per cell type {sorted(shapes)}"
        )
    C, N = len(embeddings), next(iter(shapes))[0]
    for name, arr in (("accessibility", access), ("targets", targets)):
        if arr.ndim != 3 or arr.shape[:2] != (C, N):
            raise InputError(f"{name}: expected shape ({C}, {N}, k), got {arr.shape}")
    for name, m in masks.items():
        if m.shape not in ((N,), (C, N)):
            raise InputError(f"mask {name!r}: expected shape ({N},) or ({C}, {N}), got {m.shape}")
    if len(edges) != C:
        raise InputError(f"edges: expected one edge set per cell type ({C}), got {len(edges)}")
    for c, e in enumerate(edges):
        for col in (e.source, e.target):
            if len(col) and (col.min() < 0 or col.max() >= N):
                raise InputError(f"edges of cell type {c}: bin ids outside [0, {N})")
    return C, N


def _union_edges(edges: Sequence[CellEdges], n_bins: int) -> CellEdges:
    """Per-cell-type edges as one edge set over node ids ``cell_type * n_bins + bin``."""
    offsets = [c * n_bins for c in range(len(edges))]
    return CellEdges(
        np.concatenate([e.source.astype(np.int64) + o for e, o in zip(edges, offsets)]),
        np.concatenate([e.target.astype(np.int64) + o for e, o in zip(edges, offsets)]),
        np.concatenate([e.type.astype(np.int64) for e in edges]),
        np.concatenate([np.asarray(e.attr, np.float64).reshape(-1, 5) for e in edges]),
    )


def build_data(
    embeddings: np.ndarray,
    access: np.ndarray,
    targets: np.ndarray,
    masks: dict[str, np.ndarray],
    edges: Sequence[CellEdges],
    *,
    edge_types: Sequence[str],
    qtl_types: Sequence[int] | None = None,
    edge_attr: str = "all",
    stats: bool = False,
    shared: np.ndarray | None = None,
):
    """The disjoint union of the per-cell-type graphs as one PyG ``Data``.

    ``x`` is filled in place (one float32 array, no copies of the whole genome's features).

    Args:
        embeddings: bin embeddings per cell type (NaN -> 0): a (C, N, d) array or C
            (N, d) arrays of any float dtype (memory maps are read one cell type at a time).
        access: accessibility summary per cell type and bin (NaN -> 0).
        targets: per-bin mark targets (NaN = unknown, masked from losses).
        masks: ``train`` / ``valid`` / ``test`` boolean masks, per bin or per cell type and bin.
        edges: one :class:`CellEdges` per cell type, bin ids in ``[0, N)``.
        edge_types: names indexed by ``CellEdges.type``.
        qtl_types: the edge types counted in the QTL in-degree (default: all but
            ``loop`` and ``neighbor``).
        edge_attr: ``all``, or ``none``: edge features are the edge type only
            (:func:`withhold_edge_attrs`) and the node statistics degrees only.
        stats: append the node statistics (:func:`node_stats`) to ``x`` (the
            ``local-stats`` model), after the embedding and accessibility columns.
        shared: per-bin columns the same for every cell type (k-mer counts, ``(N, W)``),
            placed after the embedding.

    Returns:
        ``Data`` with ``x (C*N, d[+W]+k[+S])``, ``y (C*N, M)``, ``<name>_mask (C*N,)``,
        ``edge_index (2, E)``, ``edge_attr (E, F)``, ``edge_type (E,)``,
        ``cell_type``, ``bin``, ``in_degree`` ``(C*N,)``, ``edge_types`` and
        ``node_stat_names`` (the ``S`` appended columns; empty without ``stats``).
    """
    import torch
    from torch_geometric.data import Data

    C, N = _check(embeddings, access, targets, masks, edges)
    check_edge_attr(edge_attr)
    if qtl_types is None:
        qtl_types = [i for i, t in enumerate(edge_types) if t not in ("loop", "neighbor")]
    union = _union_edges(edges, N)
    found = node_stats(union, C * N, edge_types, edge_attr=edge_attr) if stats else None
    x = _node_features(embeddings, shared, access, found.values if stats else None)
    data = Data(
        x=torch.from_numpy(x),
        y=torch.from_numpy(np.asarray(targets, np.float32).reshape(C * N, -1)),
    )
    for name, m in masks.items():
        m = np.broadcast_to(np.asarray(m, bool), (C, N))
        data[f"{name}_mask"] = torch.from_numpy(m.reshape(-1).copy())
    data.edge_index = torch.from_numpy(np.stack([union.source, union.target]))
    data.edge_type = torch.from_numpy(union.type)
    feats = edge_features(union.attr, union.type, len(edge_types))
    if edge_attr == "none":
        feats = np.ascontiguousarray(withhold_edge_attrs(feats, len(edge_types)))
    data.edge_attr = torch.from_numpy(feats)
    deg = np.concatenate([qtl_in_degree(e, N, qtl_types) for e in edges])
    data.in_degree = torch.from_numpy(deg)
    data.cell_type = torch.arange(C).repeat_interleave(N)
    data.bin = torch.arange(N).repeat(C)
    data.edge_types = list(edge_types)
    data.node_stat_names = found.names if stats else []
    data.num_nodes = C * N
    return data


def _node_features(embeddings, shared, access, stats) -> np.ndarray:
    """``[embedding, shared, access, stats]`` per node, filled into one float32 array, NaN -> 0.

    Shapes: C x (N, d), (N, W) or None, (C, N, k), (C*N, S) or None -> (C*N, d+W+k+S).
    """
    C, N, d = len(embeddings), *np.shape(embeddings[0])
    blocks = [(np.shape(shared)[1] if shared is not None else 0), access.shape[2]]
    blocks.append(stats.shape[1] if stats is not None else 0)
    x = np.empty((C * N, d + sum(blocks)), np.float32)
    bounds = np.cumsum([d, *blocks])  # where shared, access and stats start and end
    for c in range(C):
        rows = x[c * N : (c + 1) * N]
        rows[:, :d] = embeddings[c]
        if shared is not None:
            rows[:, bounds[0] : bounds[1]] = shared
        rows[:, bounds[1] : bounds[2]] = access[c]
    if stats is not None:
        x[:, bounds[2] :] = stats
    return np.nan_to_num(x, copy=False)


class GraphInputs(NamedTuple):
    """What :func:`load_graph_data` returns: the ``Data`` and the names indexing it."""

    data: object
    cell_types: list[str]
    marks: list[str]
    edge_types: list[str]
    bin_size: int


def match_graph_dirs(specs: Sequence[str], cell_types: Sequence[str]) -> dict[str, Path]:
    """Map ``--graph`` values to cell types: ``NAME=DIR``, or ``DIR`` whose ``build.json``
    name equals a cell type or contains it as a ``_``/``-``/``.``-separated word.
    """
    from qtlgraph.runtime import read_json

    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            path = spec
            built = str(read_json(Path(path) / "build.json").get("name", ""))
            words = set(re.split(r"[_\-.]", built)) | {built}
            hits = [c for c in cell_types if c in words]
            if len(hits) != 1:
                raise InputError(
                    f"--graph {spec}: build name {built!r} names no single cell type "
                    f"of {list(cell_types)}; write --graph CELL_TYPE={spec}"
                )
            name = hits[0]
        if name not in cell_types:
            raise InputError(
                f"--graph {spec}: {name!r} is not a cell type of the dataset {list(cell_types)}"
            )
        if name in out:
            raise InputError(f"--graph: two graph directories for cell type {name!r}")
        out[name] = Path(path)
    missing = [c for c in cell_types if c not in out]
    if missing:
        raise InputError(f"--graph: no graph directory for cell type(s) {missing}")
    return out


def _graph_edges(path: Path, n_bins: int, names: list[str]) -> CellEdges:
    """One graph directory's edges, edge types re-indexed into the shared list ``names``."""
    from qtlgraph.graph import load_graph_dir

    g = load_graph_dir(path).data
    if int(g.num_nodes) != n_bins:
        raise InputError(f"{path}/graph.pt: {g.num_nodes} bins, the dataset has {n_bins}")
    for t in g.edge_types:
        if t not in names:
            names.append(t)
    remap = np.array([names.index(t) for t in g.edge_types], dtype=np.int64)
    ei = g.edge_index.numpy()
    return CellEdges(ei[0], ei[1], remap[g.edge_type.numpy()], g.edge_attr.numpy())


def split_masks(split, index, cell_types: Sequence[str]) -> dict[str, np.ndarray]:
    """``(C, N)`` masks; a held-out cell type is absent from train / valid and is the only
    cell type scored in test.
    """
    masks = {
        k: np.broadcast_to(v, (len(cell_types), len(v))).copy()
        for k, v in split.bin_masks(index).items()
    }
    held = split.held_out_cell_type
    if held is not None:
        c = list(cell_types).index(held)
        masks["train"][c] = masks["valid"][c] = False
        masks["test"][np.arange(len(cell_types)) != c] = False
    return masks


def _chrom_bounds(index) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray(index.n_bins_per_chrom, dtype=np.int64)
    ends = np.cumsum(counts)
    return ends - counts, ends


def load_graph_data(
    dataset_path: str | Path,
    graph_specs: Sequence[str],
    embed_dir: str | Path,
    *,
    neighbor: bool = False,
    shuffle: bool = False,
    seed: int = 0,
    holdout_cell_type: str | None = None,
    kmer: int = 0,
    kmer_top: int = 0,
    scale: bool = True,
    edge_attr: str = "all",
    node_stats: bool = False,
) -> GraphInputs:
    """A manifest, one graph directory per cell type and an embedding cache -> ``Data``.

    Node features: the cached bin embedding and log1p of the quantile-normalised
    accessibility mean; targets: log1p of each mark's bin mean (NaN kept).

    Args:
        dataset_path: dataset manifest (TOML).
        graph_specs: ``--graph`` values (see :func:`match_graph_dirs`).
        embed_dir: ``qtlgraph embed`` output.
        neighbor: add ``neighbor`` edges between adjacent bins.
        shuffle: edge-shuffle control (:func:`qtlgraph.gnn.controls.shuffle_sources`).
        seed: seed of the shuffle.
        holdout_cell_type: train on the other cell types, score this one.
        kmer: append the bin's canonical k-mer spectrum of this word length to the node
            features (0: none; see :mod:`qtlgraph.gnn.kmers`).
        kmer_top: keep only this many most over-represented k-mers (0: all).
        scale: standardise every node feature over the training nodes (:func:`standardise`).
        edge_attr: ``all``, or ``none`` to withhold the edge attributes (see :func:`build_data`).
        node_stats: append the node statistics to the node features (:func:`node_stats`).
    """
    from dataclasses import replace

    from qtlgraph.encoders.embed import open_embeddings
    from qtlgraph.genome import BinIndex
    from qtlgraph.gnn.controls import shuffle_sources
    from qtlgraph.manifest import load_dataset
    from qtlgraph.tracks import dataset_accessibility, dataset_bin_targets

    if kmer < 0 or kmer_top < 0:
        raise InputError(f"--kmer {kmer} / --kmer-top {kmer_top}: expected non-negative integers")
    ds = load_dataset(dataset_path)
    names = list(ds.cell_type_names)
    if holdout_cell_type is not None and holdout_cell_type not in names:
        raise InputError(f"--holdout-cell-type {holdout_cell_type}: not a cell type of {names}")
    dirs = match_graph_dirs(graph_specs, names)
    emb, meta = open_embeddings(embed_dir)
    missing = [c for c in names if c not in meta.get("cell_types", [])]
    if missing:
        raise InputError(f"{embed_dir}/embed.json: no embeddings for cell type(s) {missing}")
    index = BinIndex(ds.genome, int(meta["bin_size"]))
    if emb.shape[1] != index.n_bins:
        raise InputError(
            f"{embed_dir}/embeddings.npy: {emb.shape[1]} bins, the dataset has {index.n_bins}"
        )
    emb = [emb[meta["cell_types"].index(c)] for c in names]  # memory maps, read per cell type
    edge_types: list[str] = []
    edges = [_graph_edges(dirs[c], index.n_bins, edge_types) for c in names]
    starts, ends = _chrom_bounds(index)
    if shuffle:
        edges = [shuffle_sources(e, starts, ends, seed + i) for i, e in enumerate(edges)]
    qtl_types = [i for i, t in enumerate(edge_types) if t != "loop"]
    if neighbor:
        edge_types.append("neighbor")
        chrom = np.repeat(np.arange(len(starts)), ends - starts)
        nb = neighbor_edges(chrom, len(edge_types) - 1, index.bin_size)
        edges = [CellEdges(*(np.concatenate([a, b]) for a, b in zip(e, nb))) for e in edges]
    access = np.log1p(np.maximum(dataset_accessibility(ds, index), 0.0))[:, :, None]
    targets = dataset_bin_targets(ds, index).transpose(0, 2, 1)
    split = replace(ds.split, held_out_cell_type=holdout_cell_type or ds.split.held_out_cell_type)
    masks = split_masks(split, index, names)
    words = None
    if kmer:  # sequence only: the same for every cell type
        words, kmer_columns = kmer_features(ds, index, kmer, kmer_top)
    data = build_data(
        emb,
        access,
        targets,
        masks,
        edges,
        edge_types=edge_types,
        qtl_types=qtl_types,
        edge_attr=edge_attr,
        stats=node_stats,
        shared=words,
    )
    import torch

    if kmer:  # what variant scoring needs to recompute a bin's features from its sequence
        data.kmer = kmer
        data.kmer_columns = (
            None if kmer_columns is None else torch.from_numpy(np.asarray(kmer_columns))
        )
    if scale:
        mean, sd = feature_stats(data.x.numpy(), data.train_mask.numpy())
        standardise_in_place(data.x.numpy(), mean, sd)  # data.x shares its memory
        data.x_mean, data.x_scale = torch.from_numpy(mean), torch.from_numpy(sd)
    return GraphInputs(data, names, list(ds.marks), edge_types, index.bin_size)


def run_graph_data(config: dict, graph_specs: Sequence[str] | None = None) -> GraphInputs:
    """The graph data of a ``qtlgraph train`` run, rebuilt with every option its
    ``config.json`` records (edge-shuffle seed, k-mers, scaling, withheld edge attributes,
    node statistics), so the model sees the features it was trained on.

    Args:
        config: the run's ``config.json``.
        graph_specs: ``--graph`` values overriding ``config["data"]["graphs"]``.
    """
    d = config["data"]
    return load_graph_data(
        d["dataset"],
        list(graph_specs if graph_specs is not None else d["graphs"]),
        d["embeddings"],
        neighbor=d.get("neighbor_edges", False),
        shuffle=d.get("shuffle_edges", False),
        seed=config.get("options", {}).get("seed", 0),
        holdout_cell_type=d.get("holdout_cell_type"),
        kmer=d.get("kmer", 0),
        kmer_top=d.get("kmer_top", 0),
        scale=d.get("scale", False),
        edge_attr=d.get("edge_attr", "all"),
        node_stats=bool(d.get("node_stats")),
    )
