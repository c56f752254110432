"""U-Net A-D training and inference throughput against a plain PyTorch reference.

The reference is a stock Leopard-shaped U-Net written straightforwardly here (same
channels, kernels, pooling and upsampling). Both are timed interleaved in one process,
so shared-CPU noise hits them alike; the ratio is what to compare.

    .venv/bin/python benchmarks/bench_unet.py [--steps 5] [--batch-size 8] [--length 10240]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from qtlgraph.encoders.baselines import baseline_spec, unet_config
from qtlgraph.encoders.losses import masked_loss
from qtlgraph.encoders.unet import UNet


class RefUNet(nn.Module):
    """Leopard's layout, written out plainly.

    conv-relu-bn x2, 5 x (pool, conv x2), 5 x (up, cat, conv x2).
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        down, num = [15], 15
        for _ in range(5):
            num = int(num * 1.5)
            down.append(num)

        def cc(i, o):
            return nn.Sequential(
                nn.Conv1d(i, o, 7, padding=3),
                nn.ReLU(),
                nn.BatchNorm1d(o),
                nn.Conv1d(o, o, 7, padding=3),
                nn.ReLU(),
                nn.BatchNorm1d(o),
            )

        self.c0 = cc(n_in, 15)
        self.down = nn.ModuleList(cc(down[i], down[i + 1]) for i in range(5))
        self.up, self.uc = nn.ModuleList(), nn.ModuleList()
        prev = down[5]
        for i in range(5):
            num = int(num / 1.5)
            self.up.append(nn.ConvTranspose1d(prev, num, 2, stride=2))
            self.uc.append(cc(num + down[4 - i], num))
            prev = num
        self.out = nn.Conv1d(prev, n_out, 1)

    def forward(self, x):
        skips = [self.c0(x)]
        for d in self.down:
            skips.append(d(nn.functional.max_pool1d(skips[-1], 2)))
        h = skips.pop()
        for up, uc in zip(self.up, self.uc):
            h = uc(torch.cat([up(h), skips.pop()], 1))
        return self.out(h)


def _train_rate(model, x, y, steps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        masked_loss(model(x), y, "bce").backward()
        opt.step()
        if i:  # first step is warm-up
            times.append(time.perf_counter() - t0)
    return x.shape[0] / statistics.median(times)


@torch.no_grad()
def _infer_rate(model, x, steps):
    model.eval()
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        torch.sigmoid(model(x))
        if i:
            times.append(time.perf_counter() - t0)
    return x.shape[0] / statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--length", type=int, default=10_240)
    p.add_argument("--models", default="ABCD")
    a = p.parse_args()
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {a.batch_size}, "
        f"length {a.length}, median of {a.steps} steps"
    )
    print("model  ours_train  ref_train  ratio   ours_infer  ref_infer  ratio   (windows/s)")
    for name in a.models:
        cfg = unet_config(baseline_spec(name), 3, 2, length=a.length)
        ours, ref = UNet(cfg), RefUNet(cfg.in_channels, cfg.out_channels)
        x = torch.rand(a.batch_size, cfg.in_channels, a.length)
        y = (torch.rand(a.batch_size, cfg.out_channels, a.length) > 0.9).float()
        rt, ot = _train_rate(ref, x, y, a.steps), _train_rate(ours, x, y, a.steps)
        oi, ri = _infer_rate(ours, x, a.steps), _infer_rate(ref, x, a.steps)
        print(
            f"{name:5}  {ot:10.1f}  {rt:9.1f}  {ot / rt:5.2f}   "
            f"{oi:10.1f}  {ri:9.1f}  {oi / ri:5.2f}"
        )


if __name__ == "__main__":
    main()
