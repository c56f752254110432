import numpy as np

from qtlgraph.kmer_words import canonical_index, canonical_words, decode, word_codes


def test_word_codes_by_hand_and_n_flagged():
    word, bad = word_codes(np.array([[0, 1, 2, 3, 4, 0]]), 2)  # A C G T N A
    assert [decode(int(w), 2) for w in word[0, :3]] == ["AC", "CG", "GT"]
    assert bad[0].tolist() == [False, False, False, True, True]


def test_canonical_words_are_the_smaller_strand():
    column, n = canonical_index(2)
    words = [decode(int(c), 2) for c in canonical_words(2)]
    assert n == 10 and len(words) == 10
    assert column[int(np.ravel_multi_index((3, 3), (4, 4)))] == words.index("AA")  # TT -> AA
    assert "TT" not in words and "CG" in words  # CG is its own reverse complement
