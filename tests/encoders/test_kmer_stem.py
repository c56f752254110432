import numpy as np
import pytest
import torch

from qtlgraph.encoders.bin_dataset import one_hot_codes
from qtlgraph.encoders.bin_encoder import conv_block
from qtlgraph.encoders.kmer_stem import first_block, lookup_applies, lookup_table, smer_codes


def test_smer_codes_by_hand():
    # A C G T | N A A A with s = 4: digits least significant first
    codes = torch.tensor([[0, 1, 2, 3, 4, 0, 0, 0]], dtype=torch.uint8)
    assert smer_codes(codes, 4).tolist() == [[0 + 1 * 5 + 2 * 25 + 3 * 125, 4]]


@pytest.mark.parametrize("kernel,stride,pool", [(12, 4, 5), (6, 2, 1), (3, 1, 4)])
def test_lookup_equals_convolution(kernel, stride, pool):
    torch.manual_seed(0)
    block = conv_block(4, 6, kernel, stride, pool).eval()
    block[-2].running_mean.uniform_(-1, 1)
    block[-2].running_var.uniform_(0.5, 2.0)
    assert lookup_applies(block)
    codes = np.random.default_rng(0).integers(0, 5, size=(3, 240), dtype=np.uint8)
    codes[0, :40] = 4  # a run of N, and N at the very start (padding side)
    with torch.no_grad():
        expected = block(one_hot_codes(codes))
        got = first_block(block, torch.from_numpy(codes), lookup_table(block))
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_lookup_does_not_apply_to_even_group_count():
    assert not lookup_applies(
        conv_block(4, 6, kernel=8, stride=4)
    )  # k / s = 2: padding not whole s-mers
    assert not lookup_applies(conv_block(5, 6, kernel=12, stride=4))  # not a one-hot input
