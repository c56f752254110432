"""The per-bin base-code cache reads back exactly the rows asked for, in the order asked."""

from __future__ import annotations

import numpy as np

from qtlgraph.bin_codes import BinCodes


def test_rows_come_back_as_numpy_indexing_gives_them(tmp_path):
    codes = (np.arange(20 * 7).reshape(20, 7) % 5).astype(np.uint8)
    np.save(tmp_path / "codes.npy", codes)
    cache = BinCodes(tmp_path / "codes.npy")
    # consecutive file rows wanted out of order: read in place only when the order matches
    assert (cache[[10, 12, 11, 13]] == codes[[10, 12, 11, 13]]).all()
    rng = np.random.default_rng(0)
    for _ in range(200):
        rows = rng.integers(0, 20, size=rng.integers(1, 15))
        assert (cache[rows] == codes[rows]).all(), rows
    assert (cache[3:9] == codes[3:9]).all() and (cache[-1] == codes[-1]).all()
