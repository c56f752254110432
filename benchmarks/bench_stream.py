"""Benchmark: bin inputs streamed from their cache files against every bin's inputs in memory.

Writes a synthetic FASTA of ``--bins`` bins (4 chromosomes) and one accessibility bigWig
(100 bp steps). Two sources of the bin encoder's inputs:

- ``memory``: every bin's codes read into one (n_bins, bin_size) array
  (:func:`qtlgraph.encoders.bin_dataset.sequence_codes`) and its accessibility inputs
  (100 bp over the bin, 1 kb over 20 kb flanks) held in arrays
  (``load_bin_arrays(stream=False)``);
- ``stream``: what ``train-local`` and ``embed`` read: :func:`qtlgraph.sequence.open_codes`
  and ``load_bin_arrays(stream=True)``, cache files read per batch (the caches are written
  by the first stream process and their time printed).

Throughput (bins/s) of both sources is measured in one process, alternately ``--repeat``
times (medians; shared-CPU noise hits both alike): a shuffled :class:`BinDataset` epoch
through ``bin_loader`` (data only), ``--steps`` encoder training steps (batch 64), and
embedding two chunks of ``--chunk`` consecutive bins (``embed_chunk``, fp32); reading such
chunks from the FASTA (what ``qtlgraph embed`` does) is shown too. Peak RSS (VmHWM) comes
from one process per source that opens the codes and makes one pass of each kind.

    .venv/bin/python benchmarks/bench_stream.py --bins 20000       # ~200 Mb genome
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

BIN = 10_000
MODES = ("memory", "stream")


def write_fasta(path: Path, n_bins: int, seed: int = 0) -> None:
    """Four chromosomes of random ACGT, each starting with a run of N, lines of 60."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as fh:
        for i, share in enumerate((0.4, 0.3, 0.2, 0.1)):
            length = int(n_bins * share) * BIN - 1234  # chromosome ends inside a bin
            seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, length)].tobytes()
            seq = b"N" * 5 * BIN + seq[5 * BIN :]
            fh.write(f">chr{i + 1}\n".encode())
            fh.write(b"\n".join(seq[j : j + 60] for j in range(0, length, 60)) + b"\n")


def write_accessibility(path: Path, sizes: dict[str, int], seed: int = 1) -> None:
    """An accessibility bigWig: gamma-distributed values in 100 bp steps."""
    from qtlgraph.bigwig import write_bigwig

    rng = np.random.default_rng(seed)
    values = [(c, 0, rng.gamma(0.5, 2.0, n // 100)) for c, n in sizes.items()]
    write_bigwig(path, list(sizes.items()), values, 100)


def _dataset(fasta: Path) -> SimpleNamespace:
    """What the readers take of a dataset: the FASTA, one cell type's accessibility, the genome."""
    from qtlgraph.genome import Genome
    from qtlgraph.sequence import fasta_sizes

    sizes = fasta_sizes(fasta)
    cell = SimpleNamespace(name="c", accessibility=fasta.with_suffix(".acc.bw"), marks={})
    genome = Genome("bench", tuple(sizes), tuple(sizes.values()))
    return SimpleNamespace(fasta=fasta, onehot=None, genome=genome, cell_types=[cell], marks=())


def _peak_rss_mb() -> int:
    """This process's peak RSS (VmHWM: reset at exec, unlike ``ru_maxrss``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def _inputs(mode: str, dataset, index):
    """``(codes, BinArrays)`` of every bin, held (``memory``) or read from cache files."""
    from qtlgraph.encoders.bin_dataset import BinArrays, load_bin_arrays, sequence_codes
    from qtlgraph.encoders.bin_encoder import BinEncoderConfig
    from qtlgraph.sequence import open_codes, open_sequence

    stream = mode == "stream"
    if stream:
        codes = open_codes(dataset, BIN, progress=False)
    else:
        codes = sequence_codes(open_sequence(dataset), index, np.arange(index.n_bins))
    a = load_bin_arrays(dataset, index, BinEncoderConfig(), targets=False, stream=stream)
    zeros = np.zeros((1, index.n_bins, 1), np.float32)
    return codes, BinArrays(a.cell_types, ("m",), a.acc, a.flank, zeros)


def _bench(codes, arrays, index, steps: int, chunk: int):
    """``(measure, model)``: ``measure()`` returns this source's bins/s (fetch, train, embed)."""
    import torch

    from qtlgraph.encoders.bin_dataset import BinDataset, bin_loader
    from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig
    from qtlgraph.encoders.embed import embed_chunk, fold_batchnorm

    torch.manual_seed(0)
    config, n = BinEncoderConfig(n_marks=1), index.n_bins
    loader = bin_loader(BinDataset(arrays, codes, np.arange(n), [0]), 64, shuffle=True)
    model = BinEncoder(config)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def train() -> None:
        for i, (inputs, target) in enumerate(loader):
            if i == steps:
                break
            loss = (model(*inputs) - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    def embed() -> None:
        frozen = fold_batchnorm(model)
        for lo in range(0, 2 * chunk, chunk):
            bins = np.arange(lo, lo + chunk)
            embed_chunk(frozen, arrays, codes[lo : lo + chunk], bins, 256, "fp32")

    def measure() -> dict:
        return {
            "fetch_bins_s": _rate(lambda: [None for _ in loader], n),
            "train_bins_s": _rate(train, steps * 64),
            "embed_bins_s": _rate(embed, 2 * chunk),
        }

    return measure, model


def run_rss(mode: str, fasta: Path, steps: int, chunk: int) -> dict:
    """Peak RSS of one process holding the codes of ``mode`` through one pass of each kind."""
    from qtlgraph.genome import BinIndex

    dataset = _dataset(fasta)
    index = BinIndex(dataset.genome, BIN)
    base = _peak_rss_mb()
    t0 = time.perf_counter()
    codes, arrays = _inputs(mode, dataset, index)
    load_s = time.perf_counter() - t0
    _bench(codes, arrays, index, steps, chunk)[0]()
    return {"load_s": load_s, "base_rss_mb": base, "peak_rss_mb": _peak_rss_mb()}


def run_rates(fasta: Path, steps: int, chunk: int, repeat: int) -> dict:
    """Both sources in one process, measured alternately ``repeat`` times (noise hits both)."""
    from qtlgraph.encoders.bin_dataset import sequence_codes
    from qtlgraph.genome import BinIndex
    from qtlgraph.sequence import open_sequence

    dataset = _dataset(fasta)
    index = BinIndex(dataset.genome, BIN)
    benches = {m: _bench(*_inputs(m, dataset, index), index, steps, chunk)[0] for m in MODES}
    rates: dict[str, list[dict]] = {m: [] for m in MODES}
    sequence = open_sequence(dataset)
    fasta_rates = []
    for i in range(repeat):
        for mode in MODES[:: 1 if i % 2 else -1]:  # each goes first in turn (warm-up)
            rates[mode].append(benches[mode]())
        fasta_rates.append(
            _rate(lambda: sequence_codes(sequence, index, np.arange(2 * chunk)), 2 * chunk)
        )
    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in rates.items()}
    return {**med, "fasta_chunk_bins_s": statistics.median(fasta_rates)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bins", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path("bench-out/stream"))
    ap.add_argument("--steps", type=int, default=10, help="training steps of batch 64")
    ap.add_argument("--chunk", type=int, default=1024, help="bins per embedding chunk")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    args = ap.parse_args()
    fasta = args.out / f"genome_{args.bins}.fa"
    if args.mode:
        if args.mode == "rates":
            result = run_rates(fasta, args.steps, args.chunk, args.repeat)
        else:
            result = run_rss(args.mode, fasta, args.steps, args.chunk)
        print(json.dumps(result))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    if not fasta.exists():
        write_fasta(fasta, args.bins)
    if not fasta.with_suffix(".acc.bw").exists():
        from qtlgraph.sequence import fasta_sizes

        write_accessibility(fasta.with_suffix(".acc.bw"), fasta_sizes(fasta))
    for pattern in (f"{fasta.name}.codes-*.npy", f"{fasta.stem}.acc.inputs-*.npy"):
        for old in args.out.glob(pattern):
            old.unlink()  # the first stream process writes the caches, and their time is shown
    runs = {mode: _child(mode, args) for mode in (*MODES, "rates")}
    rates = runs.pop("rates")
    codes_mb, acc_mb = args.bins * BIN / 2**20, args.bins * 150 * 4 / 2**20
    print(
        f"{args.bins} bins ({codes_mb:.0f} MB of codes, {acc_mb:.0f} MB of accessibility"
        f" inputs); bins/s medians of {args.repeat}"
    )
    print(f"  caches written once in {runs['stream']['load_s']:.1f} s")
    for key in ("fetch_bins_s", "train_bins_s", "embed_bins_s"):
        mem, st = rates["memory"][key], rates["stream"][key]
        print(f"  {key:14s} memory {mem:9.0f}  stream {st:9.0f}  stream/memory {st / mem:.2f}")
    print(f"  FASTA read per chunk (as qtlgraph embed): {rates['fasta_chunk_bins_s']:.0f} bins/s")
    for mode, r in runs.items():
        print(
            f"  peak RSS {mode:6s} {r['peak_rss_mb']} MB (before the inputs {r['base_rss_mb']} MB)"
        )


def _child(mode: str, args) -> dict:
    cmd = [sys.executable, __file__, "--mode", mode, "--bins", str(args.bins), "--out"]
    cmd += [str(args.out), "--steps", str(args.steps), "--chunk", str(args.chunk)]
    cmd += ["--repeat", str(args.repeat)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{mode} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


if __name__ == "__main__":
    main()
