"""Fixed, unsupervised sequence features of a bin: its canonical k-mer spectrum.

A bin encoder trained on the bin's own marks can drop sequence that matters only when
the bin acts at a distance (a motif with no local effect). The k-mer spectrum keeps every
short word of the sequence, whatever its local effect, with no training and no labels;
the graph model reads it as extra node features (``--kmer K``) and learns which words
of a linked source bin matter for its target.

Counts of a k-mer and its reverse complement are summed (strand-free); k-mers with an
``N`` are skipped. Features are ``log1p`` counts, standardised over the training bins by
the caller (:func:`qtlgraph.gnn.data.standardise`).
"""

from __future__ import annotations

import numpy as np

from qtlgraph.errors import InputError
from qtlgraph.kmer_words import MAX_K, canonical_index, word_codes  # noqa: F401 (re-exported)


def kmer_spectrum(codes: np.ndarray, k: int) -> np.ndarray:
    """Canonical k-mer counts of each row of base codes.

    Args:
        codes: base codes, 0-3 = A, C, G, T, 4 (or more) = N.
        k: word length, 1 to ``MAX_K``.

    Shapes:
        codes ``(n, L)`` uint8 -> ``(n, n_canonical)`` float32 counts.
    """
    if not 1 <= k <= MAX_K:
        raise InputError(f"--kmer {k}: expected a word length between 1 and {MAX_K}")
    codes = np.asarray(codes)
    n, length = codes.shape
    column, n_cols = canonical_index(k)
    if length < k:
        return np.zeros((n, n_cols), np.float32)
    word, bad = word_codes(codes, k)
    key = np.arange(n, dtype=np.int64)[:, None] * n_cols + column[word]
    counts = np.bincount(key[~bad], minlength=n * n_cols)
    return counts.reshape(n, n_cols).astype(np.float32)


def expected_counts(counts: np.ndarray, k: int) -> np.ndarray:
    """Genome-wide count of each canonical k-mer expected from the base composition alone.

    A window holds word ``w`` with probability ``p(w)``, the product of its bases'
    strand-symmetric frequencies (:func:`kmer_spectrum_totals`); a canonical column counts
    a window when it holds either of the column's words (one word for a palindrome), so its
    expected count is the number of windows times the sum of ``p`` over those words. Each
    window is counted once, in one column: the expected counts sum to the observed total.

    Shapes:
        counts ``(n, n_canonical)`` -> ``(n_canonical,)`` float64.
    """
    column, n_cols = canonical_index(k)
    windows = float(np.asarray(counts, np.float64).sum())
    mono = kmer_spectrum_totals(counts, k)
    codes = np.arange(4**k)
    digits = (codes[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4
    p_word = np.prod(mono[digits], axis=1)
    return np.bincount(column, weights=p_word, minlength=n_cols) * windows


def enriched_columns(counts: np.ndarray, k: int, top: int) -> np.ndarray:
    """The ``top`` canonical k-mers most over-represented genome-wide (unsupervised).

    Expected counts come from the base composition of the same sequence
    (:func:`expected_counts`); the score is ``(observed - expected) / sqrt(expected)``, the
    classic word-enrichment statistic of motif discovery. No labels are used.

    Args:
        counts: canonical k-mer counts per bin (:func:`kmer_spectrum`).
        k: their word length.
        top: how many columns to keep.

    Shapes:
        counts ``(n, n_canonical)`` -> ``(top,)`` int64 column ids, best first.
    """
    total = counts.sum(axis=0).astype(np.float64)
    expected = expected_counts(counts, k)
    score = (total - expected) / np.sqrt(np.maximum(expected, 1e-9))
    return np.argsort(-score, kind="stable")[:top]


def kmer_spectrum_totals(counts: np.ndarray, k: int) -> np.ndarray:
    """Strand-symmetric base frequencies implied by canonical k-mer totals.

    Shapes: counts ``(n, n_canonical)`` -> ``(4,)`` (A, C, G, T), summing to 1.
    """
    column, _ = canonical_index(k)
    total = counts.sum(axis=0).astype(np.float64)
    codes = np.arange(4**k)
    digits = (codes[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4
    # each canonical total is shared by a word and its reverse complement: half to each
    per_word = total[column] / np.bincount(column, minlength=len(total))[column]
    base = np.bincount(digits.reshape(-1), weights=np.repeat(per_word, k), minlength=4)
    base = (base + base[::-1]) / 2.0  # strand-symmetric
    return base / base.sum()


def kmer_rows(codes: np.ndarray, k: int, columns: np.ndarray | None) -> np.ndarray:
    """The k-mer node features of sequences given as base codes (``log1p`` counts of the
    chosen canonical columns). Shapes: codes ``(n, L)`` -> ``(n, len(columns))`` float32.
    """
    counts = kmer_spectrum(codes, k)
    return np.log1p(counts if columns is None else counts[:, columns]).astype(np.float32)


def kmer_features(ds, index, k: int, top: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """``log1p`` canonical k-mer counts of every bin (:func:`kmer_spectrum`), and the columns kept.

    With ``top`` > 0 only the ``top`` words most over-represented genome-wide are kept
    (:func:`enriched_columns`; two passes over the sequence, no labels).

    Shapes: ``(n_bins, n_canonical_kmers)`` or ``(n_bins, top)`` float32; columns ``(top,)``
    (None when all are kept).
    """
    from qtlgraph.encoders.bin_dataset import sequence_codes
    from qtlgraph.sequence import open_sequence

    seq = open_sequence(ds)
    chunks = [np.arange(lo, min(lo + 512, index.n_bins)) for lo in range(0, index.n_bins, 512)]

    def spectra():  # bounded memory on whole genomes
        for bins in chunks:
            yield kmer_spectrum(sequence_codes(seq, index, bins), k)

    cols = None
    if top:
        totals = sum(c.sum(axis=0, keepdims=True) for c in spectra())
        cols = enriched_columns(totals, k, top)
    values = np.concatenate([np.log1p(c if cols is None else c[:, cols]) for c in spectra()])
    return values, cols
