"""Controls that keep a graph's degrees but destroy its wiring."""

from __future__ import annotations

import numpy as np

from qtlgraph.gnn.data import CellEdges

#: rounds of re-drawing the sources of edges the permutation made duplicate
DEDUPE_ROUNDS = 20


def _permute_within(group: np.ndarray, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``idx`` that maps every index to one of the same ``group``.

    Shapes: group ``(E,)`` int64, idx ``(k,)`` -> ``(k,)`` (``idx`` reordered).
    """
    g = group[idx]
    by_group = idx[np.argsort(g, kind="stable")]
    shuffled = idx[np.lexsort((rng.random(len(idx)), g))]
    out = np.empty_like(idx)
    out[np.searchsorted(idx, by_group)] = shuffled  # idx is sorted: positions of by_group
    return out


def _duplicates(key: np.ndarray) -> np.ndarray:
    """Indices of edges whose key already occurred (the first occurrence is not a duplicate)."""
    order = np.argsort(key, kind="stable")
    repeat = np.zeros(len(key), bool)
    repeat[order[1:]] = key[order[1:]] == key[order[:-1]]
    return np.flatnonzero(repeat)


def shuffle_sources(
    edges: CellEdges, chrom_start: np.ndarray, chrom_end: np.ndarray, seed: int = 0
) -> CellEdges:
    """Degree-preserving edge-shuffle control: the source column is permuted among the edges
    of the same target chromosome and edge type.

    Kept exactly: every edge's target, type and attributes; each bin's in-degree and
    out-degree (edge counts), overall and per edge type; the chromosome of every source.
    Changed: which bin talks to which. Edges the permutation makes duplicate (same source,
    target and type) get their sources re-drawn with a few random partners of their group
    (still a permutation, so the degrees stay), up to ``DEDUPE_ROUNDS`` times; the
    attributes stay with the edge, so the distance no longer matches the new source.

    Args:
        edges: one cell type's edges over global bin ids.
        chrom_start: first global bin of each chromosome, sorted.
        chrom_end: one past the last global bin of each chromosome.
        seed: random seed.

    Shapes:
        chrom_start, chrom_end ``(n_chroms,)``; returns edges of the same length.
    """
    del chrom_end  # sources are permuted, so they stay within the bins already used
    rng = np.random.default_rng(seed)
    target = np.asarray(edges.target, np.int64)
    etype = np.asarray(edges.type, np.int64)
    source = np.asarray(edges.source, np.int64)
    chrom = np.searchsorted(chrom_start, target, side="right") - 1
    group = chrom * (int(etype.max(initial=0)) + 1) + etype
    n_bins = int(max(target.max(initial=0), source.max(initial=0))) + 1
    every = np.arange(len(target))
    source = source[_permute_within(group, every, rng)]
    for _ in range(DEDUPE_ROUNDS):
        dup = _duplicates((group * n_bins + target) * n_bins + source)
        if not len(dup):
            break
        partners = rng.choice(every, size=min(len(every), 2 * len(dup)), replace=False)
        idx = np.union1d(dup, partners)
        source[idx] = source[_permute_within(group, idx, rng)]
    return edges._replace(source=source)
