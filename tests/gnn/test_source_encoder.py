"""The distal source encoder's table lookups against the F.conv1d they replace."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from qtlgraph.gnn.distal import ACTIVATIONS, SourceEncoder, gc_content


def conv_reference(enc: SourceEncoder, codes: torch.Tensor) -> torch.Tensor:
    """The encoder's forward written as the strand-symmetric ``F.conv1d`` it computes."""
    if enc.background is not None:
        bg = conv_features(enc, enc.background)
        if enc.match == "gc":  # a Gaussian kernel of the GC gap, row by row
            gc = [gc_content(c[None])[0] for c in (*codes, *enc.background)]
            own, other = torch.stack(gc[: len(codes)]), torch.stack(gc[len(codes) :])
            own, other = own.to(bg.dtype), other.to(bg.dtype)
            k = torch.exp(-0.5 * ((own[:, None] - other[None]) / enc.GC_BANDWIDTH) ** 2)
            centre = (k / k.sum(dim=1, keepdim=True)) @ bg
        else:
            centre = bg.mean(dim=0)
        return enc.out(conv_features(enc, codes) - centre)
    return enc.out(conv_features(enc, codes))


def conv_features(enc: SourceEncoder, codes: torch.Tensor) -> torch.Tensor:
    """The pooled counts the output layer reads, through ``F.conv1d``."""
    onehot = F.one_hot(codes.long(), 5)[..., :4].transpose(1, 2).to(enc.weight.dtype)
    weight = torch.cat([enc.filters(), enc.filters().flip(1, 2)])
    pad = (enc.kernel - enc.stride) // 2
    pre = F.conv1d(onehot, weight, enc.bias.repeat(2), enc.stride, pad)

    def act(x):
        y = ACTIVATIONS[enc.activation](x)
        if enc.surrogate:  # ReLU's values, softplus' gradient
            y = y.detach() + F.softplus(x) - F.softplus(x).detach()
        return y

    c, per = enc.channels, 1000.0 / codes.shape[-1]
    power = 2 if enc.activation == "relu2" else 1  # relu2: squared ReLU outputs summed
    per_kb = (act(pre[:, :c]) ** power + act(pre[:, c:]) ** power).sum(dim=-1) * per
    # per strand the activation of the maximum (monotone: the maximum of the activations)
    peak = torch.maximum(act(pre[:, :c].amax(dim=-1)), act(pre[:, c:].amax(dim=-1)))
    # each level: the per-kb sum of the hinge ReLU(activation - level), both strands
    hinges = [F.relu(act(pre) - level) for level in enc.levels]
    above = [(h[:, :c] + h[:, c:]).sum(dim=-1) * per for h in hinges]
    return torch.cat([per_kb, peak, *above], dim=-1).to(enc.out.weight.dtype)


def codes_with_n(n_bins=5, length=997, seed=0):
    """Random bases with scattered N, an N run and one bin that is all N."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (n_bins, length), generator=gen, dtype=torch.uint8)
    codes[torch.rand(n_bins, length, generator=gen) < 0.05] = 4
    codes[1, 100:160] = 4
    codes[-1] = 4
    return codes


def output_and_grads(enc, forward, codes):
    enc.zero_grad()
    y = forward(codes)
    (y * torch.linspace(-1, 1, y.shape[1], dtype=y.dtype)).sum().backward()
    return [y.detach()] + [p.grad.clone() for p in enc.parameters()]


@pytest.mark.parametrize("kernel, stride", [(12, 1), (7, 1), (12, 2), (13, 3), (5, 1)])
@pytest.mark.parametrize("activation", ["relu", "relu2", "softplus"])
@pytest.mark.parametrize("standardize", [False, True])
def test_lookups_equal_the_convolution(kernel, stride, activation, standardize, monkeypatch):
    monkeypatch.setattr(SourceEncoder, "BLOCK", 2000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # blocks of 2, 2 and 1 bins
    torch.manual_seed(0)
    enc = SourceEncoder(12, kernel, stride, 16, activation, standardize)
    enc.bias.data.fill_(-0.3)  # some filters fire, so the ReLU passes gradient
    exact = copy.deepcopy(enc).double()
    codes = codes_with_n()
    want = output_and_grads(exact, lambda c: conv_reference(exact, c), codes)
    assert all(w.abs().max() > 0 for w in want)
    mixed = copy.deepcopy(enc)  # float32 filters summed in float64 (as the QTL-effect pass)
    mixed.out.double()
    for model, tol in [(enc, 1e-5), (exact, 1e-12), (mixed, 1e-5)]:
        # float32 against the exact (float64) convolution: F.conv1d in float32 is itself
        # up to ~1.4e-5 off on the weight gradient, these lookups ~3e-7
        got = output_and_grads(model, model, codes)
        with torch.no_grad():  # the forward without the backward's bookkeeping
            got.append(model(codes))
        for g, w in zip(got, [*want, want[0]]):
            assert g.shape == w.shape
            torch.testing.assert_close(g.double(), w, rtol=0, atol=tol * w.abs().max().item())


@pytest.mark.parametrize("standardize", [False, True])
def test_levels_equal_the_convolution(standardize, monkeypatch):
    monkeypatch.setattr(SourceEncoder, "BLOCK", 2000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    torch.manual_seed(1)
    enc = SourceEncoder(6, 12, 1, 8, "relu", standardize, levels=(0.5, 1.5))
    enc.bias.data.fill_(-2.0 if standardize else -0.3)
    assert enc.out.in_features == 4 * 6
    exact = copy.deepcopy(enc).double()
    codes = codes_with_n(seed=3)
    want = output_and_grads(exact, lambda c: conv_reference(exact, c), codes)
    assert all(w.abs().max() > 0 for w in want)
    for model, tol in [(enc, 1e-5), (exact, 1e-12)]:
        got = output_and_grads(model, model, codes)
        for g, w in zip(got, want):
            torch.testing.assert_close(g.double(), w, rtol=0, atol=tol * w.abs().max().item())
    # inference (no gradient kept) gives the same outputs
    with torch.no_grad():
        torch.testing.assert_close(exact(codes), want[0], rtol=0, atol=1e-12)
    # the test exercises the hinges: with the other columns' weights at zero, the output
    # still moves (some activation passes the highest level)
    with torch.no_grad():
        exact.out.weight[:, : 2 * 6] = 0
        hinge_only = exact(codes) - exact.out.bias
        assert hinge_only.abs().max() > 0


@pytest.mark.parametrize("levels, match", [((), "mean"), ((1.0,), "mean"), ((1.0,), "gc")])
def test_background_centre_equals_the_convolution(levels, match, monkeypatch):
    monkeypatch.setattr(SourceEncoder, "BLOCK", 2000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    torch.manual_seed(2)
    enc = SourceEncoder(6, 12, 1, 8, "relu", True, bias=False, levels=levels, background=3,
                        length=997, match=match)  # fmt: skip
    enc.bias.data.fill_(-2.0)
    bg = codes_with_n(n_bins=3, seed=9)
    bg[1, :400] = torch.tensor([1, 2] * 200)  # GC-rich: its GC differs from the others'
    enc.set_background(bg)
    exact = copy.deepcopy(enc).double()
    codes = codes_with_n(seed=4)
    want = output_and_grads(exact, lambda c: conv_reference(exact, c), codes)
    assert all(w.abs().max() > 0 for w in want)
    for model, tol in [(enc, 1e-5), (exact, 1e-12)]:
        got = output_and_grads(model, model, codes)
        for g, w in zip(got, want):
            torch.testing.assert_close(g.double(), w, rtol=0, atol=tol * w.abs().max().item())
    # without gradient the centre is kept, and recomputed once the filters change
    with torch.no_grad():
        torch.testing.assert_close(exact(codes), want[0], rtol=0, atol=1e-12)
        kept = exact.background_features().clone()
        assert exact.background_features() is exact.background_features()
        exact.weight.add_(0.1 * torch.randn_like(exact.weight))
        assert not torch.allclose(exact.background_features(), kept)
        torch.testing.assert_close(exact(codes), conv_reference(exact, codes), rtol=0, atol=1e-12)
        if match == "mean":  # the background bins encode to zero on average (no bias)
            mean = exact(exact.background).mean(dim=0)
            torch.testing.assert_close(mean, torch.zeros_like(mean), rtol=0, atol=1e-12)


def test_gc_content_and_gc_matched_centre():
    codes = torch.tensor([[0, 1, 2, 3], [1, 2, 4, 4], [4, 4, 4, 4]], dtype=torch.uint8)
    torch.testing.assert_close(gc_content(codes), torch.tensor([0.5, 1.0, 0.5]))
    enc = SourceEncoder(2, 4, 1, 3, background=2, length=4, match="gc")
    enc.set_background(torch.tensor([[0, 3, 0, 3], [1, 2, 1, 2]], dtype=torch.uint8))
    bg = torch.tensor([[1.0, 2.0], [10.0, 20.0]])
    # an AT-only bin is centred on the AT-only background bin, a GC-only one on the other
    query = torch.tensor([[3, 0, 3, 0], [2, 1, 2, 1]], dtype=torch.uint8)
    torch.testing.assert_close(enc.centre(query, bg), bg)
    with pytest.raises(ValueError, match="match"):
        SourceEncoder(match="median")


def test_background_is_saved_and_checked():
    enc = SourceEncoder(4, 12, 1, 8, background=2, length=50)
    assert tuple(enc.state_dict()["background"].shape) == (2, 50)
    codes = codes_with_n(n_bins=2, length=50)
    enc.set_background(codes)
    again = SourceEncoder(4, 12, 1, 8, background=2, length=50)
    again.load_state_dict(enc.state_dict())
    assert torch.equal(again.background, codes)
    with torch.no_grad():
        torch.testing.assert_close(again(codes), enc(codes))
    with pytest.raises(ValueError, match="expected"):
        enc.set_background(codes[:1])
    with pytest.raises(ValueError, match="length"):
        SourceEncoder(background=2)
    assert "background" not in SourceEncoder().state_dict()


def test_filters_frozen_in_training_learn_in_eval_mode_only():
    torch.manual_seed(3)
    enc = SourceEncoder(4, 12, 1, 8, "relu", True, frozen_in_training=True)
    enc.bias.data.fill_(-1.0)
    codes = codes_with_n(seed=5)
    plain = copy.deepcopy(enc)
    plain.frozen_in_training = False
    enc.train()
    enc(codes).pow(2).sum().backward()
    assert enc.weight.grad is None and enc.bias.grad is None
    assert enc.out.weight.grad.abs().max() > 0
    enc.eval()  # the QTL-effect pass: every parameter learns, as without the option
    got, want = output_and_grads(enc, enc, codes), output_and_grads(plain, plain, codes)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_levels_need_exact_relu():
    for kwargs in [{"activation": "softplus"}, {"surrogate": True}]:
        with pytest.raises(ValueError, match="levels"):
            SourceEncoder(levels=(1.0,), **kwargs)
    with pytest.raises(ValueError, match="levels"):
        SourceEncoder(levels=(0.0,))


def test_table_row_is_the_sum_of_its_weights():
    torch.manual_seed(0)
    enc = SourceEncoder(channels=2, kernel=12)
    assert enc.chunking() == (6, 2)
    tables = enc.tables()
    assert tables.shape == (2 * 5**6, 4)
    w, b = enc.weight.detach(), enc.bias.detach()
    # ACGTNA on the first chunk: digits 0 1 2 3 4 0, first base lowest; N adds nothing
    row = 0 + 1 * 5 + 2 * 25 + 3 * 125 + 4 * 625 + 0 * 3125
    forward = b + w[:, 0, 0] + w[:, 1, 1] + w[:, 2, 2] + w[:, 3, 3] + w[:, 0, 5]
    torch.testing.assert_close(tables[row, :2], forward)
    # reverse strand: the weights flipped in base (A<->T, C<->G) and position
    flipped = w.flip(1, 2)
    reverse = b + flipped[:, 0, 0] + flipped[:, 1, 1] + flipped[:, 2, 2] + flipped[:, 3, 3]
    torch.testing.assert_close(tables[row, 2:], reverse + flipped[:, 0, 5])
    # second chunk, all N: zero, no bias
    assert torch.equal(tables[5**6 + 5**6 - 1], torch.zeros(4))


def test_kmer_rows_of_a_short_sequence():
    enc = SourceEncoder(channels=1, kernel=3, stride=1)  # one chunk of 3, pad 1
    rows, grid = enc.kmer_rows(torch.tensor([[0, 1, 2, 3]], dtype=torch.uint8))
    assert grid == (4, 1, 3, 1)
    # padded N A C G T N: k-mers NAC, ACG, CGT, GTN, base 5 with the first base lowest
    assert rows.tolist() == [[4 + 0 * 5 + 1 * 25, 0 + 5 + 50, 1 + 10 + 75, 2 + 15 + 100]]


def test_state_dict_is_unchanged():
    enc = SourceEncoder(channels=12, kernel=12, dim=32)
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert shapes == {
        "weight": (12, 4, 12),
        "bias": (12,),
        "out.weight": (32, 24),
        "out.bias": (32,),
    }


def test_empty_batch():
    enc = SourceEncoder(dim=8)
    y = enc(torch.zeros(0, 400, dtype=torch.uint8))
    assert y.shape == (0, 8)
    y.sum().backward()
    assert torch.equal(enc.weight.grad, torch.zeros_like(enc.weight))


@pytest.mark.parametrize("length", [5, 32, 33, 100])
def test_peak_is_the_maximum_and_where_it_is(length):
    gen = torch.Generator().manual_seed(length)
    pre = torch.randn(3, length, 4, generator=gen)
    pre[0, :, 1] = 1.0  # ties everywhere
    top, where = SourceEncoder._peak(pre)
    assert torch.equal(top, pre.amax(1))
    assert torch.equal(pre.gather(1, where[:, None])[:, 0], top)


def test_standardised_scores_are_z_scores_on_uniform_random_sequence():
    torch.manual_seed(0)
    enc = SourceEncoder(channels=4, kernel=12, standardize=True)
    assert torch.all(enc.bias == -SourceEncoder.THRESHOLD)
    codes = torch.randint(0, 4, (1, 200_000), dtype=torch.uint8)
    onehot = F.one_hot(codes.long(), 4).transpose(1, 2).float()
    with torch.no_grad():
        score = F.conv1d(onehot, enc.filters())[0]  # (channels, positions), no bias
        assert torch.allclose(score.mean(dim=1), torch.zeros(4), atol=0.02)
        assert torch.allclose(score.std(dim=1), torch.ones(4), atol=0.02)
        # only the direction of the weights counts: a larger scale gives the same tables
        before = enc.tables().clone()
        enc.weight.mul_(7.0)
        torch.testing.assert_close(enc.tables(), before)


def test_surrogate_gradient_is_softplus_slope_under_relu_values():
    """``surrogate``: the forward is ReLU's (silent filters give exact zeros), the gradient
    takes softplus' slope at every position, also below threshold."""
    torch.manual_seed(0)
    enc = SourceEncoder(12, 12, 1, 16, "relu", True, surrogate=True).double()
    codes = codes_with_n()
    got = output_and_grads(enc, enc, codes)
    want = output_and_grads(enc, lambda c: conv_reference(enc, c), codes)
    exact = copy.deepcopy(enc)
    exact.surrogate = False
    plain = output_and_grads(exact, exact, codes)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(got[0], plain[0], rtol=0, atol=0)  # same values
    assert (got[1] - plain[1]).abs().max() > 1e-3  # another gradient for the filters
    with torch.no_grad():
        enc.bias.fill_(-50.0)  # every position far below threshold
    silent = output_and_grads(enc, enc, codes)
    assert torch.equal(silent[0], enc.out.bias.expand_as(silent[0]))  # pooled values 0
