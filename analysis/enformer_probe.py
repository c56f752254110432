"""A reduced-width Enformer for receptive-field probes (optional extra ``enformer``).

Enformer's reach comes from its layout (7 poolings of 2 down to 128 bp bins, then
attention across every bin), not from its width, so a narrow, shallow, randomly
initialised copy has the same span as the published model: any base can move any output
bin. Nothing is downloaded. ``enformer-pytorch`` is imported inside the functions;
:func:`enformer_available` tells whether it is installed.

Enformer reads ``(batch, length, 4)`` and returns ``(batch, bins, tracks)``;
:class:`EnformerProbe` wraps it to the probes' ``(batch, 4, length) -> (batch, tracks,
length // 128)`` and says where each output bin sits (:meth:`EnformerProbe.output_to_input`).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch
from torch import nn

from qtlgraph.errors import InputError

#: Enformer's published input length (bp) and output resolution (bp per bin)
ENFORMER_INPUT = 196_608
ENFORMER_BIN = 128


def enformer_available() -> bool:
    """Whether the optional ``enformer-pytorch`` package is installed."""
    return importlib.util.find_spec("enformer_pytorch") is not None


class EnformerProbe(nn.Module):
    """An Enformer in the probes' convention, with no target-length crop.

    Args:
        enformer: an ``enformer_pytorch.Enformer`` built with ``target_length=-1``.
        input_length: bp the probes feed it (a multiple of 128).
        hparams: the hyper-parameters it was built from (for provenance).

    Shapes:
        x: (B, 4, input_length) -> (B, tracks, input_length // 128)
    """

    def __init__(self, enformer: nn.Module, input_length: int, hparams: dict[str, Any]) -> None:
        super().__init__()
        self.enformer, self.input_length, self.hparams = enformer, input_length, hparams

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.enformer(x.transpose(1, 2), head="human")
        return y.transpose(1, 2)

    def output_to_input(self, j: np.ndarray) -> np.ndarray:
        """Centre (bp) of output bin ``j``: bin j summarises bases ``[128 j, 128 (j + 1))``."""
        return np.asarray(j, dtype=np.float64) * ENFORMER_BIN + (ENFORMER_BIN - 1) / 2


def _randomise_attention_outputs(model: nn.Module) -> None:
    """Give every attention output projection a random initialisation.

    enformer-pytorch initialises them to zero (each attention block starts as the
    identity through its residual), so a fresh model would be a pure convolutional net
    whose span is the conv tower's; a trained Enformer's projections are not zero.
    """
    for m in model.modules():
        if type(m).__name__ == "Attention" and isinstance(getattr(m, "to_out", None), nn.Linear):
            m.to_out.reset_parameters()


def build_enformer_probe(
    *,
    dim: int = 48,
    depth: int = 2,
    heads: int = 2,
    tracks: int = 4,
    input_length: int = ENFORMER_INPUT,
    attn_dim_key: int = 16,
    seed: int = 0,
) -> EnformerProbe:
    """A randomly initialised, reduced Enformer wrapped for the probes.

    Args:
        dim: trunk width (published: 1536); ``dim // heads`` must be a multiple of 6
            (Enformer's relative position features have 6 components).
        depth: transformer layers (published: 11).
        heads: attention heads (published: 8).
        tracks: output tracks of the ``human`` head.
        input_length: bp per input, a multiple of 128 (published: 196,608).
        attn_dim_key: key/query size per head (published: 64).
        seed: seeds the initialisation.
    """
    if not enformer_available():
        raise InputError(
            "--model enformer needs the optional extra: pip install 'qtlgraph[enformer]'"
        )
    if input_length < ENFORMER_BIN or input_length % ENFORMER_BIN:
        raise InputError(
            f"Enformer input length {input_length}: expected a multiple of {ENFORMER_BIN}"
        )
    if dim % 2 or dim % heads or (dim // heads) % 6:
        raise InputError(
            f"Enformer dim {dim} / heads {heads}: dim must be even and dim // heads a multiple of 6"
        )
    from enformer_pytorch import Enformer

    hparams = dict(
        dim=dim,
        depth=depth,
        heads=heads,
        output_heads=dict(human=tracks),
        target_length=-1,
        attn_dim_key=attn_dim_key,
        dim_divisible_by=min(dim // 2, 128),
    )
    torch.manual_seed(seed)
    model = Enformer.from_hparams(**hparams)
    _randomise_attention_outputs(model)
    return EnformerProbe(model, input_length, {**hparams, "input_length": input_length}).eval()
