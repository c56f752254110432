import numpy as np
import pytest
from tiny_bin_data import SIZES, write_tiny_dataset

from qtlgraph.encoders.bin_dataset import (
    BinDataset,
    bin_loader,
    flank_windows,
    load_bin_arrays,
    one_hot_codes,
    sequence_codes,
)
from qtlgraph.encoders.bin_encoder import BinEncoderConfig
from qtlgraph.genome import BinIndex, Genome


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from qtlgraph.manifest import load_dataset

    dataset = load_dataset(write_tiny_dataset(tmp_path_factory.mktemp("tiny")))
    return dataset, BinIndex(dataset.genome, 10_000)


def test_flank_windows_by_hand():
    # two chromosomes of 2 and 1 bins of 4 bp; profile at 2 bp -> 2 values per bin
    index = BinIndex(Genome("g", ("chr1", "chr2"), (8, 3)), 4)
    profile = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
    got = flank_windows(profile, index, flank=2, resolution=2)
    expected = [[0, 1, 2, 3], [2, 3, 4, 0], [0, 5, 6, 0]]  # never crosses chr1 -> chr2
    np.testing.assert_array_equal(got, expected)


def test_sequence_codes_blocks_and_padding(tiny):
    from qtlgraph.sequence import open_sequence

    dataset, index = tiny
    seq = open_sequence(dataset)
    bins = np.arange(index.n_bins)
    whole = sequence_codes(seq, index, bins)
    np.testing.assert_array_equal(sequence_codes(seq, index, bins, block=2), whole)
    last = index.chrom_slice("chr1").stop - 1  # chr1 is 45 kb: its 5th bin has 5 kb of sequence
    np.testing.assert_array_equal(whole[last], seq.codes("chr1", 40_000, 50_000))
    assert (whole[last, 5000:] == 4).all() and (whole[last, :5000] < 4).all()
    picked = np.array([1, 7, 12])
    np.testing.assert_array_equal(sequence_codes(seq, index, picked), whole[picked])


def test_one_hot_codes():
    x = one_hot_codes(np.array([[0, 3, 4, 1]], dtype=np.uint8)).numpy()
    assert x.shape == (1, 4, 4)
    np.testing.assert_array_equal(x[0].T, [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 0]])


def test_arrays_match_bigwig_and_mask_missing_marks(tiny):
    import pyBigWig

    dataset, index = tiny
    arrays = load_bin_arrays(dataset, index, BinEncoderConfig())
    n = index.n_bins
    assert arrays.acc.shape == (2, n, 100) and arrays.flank.shape == (2, n, 50)
    assert arrays.targets.shape == (2, n, 2) and arrays.marks == ("H3K27ac", "H3K4me1")
    cell = dataset.cell_types[1]
    b = index.chrom_slice("chr3").start + 2  # chr3:20000-30000
    with pyBigWig.open(str(cell.accessibility)) as bw:
        raw = np.array(bw.values("chr3", 20_000, 30_000)).reshape(100, 100).mean(axis=1)
    np.testing.assert_allclose(arrays.acc[1, b], np.log1p(raw), rtol=1e-5)
    np.testing.assert_allclose(
        arrays.flank[1, b, 20:30], np.log1p(raw.reshape(10, 10).mean(axis=1)), rtol=1e-5
    )
    with pyBigWig.open(str(cell.marks["H3K27ac"])) as bw:
        mean = bw.stats("chr3", 20_000, 30_000, type="mean", exact=True)[0]
    np.testing.assert_allclose(arrays.targets[1, b, 0], np.log1p(mean), rtol=1e-5)
    # H3K4me1 has no data over the first 10 kb of each chromosome: NaN, masked later
    firsts = [index.chrom_slice(c).start for c in SIZES]
    assert np.isnan(arrays.targets[:, firsts, 1]).all()
    assert np.isfinite(arrays.targets[:, firsts, 0]).all()


def test_bin_dataset_batches(tiny):
    from qtlgraph.sequence import open_sequence

    dataset, index = tiny
    arrays = load_bin_arrays(dataset, index, BinEncoderConfig())
    rows = np.array([2, 5, 9])
    codes = sequence_codes(open_sequence(dataset), index, np.arange(index.n_bins))
    ds = BinDataset(arrays, codes, rows, cells=[0, 1])
    assert len(ds) == 6
    cell, bins = ds.items([0, 4])
    assert cell.tolist() == [0, 1] and bins.tolist() == [2, 5]
    (seq, acc, flank), target = ds[np.array([4])]
    assert seq.shape == (1, 10_000) and acc.shape == (1, 100) and flank.shape == (1, 50)
    np.testing.assert_array_equal(seq[0].numpy(), codes[5])
    np.testing.assert_array_equal(acc.numpy(), arrays.acc[1, [5]])
    np.testing.assert_array_equal(target.numpy(), arrays.targets[1, [5]])
    sizes = [b[1].shape[0] for b in bin_loader(ds, 4, shuffle=True)]
    assert sizes == [4, 2]
