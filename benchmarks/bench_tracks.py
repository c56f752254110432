"""Per-bin targets over a simulated 100 Mb genome: ``bin_stat`` against a plain pyBigWig loop.

Writes its own bigWig (5 chromosomes x 20 Mb, random values in 50 bp steps) to a temporary
folder, then times ``qtlgraph.tracks.bin_stat(..., "mean")`` and a plain
``bw.stats(chrom, 0, length, type="mean", nBins=n, exact=True)`` loop in the same run,
asserts equal values and prints bins/s and the ratio.

    .venv/bin/python benchmarks/bench_tracks.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyBigWig

from qtlgraph.genome import BinIndex, Genome
from qtlgraph.tracks import bin_stat

N_CHROMS, LENGTH, STEP, BIN = 5, 20_000_000, 50, 10_000


def write_bigwig(path: Path, seed: int = 0) -> Genome:
    rng = np.random.default_rng(seed)
    chroms = [(f"chr{i + 1}", LENGTH) for i in range(N_CHROMS)]
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(chroms, maxZooms=10)
    for name, length in chroms:
        values = rng.exponential(1.0, length // STEP).astype(np.float64)
        values[rng.random(values.size) < 0.05] = 0.0
        bw.addEntries(name, 0, values=values, span=STEP, step=STEP)
    bw.close()
    return Genome("bench", tuple(c for c, _ in chroms), tuple(n for _, n in chroms))


def plain_loop(path: Path, genome: Genome) -> np.ndarray:
    out = []
    with pyBigWig.open(str(path)) as bw:
        for chrom, length in zip(genome.chroms, genome.lengths):
            vals = bw.stats(chrom, 0, length, type="mean", nBins=length // BIN, exact=True)
            out.append(np.array([np.nan if v is None else v for v in vals], dtype=np.float32))
    return np.concatenate(out)


def best_of_interleaved(fns, repeats: int) -> list[tuple[float, np.ndarray]]:
    """Best time of each function, run alternately so machine noise hits both alike."""
    times, results = [[] for _ in fns], [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(min(t), r) for t, r in zip(times, results)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.bw"
        t0 = time.perf_counter()
        genome = write_bigwig(path)
        print(
            f"wrote {genome.total_length / 1e6:.0f} Mb bigWig in {time.perf_counter() - t0:.1f} s"
        )
        index = BinIndex(genome, BIN)
        (t_ref, ref), (t_ours, ours) = best_of_interleaved(
            [lambda: plain_loop(path, genome), lambda: bin_stat(path, index, "mean")], args.repeats
        )
    np.testing.assert_array_equal(ours, ref)
    n = index.n_bins
    print(f"plain pyBigWig stats loop: {t_ref:.3f} s, {n / t_ref:,.0f} bins/s")
    print(f"qtlgraph bin_stat        : {t_ours:.3f} s, {n / t_ours:,.0f} bins/s")
    print(
        f"ratio bin_stat / plain   : {t_ours / t_ref:.2f}x (target <= 1.5x); "
        f"{n:,} bins, values equal"
    )


if __name__ == "__main__":
    main()
