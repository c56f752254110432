"""What a graph's edges allow a message-passing model to reach, without running one.

:func:`analytic_reach` is the bound of :func:`qtlgraph.analysis.graph_reach.graph_reach`:
the largest genomic distance (bp, between bin starts) reachable from every node in
``1..k`` hops. :func:`bfs_depth` counts hops from one node; :func:`select_sources` draws
the nodes the probe perturbs. The input checks here are shared with the probe.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from qtlgraph.errors import InputError
from qtlgraph.gnn.scoring import downstream


class AnalyticReach(NamedTuple):
    """Largest genomic distance the edges allow within ``k`` hops.

    Attributes:
        hops: (K,) ``1..K``.
        max_bp: (K,) largest reach over all nodes.
        quantile_bp: (K,) ``quantile`` of the reach over nodes with an outgoing edge.
        per_node: (N, K) reach of every node (bp; 0 for a node with no edge).
        quantile: the quantile used.
        n_cross_chrom: edges between chromosomes (left out: they have no distance).
    """

    hops: np.ndarray
    max_bp: np.ndarray
    quantile_bp: np.ndarray
    per_node: np.ndarray
    quantile: float
    n_cross_chrom: int


def check_graph(X, edge_index, num_nodes: int) -> None:
    """InputError unless ``X`` is a (num_nodes, F) tensor and ``edge_index`` (2, E) in range."""
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        shape = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
        raise InputError(f"graph reach X: expected a tensor (num_nodes, features), got {shape}")
    ei = torch.as_tensor(edge_index)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise InputError(f"edge_index: expected shape (2, E), got {tuple(ei.shape)}")
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= num_nodes):
        raise InputError(f"edge_index: node ids outside [0, {num_nodes})")


def check_nodes(name: str, arr, num_nodes: int) -> np.ndarray:
    """``arr`` as an array, InputError unless it holds one value per node."""
    arr = np.asarray(arr)
    if arr.shape != (num_nodes,):
        raise InputError(f"{name}: expected one value per node ({num_nodes},), got {arr.shape}")
    return arr


def bfs_depth(edge_index, num_nodes: int, source: int, max_hops: int) -> np.ndarray:
    """Hops from ``source`` to every node along the edges (-1 beyond ``max_hops``).

    The breadth-first search is :func:`qtlgraph.gnn.scoring.downstream`, shared with variant
    scoring.

    Shapes: edge_index ``(2, E)``, rows = source, target -> ``(num_nodes,)`` int16.
    """
    down = downstream(torch.as_tensor(edge_index).cpu().numpy(), [source], max_hops)
    depth = np.full(num_nodes, -1, dtype=np.int16)
    depth[down.nodes] = down.depth
    return depth


def analytic_reach(
    edge_index, bin_start, chrom, hops: int, *, quantile: float = 0.95
) -> AnalyticReach:
    """Largest distance (bp, between bin starts) reachable from every node in ``1..hops`` hops.

    Dynamic programming over the edge list: the lowest and highest bin start reachable
    within ``k`` hops is the source's own, or the lowest / highest of its targets within
    ``k - 1`` hops. Edges between chromosomes are left out (counted in ``n_cross_chrom``).

    Args:
        edge_index: directed edges, row 0 = source.
        bin_start: bp start of every node's bin.
        chrom: chromosome code of every node.
        hops: largest number of hops (a GNN's message-passing layers).
        quantile: quantile over the nodes with an outgoing edge.

    Shapes:
        edge_index: (2, E); bin_start, chrom: (N,) -> per_node (N, hops)
    """
    start = torch.as_tensor(np.asarray(bin_start, dtype=np.float64))
    n = len(start)
    chrom = check_nodes("chrom", chrom, n)
    ei = torch.as_tensor(edge_index, dtype=torch.long)
    check_graph(start[:, None], ei, n)
    if hops < 1 or not 0 < quantile <= 1:
        raise InputError(f"hops {hops} >= 1 and 0 < quantile {quantile} <= 1 expected")
    same = torch.from_numpy(chrom[ei[0].numpy()] == chrom[ei[1].numpy()])
    src, dst = ei[0][same], ei[1][same]
    lo, hi, per_node = start.clone(), start.clone(), []
    for _ in range(hops):
        lo = lo.scatter_reduce(0, src, lo[dst], reduce="amin")
        hi = hi.scatter_reduce(0, src, hi[dst], reduce="amax")
        per_node.append(torch.maximum(start - lo, hi - start).numpy())
    per_node = np.stack(per_node, axis=1)
    has_out = np.bincount(ei[0].numpy(), minlength=n) > 0
    qs = np.quantile(per_node[has_out], quantile, axis=0) if has_out.any() else np.zeros(hops)
    return AnalyticReach(
        np.arange(1, hops + 1),
        per_node.max(axis=0),
        np.asarray(qs, dtype=np.float64),
        per_node,
        quantile,
        int((~same).sum()),
    )


def select_sources(
    edge_index, num_nodes: int, n: int, seed: int = 0, candidates=None
) -> np.ndarray:
    """``n`` distinct random nodes with at least one outgoing edge (sorted; fewer when fewer exist).

    Args:
        edge_index: directed edges, row 0 = source.
        num_nodes: number of nodes.
        n: how many.
        seed: seeds the draw.
        candidates: optional (N,) bool mask the sources must lie in.
    """
    ei = torch.as_tensor(edge_index).cpu().numpy()
    ok = np.bincount(ei[0], minlength=num_nodes) > 0
    if candidates is not None:
        ok &= np.asarray(candidates, bool)
    pool = np.flatnonzero(ok)
    if pool.size == 0:
        raise InputError("graph reach: no node with an outgoing edge to perturb")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(n, pool.size), replace=False))
