"""Words of base codes: each k-mer as a base-4 number, and strand-free (canonical) columns.

Shared by the graph model's k-mer spectrum (:mod:`qtlgraph.gnn.kmers`) and the U-Nets'
filter seeds (:mod:`qtlgraph.encoders.filter_init`). Base codes are 0-3 for A, C, G, T and
4 (or more) for N; a word's first base is its most significant digit.
"""

from __future__ import annotations

import functools

import numpy as np

MAX_K = 8


@functools.lru_cache(maxsize=MAX_K)
def _canonical(k: int) -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(4**k, dtype=np.int64)
    digits = (codes[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4
    rc = ((3 - digits[:, ::-1]) * 4 ** np.arange(k - 1, -1, -1)).sum(1)
    uniq, column = np.unique(np.minimum(codes, rc), return_inverse=True)
    column = column.astype(np.int64)
    column.setflags(write=False)
    uniq.setflags(write=False)
    return column, uniq


def canonical_index(k: int) -> tuple[np.ndarray, int]:
    """Column of every k-mer code after merging each k-mer with its reverse complement.
    Computed once per ``k`` (variant scoring calls it for every variant); read-only.

    Returns:
        ``(column, n_columns)``: column ``(4**k,)`` int64 in ``[0, n_columns)``.
    """
    column, uniq = _canonical(k)
    return column, len(uniq)


def canonical_words(k: int) -> np.ndarray:
    """The code of each canonical column's word (the smaller of a word and its reverse
    complement). Shapes: -> ``(n_columns,)`` int64, read-only.
    """
    return _canonical(k)[1]


def word_codes(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The code of the k-mer starting at every position, and whether it holds an N.

    Shapes:
        codes ``(n, L)`` -> two ``(n, L - k + 1)`` arrays (int64, bool)
    """
    c = np.asarray(codes).astype(np.int64)
    n, length = c.shape
    word = np.zeros((n, length - k + 1), np.int64)
    bad = np.zeros((n, length - k + 1), bool)
    for j in range(k):  # k passes over the array, never a loop over rows
        part = c[:, j : length - k + 1 + j]
        word = word * 4 + np.minimum(part, 3)
        bad |= part > 3
    return word, bad


def decode(code: int, k: int) -> str:
    """The k-mer of a word code, as letters."""
    return "".join("ACGT"[(code >> (2 * (k - 1 - i))) & 3] for i in range(k))
