import math

import pytest
import torch

from qtlgraph.encoders.losses import MaskedLoss, masked_loss, output_transform
from qtlgraph.errors import InputError


def test_bce_masks_nan_targets():
    pred = torch.tensor([0.0, 0.0, 100.0])
    target = torch.tensor([1.0, float("nan"), float("nan")])
    # only the first entry counts: -log(sigmoid(0)) = log 2
    assert masked_loss(pred, target, "bce").item() == pytest.approx(math.log(2))


def test_mse_mean_over_finite_only():
    pred = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    target = torch.tensor([[0.0, float("nan")], [3.0, 3.0]])
    assert masked_loss(pred, target, "mse").item() == pytest.approx((1 + 0 + 4) / 3)


def test_all_nan_and_empty_give_zero_with_gradient():
    pred = torch.zeros(2, 3, requires_grad=True)
    loss = masked_loss(pred, torch.full((2, 3), float("nan")), "bce")
    loss.backward()
    assert loss.item() == 0.0 and torch.all(pred.grad == 0)
    assert masked_loss(torch.zeros(0), torch.zeros(0), "mse").item() == 0.0


def test_nan_target_gives_no_nan_gradient():
    pred = torch.zeros(4, requires_grad=True)
    target = torch.tensor([1.0, float("nan"), 0.0, float("nan")])
    for kind in ("bce", "mse", "poisson"):
        pred.grad = None
        masked_loss(pred, target, kind).backward()
        assert torch.isfinite(pred.grad).all()
        assert pred.grad[1] == 0 and pred.grad[3] == 0


def test_poisson_matches_torch():
    pred = torch.tensor([0.5, -1.0, 2.0])
    target = torch.tensor([1.0, 0.0, 7.0])
    ref = torch.nn.functional.poisson_nll_loss(pred, target, log_input=True, full=False)
    ours = masked_loss(pred, target, "poisson") - torch.lgamma(target + 1).mean()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)


def test_nb_matches_distribution_log_prob():
    pred = torch.tensor([[0.3, 1.2], [-0.5, 2.0]])  # (B=2, C=2) log-means
    target = torch.tensor([[1.0, 4.0], [0.0, 9.0]])
    r = torch.tensor([2.0, 5.0])  # one dispersion per track
    mu = pred.exp()
    nb = torch.distributions.NegativeBinomial(
        total_count=r.view(1, 2), probs=mu / (mu + r.view(1, 2))
    )
    ref = -nb.log_prob(target).mean()
    assert masked_loss(pred, target, "nb", r).item() == pytest.approx(ref.item(), rel=1e-5)


def test_masked_loss_module_learns_dispersion_parameter():
    loss = MaskedLoss("nb", n_tracks=3)
    assert loss.log_dispersion.shape == (3,)
    value = loss(torch.zeros(2, 3, 5), torch.ones(2, 3, 5))
    value.backward()
    assert loss.log_dispersion.grad is not None
    assert list(MaskedLoss("bce").parameters()) == []


def test_bad_kind_and_shape_raise():
    with pytest.raises(InputError, match="expected one of"):
        masked_loss(torch.zeros(2), torch.zeros(2), "l1")
    with pytest.raises(InputError, match="shape"):
        masked_loss(torch.zeros(2), torch.zeros(3), "mse")
    with pytest.raises(InputError, match="dispersion"):
        masked_loss(torch.zeros(2), torch.zeros(2), "nb")


def test_output_transform():
    x = torch.tensor([0.0])
    assert output_transform(x, "bce").item() == 0.5
    assert output_transform(x, "poisson").item() == 1.0
    assert output_transform(x, "mse").item() == 0.0
