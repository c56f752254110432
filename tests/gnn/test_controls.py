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


def _degrees(e, n):
    out = {}
    for t in np.unique(e.type):
        m = e.type == t
        out[int(t)] = (
            np.bincount(e.target[m], minlength=n).tolist(),
            np.bincount(e.source[m], minlength=n).tolist(),
        )
    return out


def test_shuffle_keeps_in_and_out_degrees_by_hand():
    # chromosome 0 = bins 0-3, chromosome 1 = bins 4-5; type 0 edges on chr0 have sources
    # 0, 0, 1, 2 (out-degrees 2, 1, 1) into targets 3, 2, 3, 1 (in-degrees 1, 1, 2 at 1, 2, 3)
    src = np.array([0, 0, 1, 2, 0, 3, 4, 5, 4])
    dst = np.array([3, 2, 3, 1, 1, 0, 5, 4, 4])
    typ = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0])
    attr = np.arange(9 * 5, dtype=float).reshape(9, 5)
    e = CellEdges(src, dst, typ, attr)
    starts, ends = np.array([0, 4]), np.array([4, 6])
    shuffled = [shuffle_sources(e, starts, ends, seed=s) for s in range(10)]
    for s in shuffled:
        assert _degrees(s, 6) == _degrees(e, 6)
        assert np.array_equal(s.target, dst) and np.array_equal(s.type, typ)
        assert np.array_equal(s.attr, attr)
        # every edge's source stays on its chromosome and within its own edge type's sources
        assert set(s.source[6:].tolist()) <= {4, 5}
        assert sorted(s.source[:4].tolist()) == [0, 0, 1, 2]
    assert any(not np.array_equal(s.source, src) for s in shuffled)  # the wiring changes


def test_shuffle_keeps_degree_histograms_of_a_larger_graph():
    rng = np.random.default_rng(4)
    n, e_n = 300, 3000
    starts, ends = np.array([0, 120]), np.array([120, 300])
    target = rng.integers(0, n, size=e_n)
    chrom = (target >= 120).astype(int)
    source = starts[chrom] + (rng.pareto(1.5, e_n) * 5).astype(int) % (ends - starts)[chrom]
    typ = rng.integers(0, 2, size=e_n)
    e = CellEdges(source, target, typ, np.zeros((e_n, 5)))
    s = shuffle_sources(e, starts, ends, seed=1)
    assert _degrees(s, n) == _degrees(e, n)
    assert (s.source != e.source).mean() > 0.5
    pairs = s.type * n * n + s.target * n + s.source
    assert len(np.unique(pairs)) >= len(np.unique(e.type * n * n + e.target * n + e.source))
