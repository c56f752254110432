"""torch_file.save writes what torch.load(weights_only=True) reads back unchanged."""

import numpy as np
import pytest
import torch

from qtlgraph import torch_file


def _arrays() -> dict:
    rng = np.random.default_rng(0)
    return {
        "edge_index": rng.integers(0, 100, (2, 7)),
        "edge_attr": rng.normal(size=(7, 5)).astype(np.float32),
        "empty": np.zeros((0, 5), np.float32),
        "scalar": np.array(3.5),
        "mask": np.array([True, False, True]),
        "codes": np.arange(9, dtype=np.uint8)[::2],  # a strided view
        "transposed": np.arange(12, dtype=">i8").reshape(3, 4).T,  # big-endian, F order
        "half": np.array([0.5, -2.0], np.float16),
        "int32": np.array([-1, 2**31 - 1], np.int32),
        "num_nodes": 7,
        "edge_types": ["H3K27ac", "loop"],
        "nested": {"bin_size": 10_000, "ratio": 0.25},
    }


@pytest.mark.parametrize("mmap", [False, True])
def test_torch_loads_what_was_saved(tmp_path, mmap):
    arrays = _arrays()
    torch_file.save(arrays, tmp_path / "x.pt")
    loaded = torch.load(tmp_path / "x.pt", weights_only=True, mmap=mmap)
    assert loaded.keys() == arrays.keys()
    for key, value in arrays.items():
        if isinstance(value, np.ndarray):
            expected = torch.from_numpy(np.array(value, value.dtype.newbyteorder("=")))
            got = loaded[key]
            assert got.dtype == expected.dtype and got.shape == expected.shape, key
            assert torch.equal(got, expected), key
            assert got.is_contiguous()
        else:
            assert loaded[key] == value


def test_same_content_as_torch_save(tmp_path):
    arrays = _arrays()
    ours = torch.load(torch_file.save(arrays, tmp_path / "ours.pt"), weights_only=True)
    tensors = {
        k: torch.from_numpy(np.array(v, v.dtype.newbyteorder("=")))
        if isinstance(v, np.ndarray)
        else v
        for k, v in arrays.items()
    }
    torch.save(tensors, tmp_path / "torch.pt")
    theirs = torch.load(tmp_path / "torch.pt", weights_only=True)
    for key in arrays:
        if isinstance(theirs[key], torch.Tensor):
            assert torch.equal(ours[key], theirs[key]), key
            assert ours[key].dtype == theirs[key].dtype, key
        else:
            assert ours[key] == theirs[key]


def test_refuses_unsupported_dtypes(tmp_path):
    with pytest.raises(TypeError, match="no torch storage"):
        torch_file.save({"x": np.array(["a"])}, tmp_path / "x.pt")
