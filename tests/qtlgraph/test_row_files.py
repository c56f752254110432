"""Row files: written whole or not at all, read back as NumPy indexing would, built once."""

import numpy as np
import pytest

from qtlgraph.row_files import (
    RowFile,
    build_once,
    cache_location,
    scratch_rows,
    source_key,
    write_rows,
)


def test_rows_of_any_dtype_read_back_in_the_order_asked(tmp_path):
    values = np.random.default_rng(0).normal(size=(30, 7)).astype(np.float32)
    path = write_rows(tmp_path / "x.npy", values.shape, np.float32, [values[:11], values[11:]])
    np.testing.assert_array_equal(np.load(path), values)  # a plain .npy file
    rows = RowFile(path)
    assert rows.shape == (30, 7) and rows.dtype == np.float32
    for picked in ([3, 4, 5], [5, 4, 3], [0, 29, 0, 12], [-1]):
        np.testing.assert_array_equal(rows[picked], values[picked])
    np.testing.assert_array_equal(rows[2:9], values[2:9])
    np.testing.assert_array_equal(rows[4], values[4])
    with pytest.raises(IndexError):
        rows[[30]]


def test_a_short_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="wrote 2 rows, expected 3"):
        write_rows(tmp_path / "x.npy", (3, 2), np.int64, [np.zeros((2, 2))])
    assert list(tmp_path.iterdir()) == []


def test_build_once_and_keys(tmp_path, monkeypatch):
    calls = []

    def write(path):
        calls.append(path)
        write_rows(path, (1, 1), np.uint8, [np.ones((1, 1))])

    path = tmp_path / "sub" / "c.npy"
    assert build_once(path, write) == path and build_once(path, write) == path
    assert len(calls) == 1
    source = tmp_path / "in.txt"
    source.write_text("a")
    key = source_key([source], 10)
    assert key == source_key([source], 10) and key != source_key([source], 20)
    assert cache_location("codes", source, "f.npy") == tmp_path / "f.npy"  # beside the input
    monkeypatch.setenv("QTLGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_location("codes", source, "f.npy") == tmp_path / "cache" / "codes" / "f.npy"


def test_leading_axes_are_rows_and_a_window_starts_at_its_first_row(tmp_path):
    values = np.arange(3 * 5 * 2, dtype=np.int32).reshape(3, 5, 2)
    np.save(tmp_path / "e.npy", values)
    rows = RowFile(tmp_path / "e.npy")
    assert rows.shape == (15, 2)
    second = rows.window(5, 10)  # the second of three (5, 2) blocks
    assert second.shape == (5, 2) and len(second) == 5
    np.testing.assert_array_equal(second[[4, 0]], values[1][[4, 0]])
    np.testing.assert_array_equal(second[1:3], values[1][1:3])
    with pytest.raises(IndexError):
        second[[5]]
    with pytest.raises(IndexError):
        rows.window(10, 16)


def test_scratch_rows_are_removed_with_their_reader(tmp_path, monkeypatch):
    import gc

    monkeypatch.setenv("QTLGRAPH_CACHE_DIR", str(tmp_path))
    values = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    rows = scratch_rows(values.shape, np.float32, [values[:4], values[4:]])
    path = rows.path
    assert path.parent == tmp_path / "scratch" and path.is_file()
    np.testing.assert_array_equal(rows[[5, 1]], values[[5, 1]])
    window = rows.window(2, 6)
    del rows
    gc.collect()
    assert path.is_file()  # a window keeps its file
    np.testing.assert_array_equal(window[[0, 3]], values[[2, 5]])
    del window
    gc.collect()
    assert not path.exists()
    with pytest.raises(ValueError, match="wrote 1 rows"):
        scratch_rows((2, 3), np.float32, [values[:1]])
    assert list((tmp_path / "scratch").iterdir()) == []
