"""How much of a linked bin's level the simulator's distal term holds (test chromosomes).

Reads an ``eval_distal.py`` output folder (its truth file ``data/truth/bins.tsv.gz`` and
the local run's ``bin_predictions.parquet`` for the targets and the bins scored) and
prints, per cell type x mark over linked test bins, the Pearson r of the target with
``log1p`` of: the true local signal; the true local signal plus the mean distal term of
bins with the same in-degree (what an edge-shuffled model can know at best); the true local
plus the true distal term; and the distal term's share of the noise-free variance. The
true local signal is not known to any model, so these are not ceilings of the models'
scores, only how much there is to read in the sources.

    python benchmarks/distal_ceiling.py --root /tmp/eval_distal/realistic
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def _r(y: np.ndarray, signal: np.ndarray) -> float:
    return float(np.corrcoef(y, np.log1p(signal))[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="an eval_distal.py --out folder")
    root = parser.parse_args().root
    bins = pd.read_csv(root / "data" / "truth" / "bins.tsv.gz", sep="\t")
    scored = pd.read_parquet(root / "runs" / "local" / "bin_predictions.parquet")
    scored = scored[(scored.in_degree > 0) & scored.target.notna()]
    rows = []
    for (cell, mark), g in scored.groupby(["cell_type", "mark"]):
        g = g.merge(bins[["bin", f"local_{cell}_{mark}", f"distal_{cell}_{mark}"]], on="bin")
        local = g[f"local_{cell}_{mark}"].to_numpy(float)
        distal = g[f"distal_{cell}_{mark}"].to_numpy(float)
        ok = np.isfinite(local) & np.isfinite(distal)
        y, local, distal = g.target.to_numpy()[ok], local[ok], distal[ok]
        by_degree = pd.Series(distal).groupby(g.in_degree.to_numpy()[ok]).transform("mean")

        rows.append(
            {
                "cell_type": cell,
                "mark": mark,
                "n": int(ok.sum()),
                "local": _r(y, local),
                "local+E[distal|degree]": _r(y, local + by_degree.to_numpy()),
                "local+distal": _r(y, local + distal),
                "distal_share": float(np.var(distal) / np.var(local + distal)),
            }
        )
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
