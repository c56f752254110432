"""Time ``qtlgraph simulate`` on a preset and print the dataset's size and shape.

Usage: python benchmarks/bench_simulate.py [--preset demo] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import pandas as pd

from qtlgraph.simulate import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            r = simulate(Path(tmp) / f"run{i}", seed=args.seed, preset=args.preset, progress=False)
            times.append(r.seconds)
        out = Path(tmp) / "run0"
        bins = pd.read_csv(out / "truth" / "bins.tsv.gz", sep="\t")
        var = pd.read_csv(out / "truth" / "variants.tsv.gz", sep="\t")
        sig = var[(var["fdr"] < 0.05) & (var["target_bin"] >= 0)]
        per = sig.groupby(["cell_type", "mark", "target_bin"]).agg(
            connected=("variant_id", "size"), binned=("snp_bin", "nunique")
        )
        print(
            f"preset {args.preset}: {r.n_bins} bins, {r.n_links} links, {r.n_files} files, "
            f"{r.n_bytes / 1e6:.1f} MB"
        )
        print(
            f"simulate: median {statistics.median(times):.2f} s over {len(times)} runs "
            f"(min {min(times):.2f}, max {max(times):.2f})"
        )
        print(
            f"bins with an incoming link: {100 * r.target_fraction:.1f}%; "
            f"bins that are a source or target: {100 * r.linked_fraction:.1f}%; "
            f"max in-degree {bins['in_degree'].max()}"
        )
        print(
            f"FDR<0.05 rows per connected target (cell type, mark): connected mean "
            f"{per['connected'].mean():.1f} max {per['connected'].max()}, binned mean "
            f"{per['binned'].mean():.1f} max {per['binned'].max()}"
        )
        print(
            "fraction of bases with signal > 2: "
            + ", ".join(f"{k} {v:.3f}" for k, v in r.positive_fraction.items())
        )
        print(
            f"QTL rows: {len(var)}; FDR<0.05: {int((var['fdr'] < 0.05).sum())} "
            f"(background {int(((var['fdr'] < 0.05) & (var['role'] == 'background')).sum())})"
        )


if __name__ == "__main__":
    main()
