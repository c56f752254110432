"""Small 1-D convolution blocks the U-Net is built from (Leopard's ``pcc`` / ``ucc``).

Each convolution is followed by ReLU and then batch normalisation, in Leopard's order
(``BatchNormalization()(Conv1D(..., activation='relu'))``). 'same' padding keeps the
length; an even kernel pads one more base on the right than on the left, as PyTorch's
``padding='same'`` does.
"""

from __future__ import annotations

import torch
from torch import nn


def same_padding(kernel_size: int) -> tuple[int, int]:
    """Bases padded (left, right) by a 'same' convolution of this kernel size."""
    left = (kernel_size - 1) // 2
    return left, kernel_size - 1 - left


def conv_relu_bn(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Conv1d ('same' padding) -> ReLU -> BatchNorm1d.

    Shapes:
        (B, in_channels, L) -> (B, out_channels, L)
    """
    padding = kernel_size // 2 if kernel_size % 2 else "same"
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=padding),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(out_channels),
    )


def conv_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Two :func:`conv_relu_bn` layers (Leopard's first block and the body of every other).

    Shapes:
        (B, in_channels, L) -> (B, out_channels, L)
    """
    return nn.Sequential(
        conv_relu_bn(in_channels, out_channels, kernel_size),
        conv_relu_bn(out_channels, out_channels, kernel_size),
    )


def pool_layer(kind: str) -> nn.Module:
    """Pooling of size 2, stride 2: ``max`` (Leopard) or ``avg``."""
    if kind == "max":
        return nn.MaxPool1d(2)
    if kind == "avg":
        return nn.AvgPool1d(2)
    raise ValueError(f"pooling must be 'max' or 'avg', got {kind!r}")


def down_block(
    in_channels: int, out_channels: int, kernel_size: int, pool: str = "max"
) -> nn.Sequential:
    """Pool (2) -> conv -> conv: one encoder level (Leopard's ``pcc``).

    Shapes:
        (B, in_channels, L) -> (B, out_channels, L // 2)
    """
    return nn.Sequential(pool_layer(pool), conv_conv(in_channels, out_channels, kernel_size))


class UpBlock(nn.Module):
    """Transposed conv (kernel 2, stride 2) -> concat with the skip -> conv -> conv (``ucc``).

    Args:
        in_channels: channels of the coarser input.
        skip_channels: channels of the skip connection at the finer level.
        out_channels: channels of the upsampling and of both convolutions.
        kernel_size: kernel of the two convolutions.

    Shapes:
        x: (B, in_channels, L), skip: (B, skip_channels, 2L) -> (B, out_channels, 2L)
    """

    def __init__(
        self, in_channels: int, skip_channels: int, out_channels: int, kernel_size: int
    ) -> None:
        super().__init__()
        self.up = nn.ConvTranspose1d(in_channels, out_channels, kernel_size=2, stride=2)
        self.convs = conv_conv(out_channels + skip_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([self.up(x), skip], dim=1))
