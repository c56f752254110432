"""What sequence alone can tell about a simulated dataset's base-level labels.

For each cell type and mark, scores every 20-bp step of the test chromosomes by the
simulator's own local term without noise or accessibility: the sum over the motif
instances of ``truth/motif_instances.tsv.gz`` (local motifs weight 1, the cell type's own
motif 2, other cell types' motifs 0.2, distal motifs 0) of a Gaussian of the mark's width
(500 bp for H3K27ac, 1,000 bp otherwise) centred on the instance, and prints the ROC-AUC
of that score against the label the U-Nets are trained on (signal > 2). It is a ceiling
for the sequence-only baselines A and D (a score built from the true motif positions),
not a model.

    python benchmarks/unet_ceiling.py demo-out/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from qtlgraph.genome import BinIndex
from qtlgraph.manifest import load_dataset
from qtlgraph.metrics import roc_auc
from qtlgraph.tracks import bin_profile

STEP = 20
WIDTH = {"H3K27ac": 500}  # bp; other marks 1,000


def step_scores(inst: pd.DataFrame, weights: dict, n: int, sigma: int) -> np.ndarray:
    """Sum over instances of weight x Gaussian(distance / sigma) at each step's centre."""
    centre = np.arange(n) * STEP + STEP // 2
    out = np.zeros(n)
    reach = 4 * sigma // STEP
    for pos, w in zip(inst["start"].to_numpy(), inst["motif"].map(weights).to_numpy()):
        if not w:
            continue
        lo, hi = max(0, pos // STEP - reach), min(n, pos // STEP + reach + 1)
        out[lo:hi] += w * np.exp(-((centre[lo:hi] - pos) ** 2) / (2 * sigma**2))
    return out


def motif_weight(kind: str, motif_cell: str, cell: str) -> float:
    """A motif's weight in the local term of ``cell``'s tracks (see the module docstring)."""
    if kind == "local":
        return 1.0
    if kind == "distal":
        return 0.0
    return 2.0 if motif_cell == cell else 0.2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="a qtlgraph simulate output directory")
    ap.add_argument("--threshold", type=float, default=2.0)
    args = ap.parse_args()
    ds = load_dataset(args.data / "dataset.toml")
    inst = pd.read_csv(args.data / "truth/motif_instances.tsv.gz", sep="\t")
    motifs = pd.read_csv(args.data / "truth/motifs.tsv", sep="\t")
    test = list(ds.split.chroms(ds.genome, "test"))
    index = BinIndex(ds.genome, 10_000)
    print("cell_type\tmark\tpositive_fraction\troc_auc")
    for cell in ds.cell_types:
        weights = {
            r.name: motif_weight(r.kind, r.cell_type, cell.name) for r in motifs.itertuples()
        }
        for mark, path in cell.marks.items():
            steps = bin_profile(path, index, resolution=STEP)  # 20-bp means, NaN without data
            scores, labels = [], []
            for chrom in test:
                n = ds.genome.sizes[chrom] // STEP
                v = steps[index.chrom_slice(chrom)].reshape(-1)[:n]
                s = step_scores(inst[inst["chrom"] == chrom], weights, n, WIDTH.get(mark, 1000))
                ok = np.isfinite(v)
                scores.append(s[ok])
                labels.append((v[ok] > args.threshold).astype(np.float64))
            y = np.concatenate(labels)
            auc = roc_auc(y, np.concatenate(scores))
            print(f"{cell.name}\t{mark}\t{y.mean():.3f}\t{auc:.3f}")


if __name__ == "__main__":
    main()
