"""Splits: held-out chromosomes as bin masks and training intervals."""

from __future__ import annotations

import numpy as np
import pytest

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, Genome, load_genome
from qtlgraph.splits import Split

TOY = Genome("toy", ("chr1", "chr2", "chr3", "chr8"), (25, 10, 31, 5))


def test_defaults_follow_the_report():
    s = Split()
    assert s.test == ("chr1", "chr8", "chr21") and s.valid == ("chr2",)
    assert s.part_of("21") == "test" and s.part_of("chrX") == "train"


def test_bin_masks_by_hand():
    masks = Split().bin_masks(BinIndex(TOY, 10))  # bins: chr1 x3, chr2 x1, chr3 x4, chr8 x1
    np.testing.assert_array_equal(masks["test"], [1, 1, 1, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(masks["valid"], [0, 0, 0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(masks["train"], [0, 0, 0, 0, 1, 1, 1, 1, 0])


def test_hg38_masks_partition_all_bins():
    index = BinIndex(load_genome("hg38"), 10_000)
    masks = Split().bin_masks(index)
    total = masks["train"].astype(int) + masks["valid"] + masks["test"]
    assert index.n_bins == 303_114 and (total == 1).all()
    assert masks["test"].sum() == sum(index.n_bins_per_chrom[[0, 7, 20]])


def test_intervals_and_configuration():
    s = Split(test=["3"], valid=[])
    iv = s.intervals(TOY, "train")
    assert list(iv.chrom) == ["chr1", "chr2", "chr8"] and list(iv.end) == [25, 10, 5]
    assert (iv.start == 0).all()
    assert list(s.intervals(TOY, "test").chrom) == ["chr3"]
    with pytest.raises(InputError, match="both test and validation"):
        Split(test=["chr1"], valid=["1"])
    with pytest.raises(InputError, match="split part"):
        s.intervals(TOY, "training")


def test_held_out_cell_type():
    s = Split(held_out_cell_type="tcel")
    names = ("mono", "neut", "tcel")
    assert s.cell_types(names, "train") == ("mono", "neut")
    assert s.cell_types(names, "test") == names
    assert any("held_out_cell_type" in p for p in Split(held_out_cell_type="nk").check(TOY, names))


def test_check_is_strict_and_restrict_keeps_present_defaults():
    assert Split().check(TOY) == [
        "[splits] test: chromosome 'chr21' is not in genome toy (has chr1, chr2, chr3, chr8)"
    ]
    assert Split(test=["chr3", "chr9"], valid=["chr7"]).check(TOY) == [
        "[splits] test: chromosome 'chr9' is not in genome toy (has chr1, chr2, chr3, chr8)",
        "[splits] valid: chromosome 'chr7' is not in genome toy (has chr1, chr2, chr3, chr8)",
    ]
    r = Split().restricted_to(TOY)
    assert r.test == ("chr1", "chr8") and r.valid == ("chr2",) and r.check(TOY) == []
    r = Split().restricted_to(Genome("one", ("chr8", "chr5"), (5, 5)))
    assert r.test == ("chr8",) and r.valid == ()
    with pytest.raises(
        InputError, match=r"none of the test chromosomes \['chr1', 'chr8', 'chr21'\]"
    ):
        Split().restricted_to(Genome("small", ("chr2", "chr3"), (5, 5)))
