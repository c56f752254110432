"""Leopard's 1-D U-Net (Li & Guan, 2021) and its analytic receptive field.

Layout (defaults = Leopard): a conv-conv block (15 filters, kernel 7), ``depth`` = 5
encoder levels of maxpool(2)-conv-conv with filters growing 1.5x per level, 5 decoder
levels of transposed conv (kernel 2, stride 2) concatenated with the skip connection
then conv-conv, and a final 1x1 convolution. The model returns **logits**; Leopard's
sigmoid is applied at prediction time (``qtlgraph.encoders.losses.output_transform``) so that
training can use the numerically stable ``binary_cross_entropy_with_logits``.

Channel schedule: ``"leopard"`` repeats Leopard's integer arithmetic
(``num = int(num * 1.5)`` going down: 15, 22, 33, 49, 73, 109; ``num = int(num / 1.5)``
going up: 72, 48, 32, 21, 14); ``"geometric"`` uses ``int(base * 1.5**i)`` on both sides
(15, 22, 33, 50, 75, 113).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from qtlgraph.encoders.blocks import UpBlock, conv_conv, down_block, same_padding
from qtlgraph.errors import InputError


class UNetConfig(NamedTuple):
    """Everything that defines the architecture (stored in a run's ``config.json``)."""

    in_channels: int = 6
    out_channels: int = 2
    depth: int = 5
    base_filters: int = 15
    growth: float = 1.5
    kernel_size: int = 7
    pool: str = "max"
    length: int = 10_240
    schedule: str = "leopard"


def check_config(config: UNetConfig) -> UNetConfig:
    """Validate a config at the door; returns it unchanged."""
    c = UNetConfig(*config)
    if (
        c.in_channels < 1
        or c.out_channels < 1
        or c.depth < 0
        or c.base_filters < 1
        or c.kernel_size < 1
    ):
        raise InputError(f"U-Net config {c}: channels, filters and kernel must be >= 1, depth >= 0")
    if c.pool not in ("max", "avg"):
        raise InputError(f"U-Net pooling {c.pool!r}: expected max or avg")
    if c.schedule not in ("leopard", "geometric"):
        raise InputError(f"U-Net channel schedule {c.schedule!r}: expected leopard or geometric")
    if c.length % (2**c.depth):
        raise InputError(
            f"U-Net input length {c.length} must be a multiple of 2**depth = {2**c.depth}"
        )
    return c


def channel_schedule(config: UNetConfig) -> tuple[list[int], list[int]]:
    """Filters per encoder level (0..depth) and per decoder level (depth-1..0)."""
    c = config
    if c.schedule == "geometric":
        down = [int(c.base_filters * c.growth**i) for i in range(c.depth + 1)]
        return down, down[-2::-1] if c.depth else []
    down = [c.base_filters]
    for _ in range(c.depth):
        down.append(int(down[-1] * c.growth))
    up, num = [], down[-1]
    for _ in range(c.depth):
        num = int(num / c.growth)
        up.append(max(num, 1))
    return down, up


class UNet(nn.Module):
    """Leopard-style 1-D U-Net returning per-base logits.

    Args:
        config: a :class:`UNetConfig`.

    Shapes:
        x: (B, in_channels, L) with L a multiple of 2**depth -> (B, out_channels, L)
    """

    def __init__(self, config: UNetConfig = UNetConfig()) -> None:
        super().__init__()
        self.config = c = check_config(config)
        down, up = channel_schedule(c)
        self.stem = conv_conv(c.in_channels, down[0], c.kernel_size)
        self.downs = nn.ModuleList(
            down_block(down[i], down[i + 1], c.kernel_size, c.pool) for i in range(c.depth)
        )
        skips = down[-2::-1] if c.depth else []
        ins = [down[-1], *up[:-1]]
        self.ups = nn.ModuleList(
            UpBlock(ins[i], skips[i], up[i], c.kernel_size) for i in range(c.depth)
        )
        self.head = nn.Conv1d(up[-1] if c.depth else down[0], c.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for block in self.downs:
            skips.append(block(skips[-1]))
        h = skips.pop()
        for block in self.ups:
            h = block(h, skips.pop())
        return self.head(h)


class ReceptiveField(NamedTuple):
    """Input span seen by one output position: offsets ``start`` (inclusive) to ``end``
    (exclusive) relative to that position, and ``size = end - start``.
    """

    start: int
    end: int
    size: int


def _grow(a: int, b: int, kernel: int, n_convs: int = 2) -> tuple[int, int]:
    left, right = same_padding(kernel)
    return a - n_convs * left, b + n_convs * right


def _encoder_span(level: int, a: int, b: int, kernel: int) -> tuple[int, int]:
    a, b = _grow(a, b, kernel)
    if level == 0:
        return a, b
    return _encoder_span(level - 1, 2 * a, 2 * b + 1, kernel)


def _decoder_span(level: int, a: int, b: int, c: UNetConfig) -> tuple[int, int]:
    if level == c.depth:
        return _encoder_span(level, a, b, c.kernel_size)
    a, b = _grow(a, b, c.kernel_size)
    skip = _encoder_span(level, a, b, c.kernel_size)
    deep = _decoder_span(level + 1, a // 2, b // 2, c)
    return min(skip[0], deep[0]), max(skip[1], deep[1])


def receptive_field(config: UNetConfig, output_position: int | None = None) -> ReceptiveField:
    """The exact input span that can influence one output position (far from the edges).

    Pooling of size 2 makes the span depend on the position modulo ``2**depth``; with
    ``output_position=None`` the result is the envelope over all alignments (the largest
    start and end offsets any position can have). Max pooling only selects within this
    span, so a measured gradient span can be shorter, never longer.

    Args:
        config: the U-Net's config.
        output_position: index of the output base within the window, or None.

    Returns:
        ReceptiveField(start, end, size), offsets relative to the output position.
    """
    c = check_config(config)
    positions = range(2**c.depth) if output_position is None else [output_position]
    starts, ends = [], []
    for p in positions:
        a, b = _decoder_span(0, p, p, c)
        starts.append(a - p)
        ends.append(b + 1 - p)
    return ReceptiveField(min(starts), max(ends), max(ends) - min(starts))


def receptive_field_sizes(config: UNetConfig) -> tuple[int, int]:
    """Smallest and largest span size over the ``2**depth`` alignments to the pooling grid."""
    c = check_config(config)
    sizes = [receptive_field(c, p).size for p in range(2**c.depth)]
    return min(sizes), max(sizes)
