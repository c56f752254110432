import numpy as np
import pytest

from qtlgraph.errors import InputError
from qtlgraph.gnn.kmers import canonical_index, kmer_spectrum


def test_canonical_columns():
    col, n = canonical_index(1)
    assert n == 2 and col.tolist() == [0, 1, 1, 0]  # A~T, C~G
    assert canonical_index(2)[1] == 10  # 16 dimers, 4 palindromes: (16 + 4) / 2
    assert canonical_index(3)[1] == 32


def test_spectrum_by_hand_skips_n():
    # ACGT N AA: dimers AC, CG, GT, AA counted; TN and NA skipped; AC and GT share a column
    codes = np.array([[0, 1, 2, 3, 4, 0, 0]], np.uint8)
    counts = kmer_spectrum(codes, 2)[0]
    col, _ = canonical_index(2)
    assert counts.sum() == 4
    assert counts[col[0b0001]] == 2  # AC + GT
    assert counts[col[0b0110]] == 1  # CG
    assert counts[col[0b0000]] == 1  # AA


def test_reverse_complement_has_the_same_spectrum():
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 4, size=(3, 200)).astype(np.uint8)
    rc = (3 - seq[:, ::-1]).astype(np.uint8)
    assert np.array_equal(kmer_spectrum(seq, 5), kmer_spectrum(rc, 5))


def test_bad_k():
    with pytest.raises(InputError, match="kmer"):
        kmer_spectrum(np.zeros((1, 10), np.uint8), 0)


def test_enriched_columns_find_a_planted_word():
    from qtlgraph.gnn.kmers import enriched_columns, kmer_spectrum_totals

    rng = np.random.default_rng(1)
    seq = rng.integers(0, 4, size=(20, 2000)).astype(np.uint8)
    planted = np.array([0, 2, 3, 3, 1], np.uint8)  # AGTTC, not a palindrome
    for row in range(20):
        for pos in range(100, 1900, 300):
            seq[row, pos : pos + 5] = planted
    counts = kmer_spectrum(seq, 5)
    col, _ = canonical_index(5)
    code = int(sum(int(b) * 4 ** (4 - j) for j, b in enumerate(planted)))
    assert enriched_columns(counts, 5, 1).tolist() == [col[code]]
    base = kmer_spectrum_totals(counts, 5)
    assert base.sum() == pytest.approx(1.0) and base[0] == pytest.approx(base[3])


def test_expected_counts_by_hand_count_each_window_once():
    from qtlgraph.gnn.kmers import expected_counts

    # AAAC: 4 windows of k=1, columns A/T (3) and C/G (1); strand-symmetric base
    # frequencies A = T = 3/8, C = G = 1/8, so A/T expects 4 * (3/8 + 3/8) = 3 and C/G 1
    counts = kmer_spectrum(np.array([[0, 0, 0, 1]], np.uint8), 1)
    assert expected_counts(counts, 1).tolist() == [3.0, 1.0]
    rng = np.random.default_rng(2)
    many = kmer_spectrum(rng.integers(0, 4, size=(5, 3000)).astype(np.uint8), 4)
    assert expected_counts(many, 4).sum() == pytest.approx(many.sum())
    # uniform random sequence: observed and expected agree column by column (no 2x offset)
    ratio = many.sum(axis=0) / expected_counts(many, 4)
    assert 0.8 < np.median(ratio) < 1.2
