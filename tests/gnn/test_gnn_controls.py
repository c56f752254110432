import numpy as np
from qtlgraph.gnn.controls import shuffle_sources
from qtlgraph.gnn.data import CellEdges


def test_shuffle_keeps_in_degree_and_chromosome():
    rng = np.random.default_rng(1)
    starts, ends = np.array([0, 100, 130]), np.array([100, 130, 200])
    target = rng.integers(0, 200, size=2000)
    chrom = np.searchsorted(starts, target, side="right") - 1
    source = starts[chrom] + rng.integers(0, 1000, size=2000) % (ends[chrom] - starts[chrom])
    e = CellEdges(source, target, np.zeros(2000, np.int64), np.zeros((2000, 5)))
    s = shuffle_sources(e, starts, ends, seed=3)
    assert np.array_equal(
        np.bincount(s.target, minlength=200), np.bincount(e.target, minlength=200)
    )
    s_chrom = np.searchsorted(starts, s.source, side="right") - 1
    assert np.array_equal(s_chrom, chrom)
    assert (s.source != e.source).mean() > 0.9
    # deterministic for a seed
    assert np.array_equal(shuffle_sources(e, starts, ends, seed=3).source, s.source)
