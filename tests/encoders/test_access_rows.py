"""Accessibility inputs read from their cache file equal the in-memory arrays, by any index."""

import os

import numpy as np
import pytest
from tiny_bin_data import write_tiny_dataset

from qtlgraph.encoders.access_rows import access_cache_path, open_access_rows
from qtlgraph.encoders.bin_dataset import load_bin_arrays
from qtlgraph.encoders.bin_encoder import BinEncoderConfig
from qtlgraph.genome import BinIndex


@pytest.fixture()
def tiny(tmp_path, monkeypatch):
    from qtlgraph.manifest import load_dataset

    monkeypatch.setenv("QTLGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    dataset = load_dataset(write_tiny_dataset(tmp_path / "data"))
    return dataset, BinIndex(dataset.genome, 10_000)


@pytest.mark.parametrize("flank", [20_000, 0])
def test_streamed_inputs_equal_the_arrays(tiny, flank):
    dataset, index = tiny
    config = BinEncoderConfig(flank=flank)
    held = load_bin_arrays(dataset, index, config, stream=False)
    streamed = load_bin_arrays(dataset, index, config)
    assert streamed.acc.shape == held.acc.shape
    np.testing.assert_array_equal(streamed.targets, held.targets)
    n = index.n_bins
    every = np.arange(n)
    for cell in range(len(dataset.cell_types)):
        np.testing.assert_array_equal(streamed.acc[cell, every], held.acc[cell])
    rng = np.random.default_rng(0)
    cells, bins = rng.integers(0, 2, 40), rng.integers(0, n, 40)  # per-item cells, repeats
    np.testing.assert_array_equal(streamed.acc[cells, bins], held.acc[cells, bins])
    np.testing.assert_array_equal(streamed.acc[1, 3], held.acc[1, 3])
    if flank:
        assert streamed.flank.shape == held.flank.shape
        np.testing.assert_array_equal(streamed.flank[cells, bins], held.flank[cells, bins])
        np.testing.assert_array_equal(streamed.flank[1, 7, 20:30], held.flank[1, 7, 20:30])
    else:
        assert streamed.flank is None and held.flank is None


def test_cache_is_written_once_and_keyed_by_the_tracks(tiny):
    dataset, index = tiny
    config = BinEncoderConfig()
    first = open_access_rows(dataset, index, config)[0].file.path
    stamp = first.stat().st_mtime_ns
    assert open_access_rows(dataset, index, config)[0].file.path == first
    assert first.stat().st_mtime_ns == stamp  # read, not rewritten
    other = access_cache_path(dataset, index, BinEncoderConfig(flank=0))
    assert other != first  # another flank is another file
    track = dataset.cell_types[0].accessibility
    os.utime(track, ns=(stamp + 10**9, stamp + 10**9))  # a replaced bigWig: a new key
    assert access_cache_path(dataset, index, config) != first
    assert not list(first.parent.glob(".*.tmp"))


def test_access_batch_reads_both_inputs_in_one_pass(tiny, monkeypatch):
    from qtlgraph.encoders.access_rows import access_batch
    from qtlgraph.row_files import RowFile

    dataset, index = tiny
    config = BinEncoderConfig()
    held = load_bin_arrays(dataset, index, config, stream=False)
    streamed = load_bin_arrays(dataset, index, config)
    reads = []
    original = RowFile.rows
    monkeypatch.setattr(RowFile, "rows", lambda self, r: reads.append(len(r)) or original(self, r))
    cells, bins = np.array([0, 1, 1, 0]), np.array([5, 2, 9, 5])
    acc, flank = access_batch(streamed, cells, bins)
    assert reads == [4]
    want_acc, want_flank = access_batch(held, cells, bins)
    np.testing.assert_array_equal(acc, want_acc)
    np.testing.assert_array_equal(flank, want_flank)
    assert acc.flags.c_contiguous and flank.flags.c_contiguous
    unflanked = load_bin_arrays(dataset, index, BinEncoderConfig(flank=0))
    acc, flank = access_batch(unflanked, 1, bins)
    assert flank is None and acc.shape == (4, 100)
