import pytest
import torch

from qtlgraph.encoders.blocks import same_padding
from qtlgraph.encoders.unet import (
    UNet,
    UNetConfig,
    channel_schedule,
    receptive_field,
    receptive_field_sizes,
)
from qtlgraph.errors import InputError


def test_default_is_leopard_shape():
    c = UNetConfig(in_channels=6, out_channels=2)
    down, up = channel_schedule(c)
    assert down == [15, 22, 33, 49, 73, 109]  # Leopard: num = int(num * 1.5)
    assert up == [72, 48, 32, 21, 14]  # Leopard: num = int(num / 1.5)
    model = UNet(c)
    assert model.stem[0][0].kernel_size == (7,)
    assert len(model.downs) == 5 and len(model.ups) == 5
    assert isinstance(model.downs[0][0], torch.nn.MaxPool1d)
    out = model.eval()(torch.zeros(1, 6, 1024))
    assert out.shape == (1, 2, 1024)


def test_geometric_schedule():
    down, up = channel_schedule(UNetConfig(schedule="geometric"))
    assert down == [15, 22, 33, 50, 75, 113] and up == [75, 50, 33, 22, 15]


def test_default_receptive_field_matches_report_range():
    assert receptive_field_sizes(UNetConfig()) == (1140, 1172)


def test_receptive_field_by_hand_depth_one():
    c = UNetConfig(in_channels=1, out_channels=1, depth=1, kernel_size=3, pool="avg", length=64)
    # position 0: decoder conv-conv -> [-2, 2] at level 0. Skip branch: stem conv-conv ->
    # [-4, 4]. Deep branch: upsampling reads level-1 [-1, 1], its conv-conv -> [-3, 3],
    # pooling -> level-0 [-6, 7], stem -> [-8, 9]; union [-8, 9], end exclusive -> 10.
    assert receptive_field(c, 0) == (-8, 10, 18)
    # position 1: decoder [-1, 3] -> level-1 [-1, 1] again -> input [-8, 9], i.e. [-9, 8] from 1
    assert receptive_field(c, 1) == (-9, 9, 18)
    assert receptive_field(c) == (-9, 10, 19)


def _gradient_span(config, position):
    torch.manual_seed(0)
    model = UNet(config).double().eval()
    with torch.no_grad():  # positive weights and biases: every ReLU active, no cancellation
        for p in model.parameters():
            p.uniform_(0.1, 1.0)
    x = torch.rand(1, config.in_channels, config.length, dtype=torch.float64, requires_grad=True)
    model(x)[0, 0, position].backward()
    g = x.grad.abs().sum(dim=(0, 1))
    nz = torch.nonzero(g > g.max() * 1e-12).ravel()
    return int(nz.min()) - position, int(nz.max()) + 1 - position


@pytest.mark.parametrize("depth,kernel", [(1, 3), (2, 5), (3, 3), (2, 4), (3, 7)])
def test_receptive_field_equals_gradient_span(depth, kernel):
    c = UNetConfig(
        in_channels=2,
        out_channels=1,
        depth=depth,
        base_filters=2,
        kernel_size=kernel,
        pool="avg",
        length=512,
    )
    for position in (256, 257, 256 + 2**depth - 1):
        rf = receptive_field(c, position)
        assert _gradient_span(c, position) == (rf.start, rf.end)


def test_max_pool_gradient_span_within_analytic():
    c = UNetConfig(
        in_channels=2,
        out_channels=1,
        depth=2,
        base_filters=3,
        kernel_size=5,
        pool="max",
        length=256,
    )
    rf = receptive_field(c, 128)
    start, end = _gradient_span(c, 128)
    assert rf.start <= start and end <= rf.end


def test_same_padding():
    assert same_padding(7) == (3, 3) and same_padding(4) == (1, 2)


def test_bad_config_raises():
    with pytest.raises(InputError, match="multiple of"):
        UNet(UNetConfig(length=1000))
    with pytest.raises(InputError, match="pooling"):
        UNet(UNetConfig(pool="median"))
