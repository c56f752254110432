"""Receptive-field probe times (targets from the issue).

1. Gradient probe of the default (Leopard) U-Net, model A, 10,240 bp, over 16 random
   inputs in float64: target under 5 s. Reference in the same run: the same probe in
   float32 (the model's own precision).
2. Perturbation probe of a reduced-width, randomly initialised Enformer at its full
   196,608 bp input, mutated at the centre and at the edge (report Figures 19-20), 2
   inputs each: target under 120 s per probe; the span must cover the whole input.
   Skipped when the optional extra ``enformer`` is not installed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qtlgraph.analysis.enformer_probe import (
    ENFORMER_INPUT,
    build_enformer_probe,
    enformer_available,
)  # noqa: E402
from qtlgraph.analysis.receptive_field import gradient_probe, perturbation_probe, random_onehot  # noqa: E402
from qtlgraph.analysis.rf_targets import load_target  # noqa: E402

UNET_TARGET_S = 5.0
ENFORMER_TARGET_S = 120.0


def timed(fn):
    """Wall seconds and result; prints CPU seconds too (the machine is shared: compare ratios)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall = time.perf_counter() - start
    print(
        f"  [wall {wall:.2f} s, process CPU {time.process_time() - cpu:.2f} s, "
        f"load average {os.getloadavg()[0]:.1f}]"
    )
    return wall, result


def bench_unet() -> bool:
    target = load_target("unet:A")
    X = random_onehot(16, target.length, seed=0)
    gradient_probe(target.model, X[:2])  # warm-up
    t64, r64 = timed(lambda: gradient_probe(target.model, X, batch_size=16))
    t32, r32 = timed(
        lambda: gradient_probe(target.model, X, batch_size=16, precision=torch.float32)
    )
    a = target.analytic
    print(
        f"U-Net A gradient probe, 16 x {target.length:,} bp: float64 {t64:.2f} s "
        f"(target < {UNET_TARGET_S:g} s), float32 reference {t32:.2f} s, ratio {t64 / t32:.2f}"
    )
    print(
        f"  span float64 {r64.span:,} bp, float32 {r32.span:,} bp, "
        f"analytic {a['min_size']:,}-{a['max_size']:,} bp, "
        f"report ~1,100 bp; effective width {r64.effective_width} bp"
    )
    return t64 < UNET_TARGET_S


def bench_enformer() -> bool:
    if not enformer_available():
        print("Enformer: skipped (optional extra 'enformer' not installed)")
        return True
    model = build_enformer_probe(input_length=ENFORMER_INPUT, seed=0)
    X = random_onehot(2, ENFORMER_INPUT, seed=0)
    ok = True
    for position in ("center", "edge"):
        t, r = timed(lambda position=position: perturbation_probe(model, X, position, batch_size=2))
        full = r.span == ENFORMER_INPUT
        ok &= full and t < ENFORMER_TARGET_S
        print(
            f"Enformer (dim {model.hparams['dim']}, depth {model.hparams['depth']}) "
            f"perturbation at {position}, 2 x {ENFORMER_INPUT:,} bp, float64: {t:.1f} s "
            f"(target < {ENFORMER_TARGET_S:g} s); span {r.span:,} bp "
            f"({'the full input' if full else 'NOT the full input'}), "
            f"effective width {r.effective_width:,} bp"
        )
    return ok


def main() -> int:
    ok = bench_unet()
    ok &= bench_enformer()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
