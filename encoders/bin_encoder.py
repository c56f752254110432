"""The per-bin encoder: one 10 kb bin (sequence + accessibility) -> a d-dimensional vector.

Each modality has its own stem (report recommendation 1a): the sequence stem reads the
one-hot DNA at base resolution and downsamples it to the accessibility resolution
(100 bp); the accessibility stem reads the cell type's profile over the bin at 100 bp.
The two are concatenated only there, deeper in the network, and a shared trunk follows.
A third stem reads accessibility over a wider flank at 1 kb (recommendation 1b) and
joins at the vector level. A small head predicts the bin's marks from the vector (the
"local" model). Cell types share every weight; the accessibility tells them apart.

The analytic receptive field follows from the config (:func:`receptive_field`), as in
gReLU's ``ConvTower``: every conv adds ``(kernel - 1) * jump`` and every pool
``(pool - 1) * jump``, where ``jump`` is the product of the strides before it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
from torch import nn

from qtlgraph.encoders.kmer_stem import first_block, lookup_applies, lookup_table
from qtlgraph.errors import InputError


@dataclass(frozen=True)
class BinEncoderConfig:
    """Everything needed to rebuild a :class:`BinEncoder` (stored in a run's config.json).

    Args:
        bin_size: bases per bin (sequence input length).
        acc_resolution: bp per accessibility value over the bin; the sequence stem's total
            stride (product of ``seq_strides`` and ``seq_pools``) must equal it.
        flank: bp of accessibility read on each side of the bin (0: no flank stem).
        flank_resolution: bp per value of the flank profile.
        n_marks: number of predicted marks (local head outputs).
        dim: embedding size d.
        seq_channels, seq_kernels, seq_strides, seq_pools: one entry per sequence block
            (conv -> average pool -> BatchNorm -> GELU).
        acc_channels, acc_kernel: the accessibility stem (two conv blocks, no pooling).
        trunk_kernels, trunk_pools: the fused trunk blocks (``dim`` channels each).
        flank_channels: channels of the flank stem.
        head_hidden: hidden units of the local head.
    """

    bin_size: int = 10_000
    acc_resolution: int = 100
    flank: int = 20_000
    flank_resolution: int = 1_000
    n_marks: int = 2
    dim: int = 64
    seq_channels: tuple[int, ...] = (16, 32, 64)
    seq_kernels: tuple[int, ...] = (12, 5, 3)
    seq_strides: tuple[int, ...] = (4, 1, 1)
    seq_pools: tuple[int, ...] = (5, 5, 1)
    acc_channels: int = 16
    acc_kernel: int = 5
    trunk_kernels: tuple[int, ...] = (3, 3)
    trunk_pools: tuple[int, ...] = (4, 1)
    flank_channels: int = 16
    head_hidden: int = 64

    def __post_init__(self) -> None:
        n = len(self.seq_channels)
        if not (len(self.seq_kernels) == len(self.seq_strides) == len(self.seq_pools) == n):
            raise InputError(
                "bin encoder config: seq_channels/kernels/strides/pools differ in length"
            )
        if len(self.trunk_kernels) != len(self.trunk_pools):
            raise InputError("bin encoder config: trunk_kernels and trunk_pools differ in length")
        stride = math.prod(self.seq_strides) * math.prod(self.seq_pools)
        if stride != self.acc_resolution:
            raise InputError(
                f"bin encoder config: sequence stem stride {stride} must equal "
                f"acc_resolution {self.acc_resolution}"
            )
        if self.bin_size % self.acc_resolution:
            raise InputError(
                f"bin encoder config: bin_size {self.bin_size} not a multiple of "
                f"{self.acc_resolution}"
            )
        if self.acc_positions % math.prod(self.trunk_pools):
            raise InputError(
                "bin encoder config: trunk pools do not divide the accessibility length"
            )
        if self.flank and (
            self.flank % self.flank_resolution or self.bin_size % self.flank_resolution
        ):
            raise InputError(
                "bin encoder config: flank and bin_size must be multiples of flank_resolution"
            )

    @property
    def acc_positions(self) -> int:
        """Accessibility values over the bin (``bin_size // acc_resolution``)."""
        return self.bin_size // self.acc_resolution

    @property
    def flank_positions(self) -> int:
        """Flank-profile values: the bin plus ``flank`` on each side at ``flank_resolution``."""
        return (self.bin_size + 2 * self.flank) // self.flank_resolution if self.flank else 0

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BinEncoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"bin encoder config: unknown key(s) {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class ReceptiveField(NamedTuple):
    """Receptive fields in bp.

    ``stem``: one output position of the sequence stem; ``trunk``: one position of the fused
    trunk before global pooling (sequence path); ``embedding``: sequence bases the vector
    sees (the whole bin, after global pooling); ``accessibility``: bp of accessibility the
    vector sees (bin plus both flanks).
    """

    stem: int
    trunk: int
    embedding: int
    accessibility: int


def _grow(rf: int, jump: int, kernel: int, stride: int) -> tuple[int, int]:
    return rf + (kernel - 1) * jump, jump * stride


def receptive_field(config: BinEncoderConfig) -> ReceptiveField:
    """Analytic receptive fields of a :class:`BinEncoder` built from ``config``."""
    rf, jump = 1, 1
    for k, s, p in zip(config.seq_kernels, config.seq_strides, config.seq_pools):
        rf, jump = _grow(rf, jump, k, s)
        rf, jump = _grow(rf, jump, p, p)
    stem = rf
    for k, p in zip(config.trunk_kernels, config.trunk_pools):
        rf, jump = _grow(rf, jump, k, 1)
        rf, jump = _grow(rf, jump, p, p)
    acc_span = config.bin_size + 2 * config.flank
    return ReceptiveField(stem, rf, config.bin_size, acc_span)


def conv_block(c_in: int, c_out: int, kernel: int, stride: int = 1, pool: int = 1) -> nn.Sequential:
    """Pad -> Conv1d -> AvgPool -> BatchNorm -> GELU; output length = input // (stride * pool).

    The padding is ``kernel - stride`` split left/right, so lengths divide exactly. Pooling
    right after the (linear) convolution lets BatchNorm and GELU run on ``pool`` times fewer
    positions, the dominant cost of the base-resolution block.
    """
    total = kernel - stride
    if total % 2 == 0:  # symmetric: let the convolution pad (no padded copy of the input)
        layers: list[nn.Module] = [
            nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=total // 2, bias=False)
        ]
    else:
        layers = [
            nn.ConstantPad1d((total // 2, total - total // 2), 0.0),
            nn.Conv1d(c_in, c_out, kernel, stride=stride, bias=False),
        ]
    if pool > 1:
        layers.append(nn.AvgPool1d(pool))
    return nn.Sequential(*layers, nn.BatchNorm1d(c_out), nn.GELU())


def mlp_head(dim: int, n_out: int, hidden: int = 64) -> nn.Sequential:
    """Linear -> GELU -> Linear: the local head (reusable by graph models)."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, n_out))


def _global_pool(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=-1)


class BinEncoder(nn.Module):
    """Embeds a 10 kb bin from its sequence and accessibility; predicts its marks.

    Args:
        config: a :class:`BinEncoderConfig`.

    Shapes:
        seq: (B, 4, bin_size) one-hot, rows A, C, G, T; or (B, bin_size) uint8 base codes
            (0-3 = A, C, G, T, 4 = N), the fast path (see :meth:`first`).
        acc: (B, bin_size // acc_resolution) accessibility over the bin (log1p scale).
        flank: (B, (bin_size + 2 * flank) // flank_resolution), or None when flank == 0.
        embed() -> (B, dim); forward() -> (B, n_marks).
    """

    def __init__(self, config: BinEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or BinEncoderConfig()
        chans = (4,) + tuple(c.seq_channels)
        self.seq_stem = nn.Sequential(
            *[
                conv_block(chans[i], chans[i + 1], k, s, p)
                for i, (k, s, p) in enumerate(zip(c.seq_kernels, c.seq_strides, c.seq_pools))
            ]
        )
        self.acc_stem = nn.Sequential(
            conv_block(1, c.acc_channels, c.acc_kernel),
            conv_block(c.acc_channels, c.acc_channels, c.acc_kernel),
        )
        trunk_in = (chans[-1] + c.acc_channels,) + (c.dim,) * len(c.trunk_kernels)
        self.trunk = nn.Sequential(
            *[
                conv_block(trunk_in[i], c.dim, k, 1, p)
                for i, (k, p) in enumerate(zip(c.trunk_kernels, c.trunk_pools))
            ]
        )
        self.flank_stem = None
        if c.flank:
            self.flank_stem = nn.Sequential(
                conv_block(1, c.flank_channels, 5),
                conv_block(c.flank_channels, c.flank_channels, 5),
            )
        n_vec = 2 * c.dim + (2 * c.flank_channels if c.flank else 0)
        self.project = nn.Sequential(nn.Linear(n_vec, c.dim), nn.LayerNorm(c.dim))
        self.head = mlp_head(c.dim, c.n_marks, c.head_hidden)
        self._lookup = lookup_applies(self.seq_stem[0])

    @property
    def receptive_field(self) -> ReceptiveField:
        return receptive_field(self.config)

    def features(self, seq: torch.Tensor, acc: torch.Tensor) -> torch.Tensor:
        """Fused trunk output before global pooling. Shapes: -> (B, dim, L_trunk)."""
        return self._trunk(self.first(seq), acc)

    def first(self, seq: torch.Tensor) -> torch.Tensor:
        """The first sequence block from one-hot or from base codes.

        Codes (0-3 = A, C, G, T, 4 = N) go through an exact s-mer table lookup when the
        block allows and no gradient is needed (:mod:`qtlgraph.encoders.kmer_stem`), else through a
        one-hot built here. Shapes: (B, 4, L) or (B, L) -> (B, C1, L1).
        """
        block = self.seq_stem[0]
        if seq.dim() == 3:
            return block(seq)
        if (
            self._lookup and not torch.is_grad_enabled()
        ):  # in training the conv's backward is cheaper
            return first_block(block, seq, lookup_table(block))
        return block(nn.functional.one_hot(seq.long(), 5)[..., :4].transpose(1, 2).float())

    def _trunk(self, first: torch.Tensor, acc: torch.Tensor) -> torch.Tensor:
        fused = torch.cat([self.seq_stem[1:](first), self.acc_stem(acc.unsqueeze(1))], dim=1)
        return self.trunk(fused)

    def embed(
        self, seq: torch.Tensor, acc: torch.Tensor, flank: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The bin's d-dimensional embedding. Shapes: -> (B, dim)."""
        return self.embed_from_first(self.first(seq), acc, flank)

    def embed_from_first(
        self, first: torch.Tensor, acc: torch.Tensor, flank: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The embedding given the first sequence block's output (e.g. computed by lookup,
        :mod:`qtlgraph.encoders.kmer_stem`). Shapes: first (B, C1, L1) -> (B, dim).
        """
        parts = [_global_pool(self._trunk(first, acc))]
        if self.flank_stem is not None:
            if flank is None:
                raise InputError(
                    "bin encoder: this model was built with a flank; pass the flank profile"
                )
            parts.append(_global_pool(self.flank_stem(flank.unsqueeze(1))))
        return self.project(torch.cat(parts, dim=-1))

    def forward(
        self, seq: torch.Tensor, acc: torch.Tensor, flank: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predicted marks (log1p of the bin mean). Shapes: -> (B, n_marks)."""
        return self.head(self.embed(seq, acc, flank))
