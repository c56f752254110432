"""Training throughput of the distal model in source bins per second, beside the bin encoder.

One distal step: ``--targets`` target nodes, each linked from ``--per-target`` of
``--sources`` distinct 10 kb source bins (random sequence), forward + backward + AdamW
step of the whole model (source encoder, messages, local part). The reference is the
plain bin encoder (``qtlgraph.encoders.bin_encoder.BinEncoder``, default config, as
``train-local`` trains it) on the same number of bins per step, forward + backward + step.
Steps alternate between the two so machine noise hits both alike; medians are printed
with the ratio and the target (>= 1,000 source bins/s on 2 CPU cores).

    python benchmarks/bench_distal.py [--sources 64] [--steps 5] [--threads 2] [--gated]
        [--run RUN]

The distal model is built with the trainer's defaults (``DistalOptions``), or with the
gated option's settings (``--gated``). Its filters start at random, so on random sequence
they fire more rarely than trained ones (the backward of ReLU filters visits only the
positions where one fires); ``--run`` takes a trained distal run's source encoder and that
run's source bins instead, and prints the share of positions where some filter fires.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from qtlgraph.encoders.bin_encoder import BinEncoder
from qtlgraph.gnn.distal import build_distal
from qtlgraph.gnn.distal_score import load_distal_model
from qtlgraph.gnn.distal_train import DistalOptions

TARGET = 1000.0  # source bins per second, 2 CPU cores
BIN = 10_000


def distal_options(args) -> DistalOptions:
    """The trainer's defaults, or its gated option (``--gated``)."""
    opts = DistalOptions()
    if args.gated:
        opts = opts._replace(message="gated", activation="relu", standardize=True)
    return opts


def trained_sources(run: str, n: int, gen) -> tuple[dict, torch.Tensor]:
    """A trained run's source-encoder weights and ``n`` of its bins' codes drawn at random."""
    config = json.loads((Path(run) / "config.json").read_text())
    model, inputs, seqs = load_distal_model(run, config, config["data"])
    n_bins = int(inputs.data.num_nodes) // len(inputs.cell_types)
    bins = torch.randperm(n_bins, generator=gen)[:n].sort().values.tolist()
    return model.encoder.state_dict(), torch.from_numpy(seqs.codes(bins))


def firing_share(encoder, seq: torch.Tensor) -> float:
    """Share of positions where some filter (either strand) is above its threshold."""
    with torch.no_grad():
        rows, grid = encoder.kmer_rows(seq)
        return float((encoder._lookup(encoder.tables(), rows, grid) > 0).any(-1).float().mean())


def distal_step(args, gen):
    """A closure running one distal training step on fixed random inputs."""
    # build_distal reads the model settings among the options' fields by name
    config = {"in_dim": 65, "out_dim": 2, "acc_col": 64, "edge_dim": 13}
    model = build_distal({**distal_options(args)._asdict(), **config})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    n_src, t = args.sources, args.targets
    seq = torch.randint(0, 4, (n_src, BIN), generator=gen, dtype=torch.uint8)
    if args.run:
        weights, seq = trained_sources(args.run, n_src, gen)
        model.encoder.load_state_dict(weights)
    print(f"positions where some filter fires: {firing_share(model.encoder, seq):.3f}")
    e = t * args.per_target
    src = t + torch.randint(0, n_src, (e,), generator=gen)
    dst = torch.arange(t).repeat_interleave(args.per_target)
    x = torch.randn(t + n_src, 65, generator=gen)
    seq_index = torch.cat([torch.full((t,), -1), torch.arange(n_src)])
    inputs = (x, seq, seq_index, torch.stack([src, dst]), torch.randn(e, 13), torch.ones(t + n_src))
    y = torch.randn(t + n_src, 2, generator=gen)

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(*inputs), y).backward()
        opt.step()

    return step


def encoder_step(args, gen):
    model = BinEncoder()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    c = model.config
    seq = torch.randint(0, 4, (args.sources, BIN), generator=gen, dtype=torch.uint8)
    acc = torch.rand(args.sources, c.acc_positions, generator=gen)
    flank = torch.rand(args.sources, c.flank_positions, generator=gen)
    y = torch.randn(args.sources, c.n_marks, generator=gen)

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(seq, acc, flank), y).backward()
        opt.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sources", type=int, default=64, help="distinct source bins per step")
    p.add_argument("--targets", type=int, default=128)
    p.add_argument("--per-target", type=int, default=4)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--gated", action="store_true", help="the gated option (standardised ReLU filters)"
    )
    p.add_argument("--run", help="a trained distal run: its filters and source bins")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    steps = {"distal": distal_step(args, gen), "bin encoder": encoder_step(args, gen)}
    times = {k: [] for k in steps}
    for i in range(args.steps + 1):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            if i:  # the first step warms up
                times[name].append(time.perf_counter() - t0)
    rate = {k: args.sources / statistics.median(v) for k, v in times.items()}
    o = distal_options(args)
    print(f"threads {args.threads}, {args.sources} source bins of {BIN} bp per step")
    print(f"distal model: {o.message} message, {o.activation} filters")
    print(f"distal model (ours):   {rate['distal']:8.1f} source bins/s (forward + backward + step)")
    print(f"bin encoder (reference): {rate['bin encoder']:6.1f} bins/s (same)")
    print(f"ratio ours / reference: {rate['distal'] / rate['bin encoder']:.2f}")
    verdict = "met" if rate["distal"] >= TARGET else "NOT met"
    print(f"target >= {TARGET:.0f} source bins/s on 2 cores: {verdict}")


if __name__ == "__main__":
    main()
