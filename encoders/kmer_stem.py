"""Exact table-lookup evaluation of the bin encoder's first sequence block from base codes.

On one-hot input, a convolution with stride ``s`` and kernel ``k = g * s`` (``g`` odd, so
the symmetric padding is a whole number of ``s``-mers) only ever sees ``g`` consecutive
``s``-mers per output; the average pool after it (``p``) widens that to ``g + p - 1``
``s``-mers. Each ``s``-mer is one of ``5 ** s`` codes (``N`` = code 4 contributes zero),
so conv + pool is a sum of ``g + p - 1`` table rows: one ``embedding_bag`` call instead
of building the (B, 4, L) one-hot, convolving and pooling. The result equals the
convolutional path up to float rounding; BatchNorm and GELU follow as usual.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

N_CODE = 4


def lookup_applies(block: nn.Sequential) -> bool:
    """Whether a :func:`qtlgraph.encoders.bin_encoder.conv_block` can be evaluated by lookup."""
    conv = next(m for m in block if isinstance(m, nn.Conv1d))
    k, s = conv.kernel_size[0], conv.stride[0]
    no_pad_module = not isinstance(block[0], nn.ConstantPad1d)
    return (
        conv.in_channels == 4
        and k % s == 0
        and (k // s) % 2 == 1
        and no_pad_module
        and 5**s <= 4096
    )


def _pool_size(block: nn.Sequential) -> int:
    pools = [m for m in block if isinstance(m, nn.AvgPool1d)]
    return (
        int(
            pools[0].kernel_size
            if isinstance(pools[0].kernel_size, int)
            else pools[0].kernel_size[0]
        )
        if pools
        else 1
    )


@functools.lru_cache(maxsize=8)
def _smer_onehot(s: int) -> torch.Tensor:
    digits = (np.arange(5**s)[:, None] // 5 ** np.arange(s)) % 5  # (5**s, s)
    return torch.from_numpy(np.eye(5, 4, dtype=np.float32)[digits])  # (5**s, s, 4)


def lookup_table(block: nn.Sequential) -> torch.Tensor:
    """Stacked per-offset tables of conv + pool over ``s``-mer codes.

    Returns:
        (g + p - 1) * 5**s rows by C channels: row ``m * 5**s + K`` is the contribution of
        ``s``-mer code ``K`` (base-5 digits, first base least significant) at offset ``m``.
    """
    conv = next(m for m in block if isinstance(m, nn.Conv1d))
    w = conv.weight.float()  # (C, 4, k); kept differentiable so training can use the lookup
    s = conv.stride[0]
    g, p = conv.kernel_size[0] // s, _pool_size(block)
    onehot = _smer_onehot(s).to(w.device)
    per_group = torch.einsum(
        "kib,cbji->jkc", onehot, w.reshape(w.shape[0], 4, g, s)
    )  # (g, 5**s, C)
    rows = [sum(per_group[m - t] for t in range(p) if 0 <= m - t < g) / p for m in range(g + p - 1)]
    return torch.cat(rows)


def smer_codes(codes: torch.Tensor, s: int) -> torch.Tensor:
    """Base codes -> ``s``-mer codes. Shapes: (B, L) uint8 -> (B, L // s) int64."""
    blocks = codes.reshape(codes.shape[0], -1, s).long()
    return (blocks * (5 ** torch.arange(s, device=codes.device))).sum(-1)


def first_block(block: nn.Sequential, codes: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The first sequence block (conv, pool, BatchNorm, GELU) evaluated from base codes.

    Shapes:
        codes: (B, L) uint8, 0-3 = A, C, G, T, 4 = N -> (B, C, L // (s * p)).
    """
    conv = next(m for m in block if isinstance(m, nn.Conv1d))
    s, g, p = conv.stride[0], conv.kernel_size[0] // conv.stride[0], _pool_size(block)
    n_smer = 5**s
    kmers = smer_codes(codes, s)
    pad = torch.full(
        (kmers.shape[0], g // 2),
        sum(N_CODE * 5**i for i in range(s)),
        dtype=kmers.dtype,
        device=kmers.device,
    )
    kmers = torch.cat([pad, kmers, pad], dim=1)
    windows = kmers.unfold(1, g + p - 1, p)  # (B, L / (s p), g + p - 1)
    offsets = torch.arange(g + p - 1, device=kmers.device) * n_smer
    idx = (windows + offsets).reshape(-1, g + p - 1)
    out = F.embedding_bag(idx, table, mode="sum")
    x = out.reshape(codes.shape[0], -1, table.shape[1]).transpose(1, 2)
    if conv.bias is not None:  # a folded BatchNorm (qtlgraph.encoders.embed.fold_batchnorm)
        x = x + conv.bias.view(1, -1, 1)
    tail = [m for m in block if isinstance(m, (nn.BatchNorm1d, nn.GELU))]
    for m in tail:
        x = m(x)
    return x
