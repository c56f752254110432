import numpy as np
import pytest
import torch

from qtlgraph.encoders.baselines import (
    baseline_spec,
    channels,
    conditioning_cells,
    make_inputs,
    make_targets,
    outputs_for_cell,
    unet_config,
)
from qtlgraph.encoders.unet import UNet
from qtlgraph.errors import InputError


@pytest.mark.parametrize("name,n_in,n_out", [("A", 4, 6), ("B", 6, 2), ("C", 6, 6), ("D", 4, 2)])
def test_table3_channels(name, n_in, n_out):
    spec = baseline_spec(name)
    assert channels(spec, n_cell_types=3, n_marks=2) == (n_in, n_out)
    cfg = unet_config(spec, 3, 2, depth=2, base_filters=4, length=64)
    out = UNet(cfg).eval()(torch.zeros(2, n_in, 64))
    assert out.shape == (2, n_out, 64)


def test_inputs_hold_own_and_average_accessibility():
    onehot = np.zeros((2, 4, 3), np.float32)
    access = np.array([[[1, 1, 1], [3, 3, 3], [5, 5, 5]]] * 2, np.float32)  # (B=2, C=3, L=3)
    x = make_inputs(baseline_spec("B"), onehot, access, np.array([0, 2]))
    assert x.shape == (2, 6, 3)
    assert x[0, 4].tolist() == [1, 1, 1] and x[1, 4].tolist() == [5, 5, 5]
    assert x[0, 5].tolist() == [3, 3, 3]  # mean of 1, 3, 5
    assert make_inputs(baseline_spec("A"), onehot, None, np.array([0, 2])).shape == (2, 4, 3)


def test_targets_and_outputs_per_cell_type():
    marks = np.arange(2 * 3 * 2 * 1, dtype=np.float32).reshape(2, 3, 2, 1)  # (B, C, M, L)
    cell = np.array([1, 2])
    a = make_targets(baseline_spec("A"), marks, cell)
    assert a.shape == (2, 6, 1) and a[0, :, 0].tolist() == [0, 1, 2, 3, 4, 5]
    b = make_targets(baseline_spec("D"), marks, cell)
    assert b[:, :, 0].tolist() == [[2, 3], [10, 11]]
    assert outputs_for_cell(baseline_spec("C"), a, 2, 2)[0, :, 0].tolist() == [4, 5]
    assert outputs_for_cell(baseline_spec("B"), b, 2, 2) is b
    assert conditioning_cells(baseline_spec("B"), 3) == [0, 1, 2]
    assert conditioning_cells(baseline_spec("D"), 3) == [None]


def test_unknown_model():
    with pytest.raises(InputError, match="A, B, C, D"):
        baseline_spec("E")
