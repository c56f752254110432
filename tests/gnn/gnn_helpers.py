"""Small synthetic graphs shared by the gnn tests."""

from __future__ import annotations

import numpy as np

from qtlgraph.gnn.data import CellEdges, build_data


def neighbour_copy_graph(n: int = 400, d: int = 4, seed: int = 0, with_edges: bool = True):
    """One cell type; each bin has one incoming edge and its target is the source's x[0].

    Train on the first 60% of bins, validate on the next 10%, test on the rest.
    """
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(1, n, d)).astype(np.float32)
    source = rng.permutation(n).astype(np.int64)
    target = np.arange(n, dtype=np.int64)
    y = emb[0, source, 0][None, :, None].copy()
    attr = np.zeros((n, 5))
    attr[:, 0] = np.log1p(1.0)
    attr[:, 4] = (target - source) * 10_000.0
    edges = CellEdges(source, target, np.zeros(n, np.int64), attr)
    if not with_edges:
        edges = CellEdges(*(a[:0] for a in edges))
    part = np.zeros(n, np.int64)
    part[int(0.6 * n) : int(0.7 * n)] = 1
    part[int(0.7 * n) :] = 2
    masks = {"train": part == 0, "valid": part == 1, "test": part == 2}
    access = np.zeros((1, n, 1), np.float32)
    return build_data(emb, access, y, masks, [edges], edge_types=["H3K27ac"])
