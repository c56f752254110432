import pytest
import torch

from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig, conv_block, receptive_field
from qtlgraph.encoders.losses import masked_loss
from qtlgraph.errors import InputError

# bin 200 bp; stem strides 2 * 2 * 5 = 20 bp = acc_resolution; 10 accessibility values
SMALL = BinEncoderConfig(
    bin_size=200,
    acc_resolution=20,
    flank=40,
    flank_resolution=20,
    n_marks=2,
    dim=8,
    seq_channels=(4, 6),
    seq_kernels=(5, 3),
    seq_strides=(2, 1),
    seq_pools=(2, 5),
    acc_channels=3,
    trunk_kernels=(3,),
    trunk_pools=(1,),
    flank_channels=3,
    head_hidden=8,
)


def _inputs(config: BinEncoderConfig, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    seq = torch.nn.functional.one_hot(torch.randint(0, 4, (batch, config.bin_size), generator=g), 4)
    seq = seq.permute(0, 2, 1).float().contiguous()
    acc = torch.rand(batch, config.acc_positions, generator=g)
    flank = torch.rand(batch, config.flank_positions, generator=g) if config.flank else None
    return seq, acc, flank


def _span(grad: torch.Tensor) -> int:
    hit = torch.nonzero(grad.abs().sum(dim=0) > 0).ravel()
    return int(hit[-1] - hit[0] + 1)


def test_receptive_field_by_hand():
    # stem: conv k5 -> 5 (jump 2); pool 2 -> 5 + 1*2 = 7 (jump 4); conv k3 -> 7 + 2*4 = 15;
    # pool 5 -> 15 + 4*4 = 31 (jump 20); trunk conv k3 -> 31 + 2*20 = 71
    assert receptive_field(SMALL) == (31, 71, 200, 280)
    # default: 12 (jump 4) -> pool 5: 28 (jump 20) -> k5: 108 -> pool 5: 188 (jump 100) -> k3: 388
    assert receptive_field(BinEncoderConfig()).stem == 388
    assert BinEncoder(SMALL).receptive_field == receptive_field(SMALL)


@pytest.mark.parametrize("part", ["stem", "trunk"])
def test_receptive_field_matches_input_gradient(part):
    torch.manual_seed(0)
    model = BinEncoder(SMALL).double().eval()
    seq, acc, _ = _inputs(SMALL, 1)
    seq = seq.double().requires_grad_(True)
    out = model.seq_stem(seq) if part == "stem" else model.features(seq, acc.double())
    mid = out.shape[-1] // 2
    out[0, :, mid].sum().backward()
    assert _span(seq.grad[0]) == getattr(receptive_field(SMALL), part)


def test_output_shapes_with_and_without_flank():
    for config in (SMALL, BinEncoderConfig(**{**SMALL.to_dict(), "flank": 0})):
        model = BinEncoder(config).eval()
        seq, acc, flank = _inputs(config, 3)
        assert model.embed(seq, acc, flank).shape == (3, 8)
        assert model(seq, acc, flank).shape == (3, 2)
        assert model.features(seq, acc).shape == (3, 8, 10)


def test_flank_required_when_configured():
    seq, acc, _ = _inputs(SMALL, 2)
    with pytest.raises(InputError, match="flank"):
        BinEncoder(SMALL)(seq, acc)


def test_conv_block_divides_length_exactly():
    block = conv_block(4, 2, kernel=12, stride=4, pool=5)
    assert block(torch.zeros(1, 4, 10_000)).shape == (1, 2, 500)


def test_config_checks_and_round_trip():
    with pytest.raises(InputError, match="stride"):
        BinEncoderConfig(seq_pools=(5, 5, 2))
    with pytest.raises(InputError, match="unknown"):
        BinEncoderConfig.from_dict({"dimm": 3})
    assert BinEncoderConfig.from_dict(SMALL.to_dict()) == SMALL


def test_batch_size_1_and_16_agree():
    torch.manual_seed(1)
    model = BinEncoder(SMALL).eval()
    seq, acc, flank = _inputs(SMALL, 16)
    with torch.no_grad():
        whole = model(seq, acc, flank)
        single = torch.cat(
            [model(seq[i : i + 1], acc[i : i + 1], flank[i : i + 1]) for i in range(16)]
        )
    torch.testing.assert_close(single, whole, rtol=1e-5, atol=1e-5)


def test_one_step_lowers_masked_loss_and_ignores_nan():
    torch.manual_seed(2)
    model = BinEncoder(SMALL).train()
    seq, acc, flank = _inputs(SMALL, 16)
    target = torch.rand(16, 2) * 3
    target[::3, 1] = float("nan")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = masked_loss(model(seq, acc, flank), target, "mse")
    assert torch.isfinite(before)
    opt.zero_grad()
    before.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    opt.step()
    after = masked_loss(model(seq, acc, flank), target, "mse")
    assert after < before
    # the NaN entries do not count: same loss as over the finite entries only
    pred = model(seq, acc, flank).detach()
    keep = torch.isfinite(target)
    torch.testing.assert_close(
        masked_loss(pred, target, "mse"), ((pred - target)[keep] ** 2).mean()
    )
