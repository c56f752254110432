"""Benchmark: bin sequence streamed from the code cache against every bin's codes in memory.

Writes a synthetic FASTA of ``--bins`` bins (4 chromosomes), then runs each mode in its own
process so each peak RSS is its own:

- ``memory``: the former ``train-local`` path, every bin's codes read into one
  (n_bins, bin_size) array (:func:`qtlgraph.encoders.bin_dataset.sequence_codes`);
- ``stream``: :func:`qtlgraph.sequence.open_codes`, the cache file read per batch (the
  cache is written by the first stream process and its time printed).

For each: bins/s of a shuffled :class:`BinDataset` epoch through ``bin_loader`` (data
only), of ``--steps`` encoder training steps (batch 64), of embedding two chunks of
``--chunk`` consecutive bins (``embed_chunk``, fp32), and of reading such chunks from the
FASTA (what ``qtlgraph embed`` does per chunk; the same in both modes). Both modes
alternate ``--repeat`` times; medians are printed with the ratio stream / memory, and each
process's peak RSS (VmHWM) beside its RSS before the codes were opened.

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


def _dataset(fasta: Path) -> SimpleNamespace:
    """What :func:`open_codes` reads of a dataset: the FASTA and the genome."""
    from qtlgraph.genome import Genome
    from qtlgraph.sequence import fasta_sizes

    sizes = fasta_sizes(fasta)
    return SimpleNamespace(
        fasta=fasta, onehot=None, genome=Genome("bench", tuple(sizes), tuple(sizes.values()))
    )


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


def run_mode(mode: str, fasta: Path, steps: int, chunk: int) -> dict:
    """One process's measurements (``memory`` or ``stream``)."""
    import torch

    from qtlgraph.encoders.bin_dataset import BinArrays, BinDataset, bin_loader, sequence_codes
    from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig
    from qtlgraph.encoders.embed import embed_chunk, fold_batchnorm
    from qtlgraph.genome import BinIndex
    from qtlgraph.sequence import open_codes, open_sequence

    torch.manual_seed(0)
    dataset = _dataset(fasta)
    index = BinIndex(dataset.genome, BIN)
    base_rss = _peak_rss_mb()
    t0 = time.perf_counter()
    if mode == "memory":
        codes = sequence_codes(open_sequence(dataset), index, np.arange(index.n_bins))
    else:
        codes = open_codes(dataset, BIN, progress=False)
    load_s = time.perf_counter() - t0
    config = BinEncoderConfig(flank=0)
    n = index.n_bins
    arrays = BinArrays(
        ("c",),
        ("m",),
        np.zeros((1, n, config.acc_positions), np.float32),
        None,
        np.zeros((1, n, 1), np.float32),
    )
    data = BinDataset(arrays, codes, np.arange(n), [0])
    loader = bin_loader(data, 64, shuffle=True)
    fetch = _rate(lambda: [None for _ in loader], n)
    model = BinEncoder(config)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def train() -> None:
        for i, ((seq, acc), target) in enumerate(loader):
            if i == steps:
                break
            loss = (model(seq, acc) - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    train_rate = _rate(train, steps * 64)
    sequence = open_sequence(dataset)
    starts = range(0, n - chunk + 1, chunk)[:2]
    frozen = fold_batchnorm(model)

    def embed() -> None:
        for lo in starts:
            bins = np.arange(lo, lo + chunk)
            embed_chunk(frozen, arrays, codes[lo : lo + chunk], bins, 256, "fp32")

    embed_rate = _rate(embed, len(starts) * chunk)
    fasta_rate = _rate(
        lambda: [sequence_codes(sequence, index, np.arange(lo, lo + chunk)) for lo in starts],
        len(starts) * chunk,
    )
    return {
        "load_s": load_s,
        "fetch_bins_s": fetch,
        "train_bins_s": train_rate,
        "embed_bins_s": embed_rate,
        "fasta_chunk_bins_s": fasta_rate,
        "base_rss_mb": base_rss,
        "peak_rss_mb": _peak_rss_mb(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bins", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path("bench-out/stream"))
    ap.add_argument("--steps", type=int, default=10, help="training steps of batch 64")
    ap.add_argument("--chunk", type=int, default=1024, help="bins per embedding chunk")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    args = ap.parse_args()
    fasta = args.out / f"genome_{args.bins}.fa"
    if args.mode:
        print(json.dumps(run_mode(args.mode, fasta, args.steps, args.chunk)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    if not fasta.exists():
        write_fasta(fasta, args.bins)
    for old in args.out.glob(f"{fasta.name}.codes-*.npy"):
        old.unlink()  # the first stream run writes the cache, and its time is shown
    runs: dict[str, list[dict]] = {"memory": [], "stream": []}
    for _ in range(args.repeat):
        for mode in runs:
            cmd = [sys.executable, __file__, "--mode", mode, "--bins", str(args.bins)]
            cmd += ["--out", str(args.out), "--steps", str(args.steps), "--chunk", str(args.chunk)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{mode} failed:\n{proc.stderr[-2000:]}")
            runs[mode].append(json.loads(proc.stdout.splitlines()[-1]))
    codes_mb = args.bins * BIN / 2**20
    print(f"{args.bins} bins ({codes_mb:.0f} MB of codes), {args.repeat} runs each (medians)")
    print(f"  cache written once in {runs['stream'][0]['load_s']:.1f} s")
    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    for key in ("fetch_bins_s", "train_bins_s", "embed_bins_s", "fasta_chunk_bins_s"):
        mem, st = med["memory"][key], med["stream"][key]
        print(f"  {key:20s} memory {mem:10.0f}  stream {st:10.0f}  stream/memory {st / mem:.2f}")
    for mode in runs:
        rss = max(r["peak_rss_mb"] for r in runs[mode])
        print(f"  peak RSS {mode:6s} {rss} MB (after imports {med[mode]['base_rss_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
