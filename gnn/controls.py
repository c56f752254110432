"""Controls that keep a graph's degrees but destroy its wiring."""

from __future__ import annotations

import numpy as np
from qtlgraph.gnn.data import CellEdges


def shuffle_sources(
    edges: CellEdges, chrom_start: np.ndarray, chrom_end: np.ndarray, seed: int = 0
) -> CellEdges:
    """Edge-shuffle control: every edge keeps its target, type and attributes, and gets a
    source bin drawn uniformly from the target's chromosome.

    In-degrees (edge counts per target) are unchanged; which bin talks to which is random.

    Args:
        edges: one cell type's edges over global bin ids.
        chrom_start: first global bin of each chromosome, sorted.
        chrom_end: one past the last global bin of each chromosome.
        seed: random seed.

    Shapes:
        chrom_start, chrom_end ``(n_chroms,)``; returns edges of the same length.
    """
    rng = np.random.default_rng(seed)
    target = np.asarray(edges.target, np.int64)
    chrom = np.searchsorted(chrom_start, target, side="right") - 1
    lo, hi = chrom_start[chrom], chrom_end[chrom]
    source = lo + (rng.random(len(target)) * (hi - lo)).astype(np.int64)
    return edges._replace(source=np.minimum(source, hi - 1))
