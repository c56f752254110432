"""How much do the distal model's figures move with the training seed? Two filter starts.

On the data of a finished ``eval_distal.py`` run (its simulation, graphs, embeddings, local and
local-stats runs), trains, for every ``--distal-init`` start and training seed, the distal
model, its edge-shuffled control and both with edge attributes withheld, scores the held-out
causal variants of the two unshuffled runs, and prints one row per start and seed: variant
sign / Spearman / median |pred| / |true|, and the linked-bin paired CIs against local-stats and
against the shuffled controls (pairs of 6 above / below 0, range of the differences).

    python benchmarks/distal_seeds.py --eval /tmp/eval_distal/demo --out /tmp/seeds \
        [--starts qtl qtl-aligned] [--seeds 0 1 2]

6-7 minutes per start and seed on 2 cores (372-426 s of training and scoring measured);
finished stages are not rerun.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from eval_distal import paired, tally, train_all, train_args, variant_table

NAMES = ("distal", "distal_shuffled", "distal_noattr", "distal_shuffled_noattr")
PAIRS = (
    ("distal", "local_stats"),
    ("distal", "distal_shuffled"),
    ("distal_noattr", "distal_shuffled_noattr"),
)


def one(base: Path, root: Path, start: str, seed: int) -> dict:
    """Train and score one start x seed under ``root``; its row of the table."""
    (root / "runs").mkdir(parents=True, exist_ok=True)
    for name in ("local", "local_stats"):
        link = root / "runs" / name
        if not link.exists():
            link.symlink_to((base / "runs" / name).resolve())
    train_all(root, train_args(base, seed), NAMES, ["--distal-init", start])
    row = {"start": start, "seed": seed}
    table = variant_table(root, ["distal", "distal_noattr"])
    for run, t in table[table["comparison"] == "truth"].groupby("run", sort=False):
        r = t.iloc[0]
        row[f"{run} variants"] = (
            f"{r.sign_concordance:.3f} / {r.spearman:.3f} / {r.median_abs_ratio:.3f}"
        )
    counts = tally(pd.concat([paired(root, a, b) for a, b in PAIRS]))
    for t in counts.reset_index().itertuples():
        row[f"{t.a} - {t.b}"] = f"{t.above} / {t.below} ({t.low:+.3f} .. {t.high:+.3f})"
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--eval", type=Path, required=True, help="an eval_distal.py preset folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--starts", nargs="+", default=["qtl", "qtl-aligned"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = p.parse_args()
    if not (args.eval / "runs" / "local_stats" / ".done").exists():
        p.error(f"--eval {args.eval}: expected a finished eval_distal.py preset folder")
    rows = [
        one(args.eval, args.out / f"{start}_s{seed}", start, seed)
        for start in args.starts
        for seed in args.seeds
    ]
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
