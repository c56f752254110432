import math

import numpy as np
import pytest
import torch
from torch import nn

from qtlgraph.analysis.receptive_field import (
    gradient_probe,
    perturbation_probe,
    random_onehot,
    same_padding_map,
    sequential_receptive_field,
    summarise,
)
from qtlgraph.analysis.rf_report import sensitivity
from qtlgraph.analysis.rf_targets import SequenceOnly, bin_encoder_target, load_target, unet_target
from qtlgraph.encoders.unet import UNet, UNetConfig, receptive_field
from qtlgraph.errors import InputError


def _conv_stack() -> nn.Module:
    # kernel 5 then kernel 3 dilated 2, both 'same': RF = 1 + 4 + 2 * 2 = 9, offsets -4..4
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(4, 3, 5, padding=2), nn.Tanh(), nn.Conv1d(3, 2, 3, padding=2, dilation=2)
    )


class Ignores(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.ones(2, 1))

    def forward(self, x):
        return (
            self.bias.expand(2, x.shape[-1]).unsqueeze(0).expand(x.shape[0], -1, -1) + 0 * x.sum()
        )


class Strided(nn.Module):
    """Output j reads bases [4j, 4j + 4): stride 4, no overlap."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(4, 2, 4, stride=4)

    def forward(self, x):
        return self.conv(x)


def test_random_onehot_is_one_hot_and_seeded():
    x = random_onehot(3, 50, seed=1)
    assert x.shape == (3, 4, 50) and x.dtype == torch.float64
    assert torch.equal(x.sum(dim=1), torch.ones(3, 50))
    assert torch.equal(x, random_onehot(3, 50, seed=1))
    assert not torch.equal(x, random_onehot(3, 50, seed=2))


def test_conv_stack_spans_by_hand():
    model = _conv_stack()
    X = random_onehot(4, 64)
    assert sequential_receptive_field(model) == 9
    g = gradient_probe(model, X)
    p = perturbation_probe(model, X)
    assert (g.span, g.start, g.end) == (9, -4.0, 4.0)
    assert (p.span, p.start, p.end) == (9, -4.0, 4.0)
    assert g.position == 32 and p.position == 32 and g.n_inputs == 4


def test_edge_and_integer_positions():
    model = _conv_stack()
    X = random_onehot(2, 64)
    edge = perturbation_probe(model, X, "edge")
    assert (edge.position, edge.start, edge.end, edge.span) == (
        0,
        0.0,
        4.0,
        5,
    )  # clipped by the edge
    g = gradient_probe(model, X, 10)
    assert (g.start, g.end) == (-4.0, 4.0) and g.offsets[0] == -10


def test_model_ignoring_input_has_span_zero():
    X = random_onehot(3, 32)
    for result in (perturbation_probe(Ignores(), X), gradient_probe(Ignores(), X)):
        assert result.span == 0 and result.effective_width == 0 and math.isnan(result.start)
        assert sensitivity(result) == 0.0


def test_strided_model_maps_outputs_to_input():
    X = random_onehot(3, 64)
    p = perturbation_probe(Strided(), X)  # base 32 lies in output 8, centred at 33.5
    assert (p.start, p.end, p.span) == (1.5, 1.5, 4)
    g = gradient_probe(Strided(), X)  # output 8 reads bases 32..35
    assert (g.start, g.end, g.span) == (-1.5, 1.5, 4)
    shifted = perturbation_probe(Strided(), X, output_to_input=lambda j: j * 4.0)
    assert shifted.start == 0.0
    assert same_padding_map(64, 16)(np.array([0, 8])).tolist() == [1.5, 33.5]
    with pytest.raises(InputError, match="output_to_input"):
        same_padding_map(64, 10)


def test_batch_size_does_not_change_results():
    model, X = _conv_stack(), random_onehot(5, 40)
    a = perturbation_probe(model, X, batch_size=1)
    b = perturbation_probe(model, X, batch_size=8)
    np.testing.assert_allclose(a.profile, b.profile, rtol=1e-12)
    c, d = gradient_probe(model, X, batch_size=2), gradient_probe(model, X, batch_size=5)
    np.testing.assert_allclose(c.profile, d.profile, rtol=1e-12)


def test_probe_leaves_the_model_untouched():
    model = _conv_stack().train()
    gradient_probe(model, random_onehot(2, 32))
    assert model.training and next(model.parameters()).dtype == torch.float32


def test_bad_input_raises():
    model = _conv_stack()
    with pytest.raises(InputError, match=r"\(n, 4, length\)"):
        perturbation_probe(model, torch.zeros(2, 5, 10))
    with pytest.raises(InputError, match="outside"):
        perturbation_probe(model, random_onehot(1, 10), 10)
    with pytest.raises(InputError, match="center, edge"):
        gradient_probe(model, random_onehot(1, 10), "middle")
    with pytest.raises(InputError, match="tracks"):
        gradient_probe(model, random_onehot(1, 10), track=5)


def test_summarise_quantile_width_by_hand():
    offsets = np.arange(-5, 6, dtype=float)
    effects = np.zeros((1, 11))
    effects[0, [3, 4, 5, 6, 7]] = [1, 2, 14, 2, 1]  # offsets -2..2, 70% of the mass at 0
    r = summarise("gradient", offsets, effects, 1.0, 5, quantile=0.5)
    assert (r.span, r.start, r.end) == (5, -2.0, 2.0)
    assert r.effective_width == 1
    assert summarise("gradient", offsets, effects, 1.0, 5, quantile=1.0).effective_width == 5


def _positive(model: nn.Module) -> nn.Module:
    with torch.no_grad():  # positive weights: every ReLU active, no cancellation
        for p in model.parameters():
            p.uniform_(0.1, 1.0)
    return model


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("depth,kernel", [(1, 3), (2, 5), (3, 3), (2, 4)])
def test_unet_gradient_span_equals_analytic(depth, kernel):
    c = UNetConfig(
        in_channels=4,
        out_channels=1,
        depth=depth,
        base_filters=2,
        kernel_size=kernel,
        pool="avg",
        length=256,
    )
    torch.manual_seed(0)
    model = _positive(UNet(c))
    X = random_onehot(2, c.length)
    for j in (128, 129, 128 + 2**depth - 1):
        rf = receptive_field(c, j)
        g = gradient_probe(model, X, j)
        assert (g.start, g.end + 1, g.span) == (rf.start, rf.end, rf.size)


def test_perturbation_and_gradient_agree_on_small_unet():
    c = UNetConfig(
        in_channels=4,
        out_channels=2,
        depth=2,
        base_filters=3,
        kernel_size=3,
        pool="avg",
        length=128,
    )
    model = unet_target(c._asdict(), seed=0).model
    X = random_onehot(4, c.length)
    p, g = perturbation_probe(model, X), gradient_probe(model, X)
    lo, hi = receptive_field(c).start, receptive_field(c).end
    assert p.span == g.span
    assert lo <= g.start and g.end < hi and lo <= -p.end and -p.start < hi


def test_default_leopard_unet_near_report():
    target = load_target("unet:A")
    assert (target.analytic["min_size"], target.analytic["max_size"]) == (1140, 1172)
    X = random_onehot(2, 2048)  # the span needs ~1.2 kb; the default window is 10,240
    g = gradient_probe(target.model, X)
    p = perturbation_probe(target.model, X)
    for r in (g, p):  # max pooling selects within the structural span: never more
        assert 1000 <= r.span <= 1172
        assert target.analytic["start"] <= r.start and r.end < target.analytic["end"]


def test_unet_with_accessibility_channels_is_fed_zeros():
    target = load_target("unet:B")
    assert isinstance(target.model, SequenceOnly) and target.model.n_extra == 2
    assert target.model(random_onehot(1, 64, dtype=torch.float32)).shape == (1, 2, 64)


def test_bin_encoder_gradient_span_equals_analytic():
    target = bin_encoder_target()
    g = gradient_probe(target.model, random_onehot(2, target.length), batch_size=2)
    assert g.span == target.analytic["size"]


def test_weight_mismatch_is_one_line(tmp_path):
    from qtlgraph.analysis.rf_targets import _weights_mismatch

    try:
        nn.Linear(3, 2).load_state_dict(nn.Linear(3, 4).state_dict())
    except RuntimeError as exc:
        assert len(str(exc).splitlines()) > 1  # PyTorch's own message spans lines
        err = _weights_mismatch(tmp_path, exc)
    lines = str(err).splitlines()
    assert len(lines) == 1 and "weights do not match config.json" in lines[0]
    assert "size mismatch for weight" in lines[0] and str(tmp_path) in lines[0]
