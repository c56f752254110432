"""Propagating a changed node embedding through a trained graph model, and which edges carried it.

A variant changes one bin's embedding per cell type. With ``hops`` message-passing layers
the change can reach only nodes within ``hops`` edges downstream (source -> target) of
the changed nodes; every other node's output is unchanged by construction. The outputs of
those downstream nodes depend on their own ``hops``-hop in-neighbourhood, so the model is
run on that subgraph only, which gives exactly the whole-graph result (each node at depth
``< hops`` in the subgraph keeps all its incoming edges).

Attribution is by ablation: each edge that can carry the change (source downstream of a
changed node at depth ``< hops``, target downstream too) is removed in turn, the change is
recomputed, and ``carried = change - change without the edge`` at every downstream node.
It works for every layer type (``graphconv`` / ``sage`` aggregate an unweighted mean, so
there is no per-edge weight to differentiate). Removing an edge also changes the mean's
denominator at its target, so ``carried`` is the edge's whole contribution, not a share
that sums to the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch


class Downstream(NamedTuple):
    """Nodes reachable from the changed nodes along edges, within ``hops`` edges.

    Shapes: nodes, depth, parent ``(A,)`` int64; ``parent`` is the previous node on one
    shortest path (``-1`` for the changed nodes themselves).
    """

    nodes: np.ndarray
    depth: np.ndarray
    parent: np.ndarray


class VariantEffect(NamedTuple):
    """Model outputs before and after the change at the downstream nodes.

    Shapes: nodes, depth, parent ``(A,)``; ref, alt, delta ``(A, n_out)`` float64 (``delta =
    alt - ref``).
    """

    nodes: np.ndarray
    depth: np.ndarray
    parent: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    delta: np.ndarray


class EdgeAttribution(NamedTuple):
    """Change carried by each ablated link (all edges between one source and one target,
    e.g. one per mark), measured at each downstream node.

    Shapes: edges: K arrays of int64 indices into the full ``edge_index``; carried ``(K, A, n_out)``
    float64, node order as in :class:`VariantEffect`; ``complete`` is False when ``max_edges``
    cut the list of candidate edges.
    """

    edges: np.ndarray
    carried: np.ndarray
    complete: bool


def downstream(edge_index: np.ndarray, start: Sequence[int], hops: int) -> Downstream:
    """Breadth-first search along edge direction (row 0 -> row 1) from ``start``.

    Shapes: edge_index ``(2, E)`` int; start ``(S,)`` -> :class:`Downstream` over ``A >= S`` nodes.
    """
    src, dst = np.asarray(edge_index[0], np.int64), np.asarray(edge_index[1], np.int64)
    start = np.unique(np.asarray(start, np.int64))
    nodes, depth, parent = [start], [np.zeros(len(start), np.int64)], [np.full(len(start), -1)]
    seen = set(start.tolist())
    frontier = start
    for d in range(1, hops + 1):
        sel = np.flatnonzero(np.isin(src, frontier))
        new_t, first = np.unique(dst[sel], return_index=True)
        keep = np.array([t not in seen for t in new_t.tolist()], dtype=bool)
        frontier = new_t[keep]
        if not len(frontier):
            break
        seen.update(frontier.tolist())
        nodes.append(frontier)
        depth.append(np.full(len(frontier), d))
        parent.append(src[sel][first][keep])
    return Downstream(
        np.concatenate(nodes), np.concatenate(depth), np.concatenate(parent).astype(np.int64)
    )


def node_path(down: Downstream, node: int) -> list[int]:
    """The shortest path from a changed node to ``node`` (node ids, changed node first)."""
    where = {int(n): i for i, n in enumerate(down.nodes)}
    path = [int(node)]
    while down.parent[where[path[-1]]] >= 0:
        path.append(int(down.parent[where[path[-1]]]))
    return path[::-1]


def _forward(model, x, edge_index, edge_attr) -> torch.Tensor:
    """``model(x, edge_index, edge_attr)``; adjacency layers get their sparse adjacency built
    here in ``x``'s dtype (the model's own conversion builds it in float32).
    """
    from qtlgraph.gnn import models

    layer = getattr(model, "layer", None)
    if (
        x.dtype != torch.float32
        and layer
        and models.uses_adjacency(layer)
        and model.message_passing
    ):
        adj = models.mean_adjacency(edge_index, x.shape[0], getattr(model, "aggr", "mean"))
        edge_index = adj.to(x.dtype)
    return model(x, edge_index, edge_attr)


def _subgraph(edge_index: torch.Tensor, nodes: np.ndarray, hops: int, num_nodes: int):
    from torch_geometric.utils import k_hop_subgraph

    subset, sub_ei, _, edge_mask = k_hop_subgraph(
        torch.as_tensor(nodes, dtype=torch.long),
        hops,
        edge_index,
        relabel_nodes=True,
        num_nodes=num_nodes,
        flow="source_to_target",
    )
    return subset, sub_ei, edge_mask


def _copies(model, xs: list[torch.Tensor], ei: torch.Tensor, ea, drops: list) -> torch.Tensor:
    """One forward over disjoint copies of a subgraph; copy ``k`` has node features
    ``xs[k]`` and lacks the edges at positions ``drops[k]`` (empty: none).
    Shapes: -> ``(k, S, n_out)``.
    """
    n, e = xs[0].shape[0], ei.shape[1]
    eis, eas = [], []
    for k, drop in enumerate(drops):
        keep = ~torch.isin(
            torch.arange(e, device=ei.device),
            torch.as_tensor(drop, dtype=torch.long, device=ei.device),
        )
        eis.append(ei[:, keep] + k * n)
        if ea is not None:
            eas.append(ea[keep])
    out = _forward(
        model, torch.cat(xs), torch.cat(eis, 1), torch.cat(eas) if ea is not None else None
    )
    return out.reshape(len(drops), n, -1)


@torch.no_grad()
def propagate(
    model,
    x: torch.Tensor,
    edge_index: torch.Tensor,
    edge_attr: torch.Tensor | None,
    nodes: Sequence[int],
    ref_rows: torch.Tensor,
    alt_rows: torch.Tensor,
    hops: int,
    *,
    attribute: bool = False,
    max_edges: int = 64,
) -> tuple[VariantEffect, EdgeAttribution | None]:
    """The change in a model's outputs when ``x[nodes]`` goes from ``ref_rows`` to ``alt_rows``.

    Args:
        model: ``model(x, edge_index, edge_attr) -> (N, n_out)``, in eval mode.
        x: node features of the whole graph.
        edge_index: edges, row 0 = source, row 1 = target.
        edge_attr: edge features or None.
        nodes: the changed nodes.
        ref_rows: their features before the change.
        alt_rows: their features after the change.
        hops: message-passing layers of ``model`` (0 for a model without message passing).
        attribute: also ablate each edge that can carry the change.
        max_edges: ablate at most this many edges (nearest the changed nodes first).

    Shapes:
        x ``(N, F)``, edge_index ``(2, E)``, edge_attr ``(E, F_e)``, ref_rows/alt_rows ``(S, F)``.

    Returns:
        ``(VariantEffect, EdgeAttribution or None)``; nodes outside ``VariantEffect.nodes``
        see exactly zero change.
    """
    ei_np = edge_index.cpu().numpy()
    down = downstream(ei_np, nodes, hops)
    subset, sub_ei, edge_mask = _subgraph(edge_index.cpu(), down.nodes, hops, x.shape[0])
    dev = x.device
    sub_ei, subset = sub_ei.to(dev), subset.to(dev)
    sub_ea = edge_attr[edge_mask.to(dev)] if edge_attr is not None else None
    pos = torch.searchsorted(subset, torch.as_tensor(down.nodes, device=dev))
    changed = torch.searchsorted(subset, torch.as_tensor(np.asarray(nodes, np.int64), device=dev))
    dtype = next(model.parameters()).dtype  # float64 keeps small effects above rounding
    x_ref = x[subset].to(dtype)
    x_alt = x_ref.clone()
    x_ref[changed], x_alt[changed] = ref_rows.to(x_ref), alt_rows.to(x_ref)
    sub_ea = sub_ea.to(dtype) if sub_ea is not None else None
    out = _copies(model, [x_ref, x_alt], sub_ei, sub_ea, [[], []])[:, pos].double().cpu().numpy()
    effect = VariantEffect(down.nodes, down.depth, down.parent, out[0], out[1], out[1] - out[0])
    if not attribute:
        return effect, None
    return effect, _ablate(
        model, (x_ref, x_alt), sub_ei, sub_ea, edge_mask, down, subset, pos, effect, hops, max_edges
    )


def carrier_edges(sub_ei: np.ndarray, sub_depth: np.ndarray, hops: int) -> np.ndarray:
    """Subgraph edges that can carry a change: source at depth ``< hops``, target downstream.

    Shapes: sub_ei ``(2, E_s)``; sub_depth ``(S,)`` depth per subgraph node (``-1`` when
    not downstream) -> ``(K,)`` edge positions, nearest first.
    """
    d_src, d_dst = sub_depth[sub_ei[0]], sub_depth[sub_ei[1]]
    ok = (d_src >= 0) & (d_src < hops) & (d_dst >= 0)
    idx = np.flatnonzero(ok)
    return idx[np.argsort(d_src[idx], kind="stable")]


def carrier_links(sub_ei: np.ndarray, edges: np.ndarray) -> list[np.ndarray]:
    """Group carrier edges by (source, target): parallel edges (one per mark) form one link,
    ablated together. Returns edge positions per link, in first-seen order.
    """
    key = sub_ei[0, edges].astype(np.int64) * (int(sub_ei.max(initial=0)) + 1) + sub_ei[1, edges]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    return [edges[inverse == g] for g in order]


def _ablate(
    model,
    xs,
    sub_ei,
    sub_ea,
    edge_mask,
    down,
    subset,
    pos,
    effect,
    hops: int,
    max_edges: int,
    copies_per_pass: int = 32,
) -> EdgeAttribution:
    x_ref, x_alt = xs
    depth = np.full(len(subset), -1, np.int64)
    depth[pos.cpu().numpy()] = down.depth
    sub_np = sub_ei.cpu().numpy()
    links = carrier_links(sub_np, carrier_edges(sub_np, depth, hops))
    chosen = links[:max_edges]
    carried = np.zeros((len(chosen), len(down.nodes), effect.delta.shape[1]))
    for lo in range(0, len(chosen), copies_per_pass):
        part = chosen[lo : lo + copies_per_pass]
        out = _copies(model, [x_ref] * len(part) + [x_alt] * len(part), sub_ei, sub_ea, part + part)
        out = out[:, pos].double().cpu().numpy()
        carried[lo : lo + len(part)] = effect.delta[None] - (out[len(part) :] - out[: len(part)])
    carried *= _reach_mask(sub_np, [c[0] for c in chosen], depth, pos.cpu().numpy(), hops)[
        :, :, None
    ]
    global_ids = np.flatnonzero(edge_mask.cpu().numpy())
    return EdgeAttribution(
        [global_ids[c].astype(np.int64) for c in chosen], carried, len(chosen) == len(links)
    )


def _reach_mask(
    sub_ei: np.ndarray, chosen: Sequence[int], depth: np.ndarray, pos: np.ndarray, hops: int
) -> np.ndarray:
    """Which downstream nodes each ablated edge can affect: its target and what the target
    reaches in the layers left; elsewhere ``carried`` is rounding noise, set to 0.

    Shapes: -> ``(K, A)`` float32 of 0/1.
    """
    where = np.full(len(depth), -1, np.int64)
    where[pos] = np.arange(len(pos))
    mask = np.zeros((len(chosen), len(pos)), np.float32)
    for k, e in enumerate(chosen):
        u, w = sub_ei[:, e]
        reach = downstream(sub_ei, [w], hops - 1 - int(depth[u])).nodes
        hit = where[reach]
        mask[k, hit[hit >= 0]] = 1.0
    return mask
