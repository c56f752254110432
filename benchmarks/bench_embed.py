"""Bin-encoder embedding throughput (bins/s) against a plain PyTorch reference.

The reference is the same encoder shape written straightforwardly (conv -> BatchNorm ->
GELU -> pool blocks with ``padding=``, fp32, ``torch.no_grad``, one-hot built with
``F.one_hot``). The project path is :func:`qtlgraph.encoders.embed.embed_batch` on base
codes (the first block as an exact s-mer table lookup, :mod:`qtlgraph.encoders.kmer_stem`,
so no one-hot is built; pooling before BatchNorm/GELU; BatchNorm folded into the
convolutions; convolutions padding in place; ``inference_mode``; bf16 autocast). Both are
timed interleaved in one process so shared-CPU noise hits them alike; the ratio is what to
compare. bf16 is checked against fp32 on the same weights first
(max |difference| of the unit-scale embedding <= ``BF16_TOLERANCE``).

    .venv/bin/python benchmarks/bench_embed.py [--batch-size 256] [--repeats 5]

Exit status 1 when the project path stays under the 500 bins/s target.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig
from qtlgraph.encoders.embed import (
    BF16_TOLERANCE,
    bf16_error,
    embed_batch,
    fold_batchnorm,
    stem_table,
)

TARGET = 500.0  # bins/s: the 303,114 hg38 bins in about 10 minutes
HG38_BINS = 303_114


def _ref_block(c_in: int, c_out: int, k: int, stride: int, pool: int) -> nn.Sequential:
    layers = [
        nn.Conv1d(c_in, c_out, k, stride=stride, padding=(k - stride) // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.GELU(),
    ]
    return nn.Sequential(*layers, *([nn.AvgPool1d(pool)] if pool > 1 else []))


class RefBinEncoder(nn.Module):
    """The bin encoder's shape written plainly (same channels, kernels, strides, pools)."""

    def __init__(self, c: BinEncoderConfig) -> None:
        super().__init__()
        ch = (4,) + c.seq_channels
        self.seq = nn.Sequential(
            *[
                _ref_block(ch[i], ch[i + 1], k, s, p)
                for i, (k, s, p) in enumerate(zip(c.seq_kernels, c.seq_strides, c.seq_pools))
            ]
        )
        self.acc = nn.Sequential(
            _ref_block(1, c.acc_channels, c.acc_kernel, 1, 1),
            _ref_block(c.acc_channels, c.acc_channels, c.acc_kernel, 1, 1),
        )
        t_in = (ch[-1] + c.acc_channels,) + (c.dim,) * len(c.trunk_kernels)
        self.trunk = nn.Sequential(
            *[
                _ref_block(t_in[i], c.dim, k, 1, p)
                for i, (k, p) in enumerate(zip(c.trunk_kernels, c.trunk_pools))
            ]
        )
        self.flank = nn.Sequential(
            _ref_block(1, c.flank_channels, 5, 1, 1),
            _ref_block(c.flank_channels, c.flank_channels, 5, 1, 1),
        )
        self.project = nn.Sequential(
            nn.Linear(2 * c.dim + 2 * c.flank_channels, c.dim), nn.LayerNorm(c.dim)
        )

    def forward(self, codes: torch.Tensor, acc: torch.Tensor, flank: torch.Tensor) -> torch.Tensor:
        seq = nn.functional.one_hot(codes.long(), 5)[..., :4].permute(0, 2, 1).float()
        h = self.trunk(torch.cat([self.seq(seq), self.acc(acc[:, None])], 1))
        f = self.flank(flank[:, None])
        return self.project(torch.cat([h.mean(-1), h.amax(-1), f.mean(-1), f.amax(-1)], 1))


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    config = BinEncoderConfig()
    ours, ref = fold_batchnorm(BinEncoder(config)), RefBinEncoder(config).eval()
    rng = np.random.default_rng(0)
    b = args.batch_size
    codes = rng.integers(0, 5, size=(b, config.bin_size), dtype=np.uint8)
    acc = torch.from_numpy(rng.random((b, config.acc_positions), dtype=np.float32))
    flank = torch.from_numpy(rng.random((b, config.flank_positions), dtype=np.float32))
    codes_t = torch.from_numpy(codes)

    table = stem_table(ours)

    def run_ours(precision):
        return lambda: embed_batch(ours, (codes_t, acc, flank), precision, table)

    def run_ref():
        with torch.no_grad():
            ref(codes_t, acc, flank)

    err = bf16_error(ours, (codes_t[:64], acc[:64], flank[:64]))
    precision = "bf16" if err <= BF16_TOLERANCE else "fp32"
    rates = {"reference fp32": [], "ours fp32": [], f"ours {precision}": []}
    for fn in (run_ref, run_ours("fp32"), run_ours(precision)):
        fn()  # warm-up (oneDNN primitive creation)
    for _ in range(args.repeats):
        rates["reference fp32"].append(_rate(run_ref, b))
        rates["ours fp32"].append(_rate(run_ours("fp32"), b))
        rates[f"ours {precision}"].append(_rate(run_ours(precision), b))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"threads {torch.get_num_threads()}, batch {b}, {args.repeats} repeats (medians); "
        f"bf16 max |bf16 - fp32| = {err:.4f} (tolerance {BF16_TOLERANCE}) -> {precision}"
    )
    for k, v in med.items():
        print(
            f"  {k:16s} {v:8.1f} bins/s   x{v / med['reference fp32']:.2f} vs reference   "
            f"hg38 ({HG38_BINS:,} bins) in {HG38_BINS / v / 60:.1f} min"
        )
    best = med[f"ours {precision}"]
    print(f"target {TARGET:.0f} bins/s: {'met' if best >= TARGET else 'MISSED'} ({best:.0f})")
    return 0 if best >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
