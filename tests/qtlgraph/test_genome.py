import numpy as np
import pytest

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, Genome, canonical_chrom, load_genome, n_bins


def test_hg38_has_303114_bins_at_10kb():
    genome = load_genome("hg38")
    assert len(genome.chroms) == 23
    assert n_bins(genome, 10_000) == 303_114
    assert BinIndex(genome, 10_000).n_bins == 303_114


def test_y_and_m_by_flag():
    assert load_genome("hg38", include_y=True, include_m=True).chroms[-2:] == ("chrY", "chrM")
    assert load_genome("hg19").sizes["chr1"] == 249_250_621


@pytest.mark.parametrize(
    "raw,canon", [("1", "chr1"), ("chr1", "chr1"), ("x", "chrX"), ("MT", "chrM"), ("chrM", "chrM")]
)
def test_canonical_chrom(raw, canon):
    assert canonical_chrom(raw) == canon


def test_bins_by_hand():
    # chrA 25 bp -> 3 bins of 10; chrB 10 bp -> 1 bin. Offsets 0, 3, 4.
    index = BinIndex(Genome("toy", ("chrA", "chrB"), (25, 10)), 10)
    assert index.n_bins == 4
    codes = index.chrom_codes(["A", "chrA", "chrB", "chrC", "chrA"])
    assert codes.tolist() == [0, 0, 1, -1, 0]
    one_based = index.bin_of(codes, np.array([1, 25, 10, 5, 26]), one_based=True)
    assert one_based.tolist() == [0, 2, 3, -1, -1]
    assert index.bin_of(np.array([0, 0]), np.array([0, 10]), one_based=False).tolist() == [0, 1]
    frame = index.to_frame()
    assert frame["end"].tolist() == [10, 20, 25, 10]
    assert index.chrom_slice("chrB") == slice(3, 4)


def test_sizes_file_and_errors(tmp_path):
    fai = tmp_path / "g.fa.fai"
    fai.write_text("1\t100\t6\t60\t61\n2\t50\t200\t60\t61\n")
    assert load_genome(fai).sizes == {"chr1": 100, "chr2": 50}
    with pytest.raises(InputError, match="not a known build"):
        load_genome("hg99")
    bad = tmp_path / "bad.sizes"
    bad.write_text("chr1\t100\nchr2\tabc\n")
    with pytest.raises(InputError, match="line 2"):
        load_genome(bad)
