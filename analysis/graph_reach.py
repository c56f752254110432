"""Graph reach: how far along the genome a graph model carries a change at one bin.

A sequence model's receptive field is bounded by its window; a GNN's by the QTL edges it
passes messages over. :func:`graph_reach` measures it the way
:func:`qtlgraph.analysis.receptive_field.perturbation_probe` measures a sequence model's span:
``graph_reach(model, X, edge_index, sources, ...)`` perturbs the features of one source
node at a time, runs the whole graph forward and records ``|f(x') - f(x)|`` at every
node and output (mark). :func:`qtlgraph.analysis.analytic_reach.analytic_reach` (also
importable from here) gives the bound the edges allow: the largest genomic distance
reachable from a node in ``k`` hops.

``model(X, edge_index[, edge_attr]) -> (num_nodes, marks)`` is any node regressor
(:class:`qtlgraph.gnn.models.GraphRegressor` included). Nodes carry a bin start (bp) and a
chromosome code, and optionally a cell type (the project's graph is the disjoint union
of one graph per cell type, node ``cell_type * n_bins + bin``).

Perturbations (``mode``):

* ``"direction"`` (default): ``x'[s] = x[s] + delta * sigma * u``, with ``sigma`` the
  per-feature standard deviation over all nodes and ``u ~ N(0, I)`` one random direction
  (seeded) shared by every source, so sources differ only in where they sit.
* ``"swap"``: ``x'[s]`` is the feature vector of another node drawn at random (seeded),
  a realistic bin embedding rather than an off-manifold shift.

Tolerance (as the sequence probes): an effect counts when it exceeds
``max(abs_tol, rel_tol * largest effect)`` with ``rel_tol`` defaulting to ``100 * eps`` of
the dtype the probe runs in. Nodes the change cannot reach are computed bit-identically
in both forward passes (the base pass is run at the same batch shape), so their
difference is exactly zero.

Distances are between bin starts on the same chromosome (bp, multiples of the bin
size); a target on another chromosome has distance NaN. The reach of a run is the
largest such distance among affected targets (``max_distance``) and the ``quantile`` of
them (``quantile_distance``), the source's own node (distance 0) left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from qtlgraph.analysis.analytic_reach import (
    AnalyticReach,
    analytic_reach,
    bfs_depth,
    check_graph,
    check_nodes,
    select_sources,
)
from qtlgraph.errors import InputError

__all__ = [
    "MODES",
    "AnalyticReach",
    "ReachResult",
    "analytic_reach",
    "bfs_depth",
    "graph_reach",
    "perturbed_features",
    "select_sources",
]

MODES = ("direction", "swap")


class ReachResult(NamedTuple):
    """What :func:`graph_reach` measured.

    Attributes:
        sources: (S,) perturbed node ids.
        pair_source: (K,) index into ``sources`` of each affected target.
        target: (K,) affected node id (the source's own node excluded).
        distance: (K,) bp between the target's and the source's bin starts (NaN when on
            another chromosome).
        hops: (K,) shortest path length from the source over ``edge_index`` (-1 when not
            reachable within ``max_hops``).
        effect: (K, M) absolute change of every output at the target.
        self_effect: (S, M) absolute change at the source's own node.
        n_affected: (S,) affected targets per source (same chromosome and cell type).
        source_reach: (S,) largest distance per source (0 when none).
        max_distance: largest distance over all sources (0 when nothing is affected).
        quantile_distance: ``quantile`` of the distances (0 when nothing is affected).
        quantile: the quantile used.
        threshold: absolute effect above which a node counts as affected.
        n_other_chrom: affected targets on another chromosome than their source.
        n_other_cell_type: affected targets of another cell type than their source.
        mode: perturbation mode.
        delta: perturbation scale (``direction`` mode).
        bin_size: bp per bin.
    """

    sources: np.ndarray
    pair_source: np.ndarray
    target: np.ndarray
    distance: np.ndarray
    hops: np.ndarray
    effect: np.ndarray
    self_effect: np.ndarray
    n_affected: np.ndarray
    source_reach: np.ndarray
    max_distance: float
    quantile_distance: float
    quantile: float
    threshold: float
    n_other_chrom: int
    n_other_cell_type: int
    mode: str
    delta: float
    bin_size: int


def _check_sources(sources, num_nodes: int) -> np.ndarray:
    s = np.atleast_1d(np.asarray(sources, dtype=np.int64))
    if s.ndim != 1 or s.size == 0:
        raise InputError("sources: expected a non-empty list of node ids")
    bad = s[(s < 0) | (s >= num_nodes)]
    if bad.size:
        raise InputError(f"sources: node id {int(bad[0])} outside [0, {num_nodes})")
    return s


def perturbed_features(
    X: torch.Tensor, sources: np.ndarray, mode: str, delta: float, seed: int
) -> torch.Tensor:
    """The replacement feature row of every source (see the module docstring).

    Shapes: X ``(N, F)`` -> ``(S, F)``.
    """
    gen = torch.Generator().manual_seed(seed)
    src = torch.from_numpy(sources)
    if mode == "direction":
        sigma = X.std(dim=0) if X.shape[0] > 1 else torch.ones_like(X[0])
        u = torch.randn(X.shape[1], generator=gen, dtype=torch.float64).to(X.dtype)
        return X[src] + delta * sigma * u
    other = torch.randint(0, X.shape[0] - 1, (len(sources),), generator=gen)
    other = other + (other >= src).long()  # any node but the source itself
    return X[other].clone()


def _batched_graph(edge_index: torch.Tensor, edge_attr, num_nodes: int, copies: int):
    """``copies`` disjoint copies of the graph (node ``k * N + v`` is node ``v`` of copy ``k``)."""
    offsets = (
        torch.arange(copies, dtype=edge_index.dtype).repeat_interleave(edge_index.shape[1])
        * num_nodes
    )
    ei = edge_index.repeat(1, copies) + offsets
    ea = None if edge_attr is None else edge_attr.repeat(copies, 1)
    return ei, ea


def _forward(net: nn.Module, x: torch.Tensor, edge_index: torch.Tensor, edge_attr) -> torch.Tensor:
    y = net(x, edge_index) if edge_attr is None else net(x, edge_index, edge_attr)
    if not isinstance(y, torch.Tensor) or y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise InputError(f"graph reach: the model must return (num_nodes, outputs), got {shape}")
    return y.reshape(x.shape[0], -1)


def _effects(net, X, edge_index, edge_attr, sources, rows, opts, progress):
    """Sparse effects: (source index, node, |change| per output) above ``abs_tol``."""
    from tqdm import tqdm

    n, b = X.shape[0], min(opts["batch_size"], len(sources))
    ei, ea = _batched_graph(edge_index, edge_attr, n, b)
    if opts["prepare_graph"] is not None:  # e.g. the sparse adjacency, built once per batch shape
        ei = opts["prepare_graph"](ei, n * b)
    abs_tol = opts["abs_tol"]
    xb = X.repeat(b, 1)
    with torch.no_grad():
        base = _forward(net, xb, ei, ea).view(b, n, -1)
        found = []
        for i in tqdm(
            range(0, len(sources), b), desc="graph reach", disable=not progress, leave=False
        ):
            idx = np.arange(i, min(i + b, len(sources)))
            pad = np.concatenate(
                [idx, np.full(b - len(idx), idx[-1])]
            )  # one batch shape throughout
            x = xb.clone()
            x[torch.from_numpy(np.arange(b) * n + sources[pad])] = rows[torch.from_numpy(pad)]
            diff = (_forward(net, x, ei, ea).view(b, n, -1) - base).abs()[: len(idx)]
            k, node = torch.nonzero(diff.amax(dim=2) > abs_tol, as_tuple=True)
            found.append((idx[k.numpy()], node.numpy(), diff[k, node].double().numpy()))
    cols = list(zip(*found))
    return np.concatenate(cols[0]), np.concatenate(cols[1]), np.concatenate(cols[2])


def _model_dtype(model: nn.Module) -> torch.dtype:
    p = next(iter(model.parameters()), None)
    return p.dtype if p is not None else torch.get_default_dtype()


def _prepare(model: nn.Module, precision: torch.dtype | None) -> nn.Module:
    """The model in eval mode, converted to ``precision`` on a copy when it differs."""
    import copy

    if precision is None or precision == _model_dtype(model):
        return model.eval()
    try:
        return copy.deepcopy(model).to(precision).eval()
    except (NotImplementedError, RuntimeError) as exc:
        raise InputError(
            f"graph reach: cannot copy the model to {precision} ({exc}); use precision=None"
        ) from None


def graph_reach(
    model: nn.Module,
    X: torch.Tensor,
    edge_index: torch.Tensor,
    sources,
    *,
    bin_start,
    chrom,
    bin_size: int,
    cell_type=None,
    edge_attr: torch.Tensor | None = None,
    mode: str = "direction",
    delta: float = 1.0,
    quantile: float = 0.95,
    rel_tol: float | None = None,
    abs_tol: float = 1e-30,
    max_hops: int = 16,
    batch_size: int = 1,
    prepare_graph: Callable | None = None,
    precision: torch.dtype | None = None,
    seed: int = 0,
    progress: bool = False,
) -> ReachResult:
    """Perturb each source node's features and record which nodes' outputs move, and how far away.

    Args:
        model: ``model(X, edge_index[, edge_attr]) -> (N, M)`` node regressor.
        X: node features.
        edge_index: directed edges, row 0 = source, row 1 = target.
        sources: node ids to perturb, one at a time.
        bin_start: bp start of every node's bin.
        chrom: chromosome code (any int or str) of every node.
        bin_size: bp per bin (stored with the result).
        cell_type: cell type of every node, or None (one cell type).
        edge_attr: edge features passed to the model, or None.
        mode: ``direction`` or ``swap`` (module docstring).
        delta: scale of the ``direction`` perturbation, in feature standard deviations.
        quantile: distance quantile reported as ``quantile_distance``.
        rel_tol: relative part of the "non-zero" tolerance (module docstring).
        abs_tol: absolute part of the "non-zero" tolerance (module docstring).
        max_hops: longest path searched for the hop count of an affected target.
        batch_size: sources per forward pass (each pass holds that many graph copies).
        prepare_graph: ``(edge_index, num_nodes) -> graph`` the model reads in place of
            the edge index (e.g. its sparse adjacency), called once; None passes the index.
        precision: dtype to run in (on a copy of the model); None keeps the model's.
        seed: seeds the direction or the swapped-in nodes.
        progress: show a tqdm bar.

    Shapes:
        X: (N, F); edge_index: (2, E); edge_attr: (E, D); bin_start, chrom, cell_type: (N,)
    """
    n = X.shape[0] if isinstance(X, torch.Tensor) else 0
    check_graph(X, edge_index, n)
    start = check_nodes("bin_start", bin_start, n).astype(np.float64)
    chrom = check_nodes("chrom", chrom, n)
    group = np.zeros(n, np.int64) if cell_type is None else check_nodes("cell_type", cell_type, n)
    sources = _check_sources(sources, n)
    if mode not in MODES:
        raise InputError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    if not (delta > 0 and 0 < quantile <= 1 and batch_size >= 1):
        raise InputError(
            f"delta {delta} > 0, 0 < quantile {quantile} <= 1 and "
            f"batch_size {batch_size} >= 1 expected"
        )
    net = _prepare(model, precision)
    dtype = _model_dtype(net)
    X = X.to(dtype)
    edge_index = torch.as_tensor(edge_index, dtype=torch.long)
    edge_attr = None if edge_attr is None else edge_attr.to(dtype)
    rows = perturbed_features(X, sources, mode, delta, seed)
    run = dict(batch_size=batch_size, abs_tol=abs_tol, prepare_graph=prepare_graph)
    k, node, eff = _effects(net, X, edge_index, edge_attr, sources, rows, run, progress)
    tol = 100 * torch.finfo(dtype).eps if rel_tol is None else rel_tol
    threshold = max(abs_tol, tol * float(eff.max(initial=0.0)))
    keep = eff.max(axis=1, initial=0.0) > threshold
    k, node, eff = k[keep], node[keep], eff[keep]
    own = node == sources[k]
    self_effect = np.zeros((len(sources), eff.shape[1] if eff.ndim == 2 else 1))
    self_effect[k[own]] = eff[own]
    k, node, eff = k[~own], node[~own], eff[~own]
    return _summarise(
        sources,
        k,
        node,
        eff,
        self_effect,
        start,
        chrom,
        group,
        edge_index,
        dict(
            quantile=quantile,
            threshold=threshold,
            mode=mode,
            delta=float(delta),
            bin_size=int(bin_size),
            max_hops=max_hops,
        ),
    )


def _summarise(
    sources, k, node, eff, self_effect, start, chrom, group, edge_index, opts
) -> ReachResult:
    src = sources[k]
    same_chrom = chrom[node] == chrom[src]
    same_group = group[node] == group[src]
    distance = np.where(same_chrom, np.abs(start[node] - start[src]), np.nan)
    hops = np.full(len(node), -1, dtype=np.int64)
    for i in np.unique(k):
        at = k == i
        hops[at] = bfs_depth(edge_index, len(start), int(sources[i]), opts["max_hops"])[node[at]]
    local = same_chrom & same_group
    n_affected = np.bincount(k[local], minlength=len(sources))
    source_reach = np.zeros(len(sources))
    np.maximum.at(source_reach, k[local], distance[local])
    d = distance[local]
    q = opts["quantile"]
    return ReachResult(
        sources,
        k,
        node,
        distance,
        hops,
        eff,
        self_effect,
        n_affected,
        source_reach,
        float(d.max(initial=0.0)),
        float(np.quantile(d, q)) if d.size else 0.0,
        q,
        opts["threshold"],
        int((~same_chrom).sum()),
        int((~same_group).sum()),
        opts["mode"],
        opts["delta"],
        opts["bin_size"],
    )
