"""Node and edge features of the graph models, from plain arrays: model-ready edge features,
the node-level facts of a graph (:func:`node_stats`, the ``local-stats`` model's inputs),
edge attributes withheld (``--edge-attr none``) and standardisation over training nodes.

Edges come as :class:`qtlgraph.gnn.data.CellEdges` (``source``, ``target``, ``type``, raw
``attr`` columns log1p(n_qtl), -log10(min p), mean |beta|, max |beta|, signed distance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from qtlgraph.errors import InputError

if TYPE_CHECKING:
    from qtlgraph.gnn.data import CellEdges

#: centres of the Gaussian basis over log10(1 + |distance in bp|)
DISTANCE_CENTRES = np.arange(1.0, 7.0)
DISTANCE_WIDTH = 0.5
N_BASE_FEATURES = 4 + 1 + len(DISTANCE_CENTRES)


def edge_features(attr: np.ndarray, edge_type: np.ndarray, n_types: int) -> np.ndarray:
    """Model-ready edge features from the raw graph attributes.

    Columns: log1p(n_qtl), min(-log10 p, 50) / 10, mean |beta|, max |beta|, sign of the
    distance, Gaussian basis over log10(1 + |distance|) (centres 1..6), one-hot edge type.
    NaN (absent p-values or betas) becomes 0.

    Shapes:
        attr ``(E, 5)``, edge_type ``(E,)`` -> ``(E, N_BASE_FEATURES + n_types)`` float32
    """
    attr = np.nan_to_num(np.asarray(attr, dtype=np.float64))
    dist = attr[:, 4]
    logd = np.log10(1.0 + np.abs(dist))[:, None]
    basis = np.exp(-0.5 * ((logd - DISTANCE_CENTRES[None, :]) / DISTANCE_WIDTH) ** 2)
    onehot = np.zeros((len(attr), n_types))
    onehot[np.arange(len(attr)), edge_type] = 1.0
    cols = [
        attr[:, :1],
        np.minimum(attr[:, 1:2], 50.0) / 10.0,
        attr[:, 2:4],
        np.sign(dist)[:, None],
        basis,
        onehot,
    ]
    return np.concatenate(cols, axis=1).astype(np.float32)


EDGE_ATTR_MODES = ("all", "none")


def check_edge_attr(edge_attr: str) -> None:
    """Refuse an ``--edge-attr`` value other than ``all`` or ``none``."""
    if edge_attr not in EDGE_ATTR_MODES:
        raise InputError(f"--edge-attr {edge_attr}: expected one of {', '.join(EDGE_ATTR_MODES)}")


class NodeStats(NamedTuple):
    """Node-level facts of a graph (:func:`node_stats`): ``values (N, S)`` float32, ``names``."""

    values: np.ndarray
    names: list[str]


def _per_node(index: np.ndarray, values: np.ndarray, n: int, how: str) -> np.ndarray:
    """Sum, mean or max of ``values`` grouped by ``index`` (0 where a node has none)."""
    if how == "max":
        out = np.full(n, -np.inf)
        np.maximum.at(out, index, values)
        return np.where(np.isfinite(out), out, 0.0)
    total = np.bincount(index, weights=values, minlength=n)
    if how == "sum":
        return total
    return total / np.maximum(np.bincount(index, minlength=n), 1)


def node_stats(
    edges: CellEdges, num_nodes: int, edge_types: Sequence[str], *, edge_attr: str = "all"
) -> NodeStats:
    """Every node-level fact the graph exposes to a graph model, without the sources' content.

    Per edge type ``T`` (columns named ``<stat>:<T>``): ``in_degree`` and ``out_degree``
    (``log1p`` edge counts) and, unless ``edge_attr`` is ``none``, over the node's incoming
    edges: ``n_qtl`` (``log1p`` of the summed QTL counts), ``max_abs_beta``,
    ``mean_abs_beta``, ``max_neglog10_p``, ``mean_log10_distance`` (mean of
    ``log10(1 + |distance in bp|)``). Raw graph attributes (:class:`CellEdges` ``attr``) in;
    NaN counts as 0; 0 for a node without such edges.

    Args:
        edges: the edges over node ids ``[0, num_nodes)``, raw attributes.
        num_nodes: number of nodes.
        edge_types: names indexed by ``edges.type``.
        edge_attr: ``all`` or ``none`` (degrees only, as the graph models see it then).

    Shapes: returns values ``(num_nodes, S)`` float32, ``S = len(names)``.
    """
    check_edge_attr(edge_attr)
    attr = np.nan_to_num(np.asarray(edges.attr, np.float64).reshape(-1, 5))
    src, dst = np.asarray(edges.source, np.int64), np.asarray(edges.target, np.int64)
    cols, names = [], []
    for t, name in enumerate(edge_types):
        m = np.asarray(edges.type) == t
        d, a = dst[m], attr[m]
        stats = {
            "in_degree": np.log1p(np.bincount(d, minlength=num_nodes)),
            "out_degree": np.log1p(np.bincount(src[m], minlength=num_nodes)),
        }
        if edge_attr == "all":
            stats["n_qtl"] = np.log1p(_per_node(d, np.expm1(a[:, 0]), num_nodes, "sum"))
            stats["max_abs_beta"] = _per_node(d, a[:, 3], num_nodes, "max")
            stats["mean_abs_beta"] = _per_node(d, a[:, 2], num_nodes, "mean")
            stats["max_neglog10_p"] = _per_node(d, a[:, 1], num_nodes, "max")
            logd = np.log10(1.0 + np.abs(a[:, 4]))
            stats["mean_log10_distance"] = _per_node(d, logd, num_nodes, "mean")
        cols += list(stats.values())
        names += [f"{k}:{name}" for k in stats]
    values = np.stack(cols, axis=1) if cols else np.zeros((num_nodes, 0))
    return NodeStats(values.astype(np.float32), names)


def withhold_edge_attrs(edge_attr, n_types: int):
    """Model edge features (:func:`edge_features`) reduced to the edge's type (``--edge-attr
    none``): QTL counts, p-values, betas and distances withheld, as for Hi-C loop edges or a
    cell type without QTL mapping.

    Shapes: ``(E, N_BASE_FEATURES + n_types)`` -> ``(E, n_types)`` (the one-hot type).
    """
    return edge_attr[:, edge_attr.shape[1] - n_types :]


#: columns (statistics) and rows (standardising) handled at once: float64 temporaries
#: stay at that many columns or rows, whatever the number of nodes
_STAT_COLUMNS, _SCALE_ROWS = 8, 65_536


def feature_stats(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and scale over ``rows`` (the training nodes); scale 1 where constant.

    Computed in float64 a few columns at a time, so memory does not grow by copies of ``x``.

    Shapes: x ``(n, F)``, rows ``(n,)`` bool -> two ``(F,)`` float64 arrays.
    """
    rows = np.asarray(rows, bool)
    means, sds = [], []
    for j in range(0, x.shape[1], _STAT_COLUMNS):
        ref = np.asarray(x[:, j : j + _STAT_COLUMNS], np.float64)
        ref = ref[rows] if rows.any() else ref
        means.append(ref.mean(axis=0))
        sds.append(ref.std(axis=0))
    if not means:
        return np.zeros(0), np.ones(0)
    sd = np.concatenate(sds)
    return np.concatenate(means), np.where(sd > 0, sd, 1.0)


def standardise_in_place(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``x`` (float32) replaced by ``(x - mean) / scale``, computed in float64 a block of
    rows at a time (the same values as :func:`standardise`, without a copy of ``x``).

    Shapes: x ``(n, F)`` float32, mean and scale ``(F,)`` -> x.
    """
    for lo in range(0, len(x), _SCALE_ROWS):
        block = x[lo : lo + _SCALE_ROWS]
        block[...] = ((block.astype(np.float64) - mean) / scale).astype(np.float32)
    return x


def standardise(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Columns centred and scaled by their mean and standard deviation over ``rows``
    (the training nodes); constant columns are only centred.

    Shapes: x ``(n, F)``, rows ``(n,)`` bool -> ``(n, F)`` float32.
    """
    mean, scale = feature_stats(x, rows)
    return ((np.asarray(x, np.float64) - mean) / scale).astype(np.float32)
