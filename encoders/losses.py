"""Losses with NaN targets masked: BCE on logits, MSE, Poisson and negative binomial.

Every model in the project predicts *unconstrained* outputs: logits for ``bce`` and
log-rates (log of the mean) for ``poisson`` and ``nb``; ``mse`` compares raw outputs.
:func:`output_transform` turns them into the quantity one reports (probability, mean).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from qtlgraph.errors import InputError

KINDS = ("bce", "mse", "poisson", "nb")


def _pointwise(
    pred: torch.Tensor, target: torch.Tensor, kind: str, dispersion: torch.Tensor | None
) -> torch.Tensor:
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(pred, target, reduction="none")
    if kind == "mse":
        return (pred - target) ** 2
    if kind == "poisson":
        return torch.exp(pred) - target * pred + torch.lgamma(target + 1)
    # negative binomial with mean mu = exp(pred) and total count r = dispersion
    r = dispersion
    log_r_mu = torch.logaddexp(torch.log(r), pred)
    return (
        torch.lgamma(r)
        + torch.lgamma(target + 1)
        - torch.lgamma(target + r)
        - r * (torch.log(r) - log_r_mu)
        - target * (pred - log_r_mu)
    )


def _track_shape(dispersion: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    if dispersion.dim() == 1 and pred.dim() >= 2 and dispersion.numel() == pred.shape[1]:
        return dispersion.view(1, -1, *([1] * (pred.dim() - 2)))
    return dispersion


def masked_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    kind: str = "bce",
    dispersion: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean loss over the entries whose target is finite.

    Args:
        pred: logits (``bce``), log-mean (``poisson``, ``nb``) or values (``mse``).
        target: same shape as ``pred``; NaN marks missing data and is excluded.
        kind: ``bce``, ``mse``, ``poisson`` or ``nb``.
        dispersion: ``nb`` only: the positive total count ``r`` (variance = mu + mu^2/r),
            broadcastable to ``pred``, or of shape ``(C,)`` for one value per track
            (channel dimension 1).

    Returns:
        A scalar; 0 (still attached to the graph) when no target is finite.

    Shapes:
        pred, target: any shape, e.g. ``(B, C, L)``.
    """
    if kind not in KINDS:
        raise InputError(f"loss kind {kind!r}: expected one of {', '.join(KINDS)}")
    if pred.shape != target.shape:
        raise InputError(
            f"loss: prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}"
        )
    if kind == "nb" and dispersion is None:
        raise InputError("loss nb: a dispersion tensor is needed")
    keep = torch.isfinite(target)
    safe_target = torch.where(keep, target, torch.zeros_like(target))
    if kind == "nb":
        dispersion = _track_shape(dispersion, pred).expand_as(pred)
    losses = _pointwise(pred, safe_target, kind, dispersion)
    n = keep.sum()
    total = torch.where(keep, losses, torch.zeros_like(losses)).sum()
    return total / n.clamp(min=1).to(total.dtype)


class MaskedLoss(nn.Module):
    """:func:`masked_loss` as a module; ``nb`` learns one dispersion per track.

    The dispersion is stored as ``log_dispersion`` (shape ``(n_tracks,)``) so it stays
    positive; include ``loss.parameters()`` in the optimizer when ``kind == "nb"``.

    Args:
        kind: ``bce``, ``mse``, ``poisson`` or ``nb``.
        n_tracks: number of output channels (used by ``nb`` only).
    """

    def __init__(self, kind: str = "bce", n_tracks: int = 1) -> None:
        super().__init__()
        if kind not in KINDS:
            raise InputError(f"--loss {kind}: expected one of {', '.join(KINDS)}")
        self.kind = kind
        if kind == "nb":
            self.log_dispersion = nn.Parameter(torch.zeros(n_tracks))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        disp = torch.exp(self.log_dispersion) if self.kind == "nb" else None
        return masked_loss(pred, target, self.kind, disp)


def output_transform(pred: torch.Tensor, kind: str) -> torch.Tensor:
    """Raw model output -> reported quantity: sigmoid for ``bce``, exp for count losses."""
    if kind == "bce":
        return torch.sigmoid(pred)
    if kind in ("poisson", "nb"):
        return torch.exp(pred)
    return pred
