"""Word over-representation of a simulated genome (how visible a planted motif is).

The statistic is the one :func:`qtlgraph.gnn.kmers.enriched_columns` ranks ``--kmer`` node
features by: canonical ``k``-mer totals over all 10 kb bins against the expectation from
the strand-symmetric base composition, ``(observed - expected) / sqrt(expected)``. It is
computed here because the simulator sits below the GNN package in the layer contract
(``[tool.importlinter]``); a test holds the two against each other on a generated genome.
"""

from __future__ import annotations

import numpy as np

from qtlgraph.simulate.sequence import SequenceLayout


def _canonical(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column of every base-4 word after merging it with its reverse complement, and the
    digits of every word. Shapes: -> (4**k,) int64, (4**k, k) int64.
    """
    codes = np.arange(4**k, dtype=np.int64)
    digits = (codes[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4
    rc = ((3 - digits[:, ::-1]) * 4 ** np.arange(k - 1, -1, -1)).sum(1)
    _, column = np.unique(np.minimum(codes, rc), return_inverse=True)
    return column.astype(np.int64), digits


def word_counts(codes: np.ndarray, layout: SequenceLayout, bin_size: int, k: int) -> np.ndarray:
    """Counts of every ``k``-mer (base-4 code) inside the genome's bins, none with an N.

    Shapes: codes (T,) uint8 -> (4**k,) int64.
    """
    counts = np.zeros(4**k, np.int64)
    for off, n in zip(layout.offsets[:-1], layout.lengths):
        rows = np.full(-(-int(n) // bin_size) * bin_size, 4, np.uint8)
        rows[:n] = codes[off : off + n]
        rows = rows.reshape(-1, bin_size).astype(np.int64)
        width = bin_size - k + 1
        word = np.zeros((len(rows), width), np.int64)
        bad = np.zeros((len(rows), width), bool)
        for j in range(k):
            part = rows[:, j : j + width]
            word = word * 4 + np.minimum(part, 3)
            bad |= part > 3
        counts += np.bincount(word[~bad], minlength=4**k)
    return counts


def word_ranks(codes: np.ndarray, layout: SequenceLayout, bin_size: int, k: int) -> np.ndarray:
    """1-based over-representation rank of every ``k``-mer's canonical column (1 = most).

    Shapes: codes (T,) uint8 -> (4**k,) int64, indexed by the word's base-4 code.
    """
    column, digits = _canonical(k)
    counts = word_counts(codes, layout, bin_size, k)
    n_cols = int(column.max()) + 1
    total = np.bincount(column, weights=counts, minlength=n_cols)
    base = np.bincount(digits.reshape(-1), weights=np.repeat(counts, k), minlength=4)
    base = (base + base[::-1]) / 2.0
    base /= base.sum()
    expected = np.bincount(column, weights=np.prod(base[digits], axis=1), minlength=n_cols)
    expected *= total.sum()  # every window falls in exactly one column
    score = (total - expected) / np.sqrt(np.maximum(expected, 1e-9))
    rank = np.empty(n_cols, np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(1, n_cols + 1)
    return rank[column]


def word_code(word: str) -> int:
    """``'ACGT...'`` -> base-4 code, first base most significant."""
    return int(sum("ACGT".index(ch) * 4**i for i, ch in enumerate(reversed(word))))
