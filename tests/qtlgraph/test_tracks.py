"""Tracks: a bigWig written here with known values, exact bin statistics by hand."""

from __future__ import annotations

import numpy as np
import pyBigWig
import pytest

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, Genome
from qtlgraph.tracks import (
    TARGET,
    average_track,
    bin_profile,
    bin_stat,
    bin_target,
    binarize,
    quantile_normalize,
    read_region,
    region_stat,
    target_transform,
)

GENOME = Genome("toy", ("chr1", "chr2"), (25, 12))
NAN = np.nan


def write_bigwig(path, chroms, entries):
    """chroms: [(name, length)]; entries: [(chrom, start, end, value)] sorted."""
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(chroms))
    for c, s, e, v in entries:
        bw.addEntries([c], [s], ends=[e], values=[float(v)])
    bw.close()
    return path


@pytest.fixture
def toy_bw(tmp_path):
    # chr1: [0,5)=1 [5,10)=2 [10,15)=3, gap [15,20), [20,25)=5 ; chr2: [0,4)=4, rest no data
    return write_bigwig(
        tmp_path / "toy.bw",
        [("chr1", 25), ("chr2", 12)],
        [
            ("chr1", 0, 5, 1),
            ("chr1", 5, 10, 2),
            ("chr1", 10, 15, 3),
            ("chr1", 20, 25, 5),
            ("chr2", 0, 4, 4),
        ],
    )


def test_bin_mean_and_max_by_hand(toy_bw):
    index = BinIndex(GENOME, 10)
    np.testing.assert_allclose(bin_stat(toy_bw, index, "mean"), [1.5, 3, 5, 4, NAN])
    np.testing.assert_allclose(bin_stat(toy_bw, index, "max"), [2, 3, 5, 4, NAN])


def test_bin_target_is_log1p_of_the_bin_mean(toy_bw, tmp_path):
    # chr1 bins [0,10) mean 1.5, [10,20) only [10,15) covered -> 3, short last bin [20,25) -> 5;
    # chr2 [0,10) covered [0,4) -> 4, short last bin [10,12) no data -> NaN
    target = bin_target(toy_bw, BinIndex(GENOME, 10))
    assert target.dtype == np.float32 and TARGET == "log1p(bin mean)"
    np.testing.assert_allclose(
        target, [np.log(2.5), np.log(4), np.log(6), np.log(5), NAN], rtol=1e-6
    )
    neg = write_bigwig(tmp_path / "neg.bw", [("chr1", 25), ("chr2", 12)], [("chr1", 0, 10, -0.5)])
    np.testing.assert_allclose(bin_target(neg, BinIndex(GENOME, 10)), [0, NAN, NAN, NAN, NAN])
    np.testing.assert_allclose(target_transform(np.array([NAN, -3.0, np.e - 1])), [NAN, 0, 1])


def test_profile_partial_last_bin_and_gaps(toy_bw):
    prof = bin_profile(toy_bw, BinIndex(GENOME, 10), resolution=5)
    expected = [[1, 2], [3, NAN], [5, NAN], [4, NAN], [NAN, NAN]]
    np.testing.assert_allclose(prof, expected)
    assert prof.shape == (5, 2) and prof.dtype == np.float32


def test_read_region_pads_with_nan(toy_bw):
    x = read_region(toy_bw, "chr1", 13, 27)
    np.testing.assert_allclose(x, [3, 3] + [NAN] * 5 + [5] * 5 + [NAN] * 2)
    np.testing.assert_allclose(
        region_stat(toy_bw, "1", 3, 25, 10),
        [np.mean([1, 1, 2, 2, 2, 2, 2, 3, 3, 3]), (3 + 3 + 5 + 5 + 5) / 5, 5],
        rtol=1e-6,
    )


def test_missing_chromosome_error_or_nan(toy_bw):
    bigger = Genome("toy3", ("chr1", "chr2", "chr3"), (25, 12, 7))
    with pytest.raises(InputError, match="no chromosome chr3"):
        bin_stat(toy_bw, BinIndex(bigger, 10))
    out = bin_stat(toy_bw, BinIndex(bigger, 10), missing="nan")
    np.testing.assert_allclose(out, [1.5, 3, 5, 4, NAN, NAN])


def test_length_disagreement_is_an_error(toy_bw):
    with pytest.raises(InputError, match="chr1 is 25 bp in the bigWig but 30 bp"):
        bin_stat(toy_bw, BinIndex(Genome("other", ("chr1", "chr2"), (30, 12)), 10))


def test_not_a_bigwig(tmp_path):
    (tmp_path / "x.bw").write_text("hello")
    with pytest.raises(InputError, match="not a readable bigWig"):
        read_region(tmp_path / "x.bw", "chr1", 0, 5)
    with pytest.raises(InputError, match="not found"):
        bin_stat(tmp_path / "nope.bw", BinIndex(GENOME, 10))


def test_quantile_normalize_hand_case():
    # rows sorted: [2,3,4,5] [1,2,4,4] [3,4,6,8]; reference = [2, 3, 14/3, 17/3]
    x = np.array([[5, 2, 3, 4], [4, 1, 4, 2], [3, 4, 6, 8]], dtype=float)
    ref = np.array([2, 3, 14 / 3, 17 / 3])
    tie = (ref[2] + ref[3]) / 2  # the two 4s of row 2 share ranks 3 and 4
    expected = [
        [ref[3], ref[0], ref[1], ref[2]],
        [tie, ref[0], tie, ref[1]],
        [ref[0], ref[1], ref[2], ref[3]],
    ]
    np.testing.assert_allclose(quantile_normalize(x), expected, rtol=1e-6)


def test_quantile_normalize_makes_distributions_equal():
    rng = np.random.default_rng(0)
    x = np.stack([rng.exponential(1, 1000), rng.exponential(5, 1000) + 2])
    q = quantile_normalize(x)
    np.testing.assert_allclose(np.sort(q[0]), np.sort(q[1]), rtol=1e-6)
    assert np.array_equal(np.argsort(q[1], kind="stable"), np.argsort(x[1], kind="stable"))


def test_average_and_binarize():
    x = np.array([[1.0, NAN, 4.0], [3.0, 2.0, 0.0]])
    np.testing.assert_allclose(average_track(x), [2, 1, 2])
    np.testing.assert_array_equal(binarize(np.array([1.0, 2.0, 2.5, NAN])), [0, 0, 1, NAN])


def test_real_k562_bigwig(real_data):
    path = real_data / "k562_chr9_tracks" / "bigwig_chr9_4000000_6000000_K562_H3K27ac.bigwig"
    genome = Genome("hg19", ("chr9",), (141213431,))
    index = BinIndex(genome, 10_000)
    means = bin_stat(path, index)
    assert means.shape == (index.n_bins,)
    inside = means[400:600]  # chr9:4-6 Mb
    assert np.isfinite(inside).mean() > 0.9 and np.nanmax(inside) > 1
    assert np.isnan(means[:390]).all()  # clipped file: no data before 4 Mb
    with pyBigWig.open(str(path)) as bw:
        expected = bw.stats("chr9", 5_000_000, 5_010_000, type="mean", exact=True)[0]
        base = bw.values("chr9", 5_000_000, 5_010_000, numpy=True)
    assert means[500] == pytest.approx(expected, rel=1e-5)
    assert means[500] == pytest.approx(np.nanmean(base), rel=1e-4)
    np.testing.assert_allclose(read_region(path, "chr9", 5_000_000, 5_010_000), base)
