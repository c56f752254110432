"""Does the distal model predict what a variant does far away? The whole evaluation.

For a simulated preset (``demo``; ``realistic``, the harder one) this runs simulate (with
and without the distal term), build x3, train-local and embed, then ``qtlgraph train`` for
local, local-stats, gnn, gnn shuffled, distal, distal shuffled, distal ``--edge-attr none``,
distal shuffled ``--edge-attr none`` and distal without the QTL-effect loss (and local,
local-stats and distal on the ``--no-distal`` data), and prints:

(a) held-out causal variants at distal targets (simulator truth, test chromosomes) and
    held-out QTL betas: sign concordance (target >= 0.9), Spearman (>= 0.7) and median
    |pred| / |true| (0.5-2), for each graph run;
(b) linked-bin Pearson per cell type x mark: distal minus local, minus local-stats, minus
    its shuffled control, with and without edge attributes (paired 95% bootstrap CIs);
(c) ``--no-distal``: distal minus local; no pair should have a CI above +0.02; and
    local-stats minus local, distal minus local-stats.

Every stage writes ``.done`` when it finishes, so a rerun continues where it stopped.

    python benchmarks/eval_distal.py --preset demo --out /tmp/eval_distal [--seed 0] \
        [--distal-options '--distal-message gated --distal-activation relu ...']
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

import numpy as np
import pandas as pd

from qtlgraph import metrics as M
from qtlgraph.gnn.evaluate import stratum_masks

CELLS, MARKS = ("mono", "neut", "tcel"), ("H3K27ac", "H3K4me1")
RUNS = {
    "local": ["--model", "local"],
    "local_stats": ["--model", "local-stats"],
    "gnn": ["--model", "gnn"],
    "gnn_shuffled": ["--model", "gnn", "--shuffle-edges"],
    "distal": ["--model", "distal"],
    "distal_shuffled": ["--model", "distal", "--shuffle-edges"],
    "distal_noattr": ["--model", "distal", "--edge-attr", "none"],
    "distal_shuffled_noattr": ["--model", "distal", "--shuffle-edges", "--edge-attr", "none"],
    "distal_noaux": ["--model", "distal", "--qtl-aux-weight", "0"],
}
NO_DISTAL_RUNS = ("local", "local_stats", "distal")


def stage(out: Path, args: list[str]) -> None:
    """Run one ``qtlgraph`` command in-process unless ``out/.done`` exists."""
    from qtlgraph.cli import cli

    if (out / ".done").exists():
        return
    t0 = time.perf_counter()
    print(f"[eval] qtlgraph {' '.join(args)}", flush=True)
    cli.main(args=args, prog_name="qtlgraph", standalone_mode=False)
    out.mkdir(parents=True, exist_ok=True)
    (out / ".done").write_text(f"{time.perf_counter() - t0:.1f}\n")


def paths(root: Path) -> dict[str, Path]:
    """Where the prepared data live under ``root``: ``data``, ``manifest``, ``embeddings``,
    ``encoder`` and one graph folder per cell type (``graph_<cell>``)."""
    out = {
        "data": root / "data",
        "manifest": root / "data" / "dataset.toml",
        "encoder": root / "runs" / "local_encoder",
        "embeddings": root / "embeddings",
    }
    return out | {f"graph_{c}": root / "graphs" / c for c in CELLS}


def prepare(root: Path, preset: str, seed: int, distal: bool) -> list[str]:
    """simulate, build x3, train-local, embed; returns the common ``train`` arguments."""
    at = paths(root)
    data = at["data"]
    extra = [] if distal else ["--no-distal"]
    sim = ["simulate", "--preset", preset, "--seed", str(seed), "--out", str(data), "--force"]
    stage(data, sim + extra)
    for c in CELLS:
        tables = [str(data / "qtl" / f"{c}_{m}.txt.gz") for m in MARKS]
        types = sum((["--edge-type", m] for m in MARKS), [])
        args = ["build", *tables, "--genome", str(data / "genome.chrom.sizes"), "--name", c]
        graph = at[f"graph_{c}"]
        stage(graph, [*args, *types, "--out", str(graph), "--force"])
    enc, emb, manifest = at["encoder"], at["embeddings"], str(at["manifest"])
    stage(enc, ["train-local", "--dataset", manifest, "--out", str(enc), "--seed", str(seed)])
    stage(emb, ["embed", "--run", str(enc), "--out", str(emb), "--force"])
    return train_args(root, seed)


def train_args(root: Path, seed: int) -> list[str]:
    """The ``train`` arguments common to every run on the prepared data at ``root``."""
    at = paths(root)
    graphs = sum((["--graph", f"{c}={at[f'graph_{c}']}"] for c in CELLS), [])
    return ["--dataset", str(at["manifest"]), *graphs, "--embeddings", str(at["embeddings"]),
            "--seed", str(seed)]  # fmt: skip


def train_all(root: Path, common: list[str], names, distal_options=()) -> None:
    for name in names:
        out = root / "runs" / name
        extra = list(distal_options) if name.startswith("distal") else []
        stage(out, ["train", *common, *RUNS[name], *extra, "--out", str(out), "--force"])


def variant_table(root: Path, names) -> pd.DataFrame:
    """(a): ``score-variants --evaluate-qtl`` of each graph run, all marks together."""
    rows = []
    for name in names:
        out = root / "variants" / name
        tsv = out / "qtl_eval.tsv"
        stage(out, ["score-variants", "--run", str(root / "runs" / name), "--evaluate-qtl",
                    "--out", str(tsv), "--force"])  # fmt: skip
        m = pd.read_csv(tsv, sep="\t")
        rows.append(m[m["mark"] == "all"].assign(run=name))
    cols = ["run", "comparison", "n", "n_reached", "sign_concordance", "spearman"]
    return pd.concat(rows)[cols + ["median_abs_ratio"]]


def paired(root: Path, a: str, b: str, n_boot: int = 1000) -> pd.DataFrame:
    """(b)/(c): linked-bin Pearson of run ``a`` minus run ``b`` per cell type x mark."""
    fa = pd.read_parquet(root / "runs" / a / "bin_predictions.parquet")
    fb = pd.read_parquet(root / "runs" / b / "bin_predictions.parquet")
    keys = ["cell_type", "mark", "bin"]
    both = fa.merge(fb[keys + ["pred"]], on=keys, suffixes=("", "_b"))
    rows = []
    for (ct, mark), g in both.groupby(["cell_type", "mark"], sort=True):
        m = stratum_masks(g["in_degree"].to_numpy())["linked"]
        t, pa, pb = (g[c].to_numpy(np.float64)[m] for c in ("target", "pred", "pred_b"))
        r = M.paired_bootstrap_diff(M.pearson, t, pa, pb, n_boot=n_boot, seed=0)
        rows.append({"a": a, "b": b, "cell_type": ct, "mark": mark, "n": int(m.sum()),
                     "d_pearson": r.value, "low": r.low, "high": r.high})  # fmt: skip
    return pd.DataFrame(rows)


def tally(frame: pd.DataFrame) -> pd.DataFrame:
    """Per ``(a, b)`` of :func:`paired` rows: pairs whose CI lies above / below 0, and the
    range of the differences."""
    return frame.groupby(["a", "b"], sort=False).agg(
        above=("low", lambda v: int((v > 0).sum())),
        below=("high", lambda v: int((v < 0).sum())),
        low=("d_pearson", "min"),
        high=("d_pearson", "max"),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="demo")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--distal-options",
        default="",
        help="extra 'qtlgraph train' options for every distal run, e.g. '--distal-message "
        "gated --distal-activation relu --distal-filters standardized' (use a fresh --out, "
        "or remove the distal runs: finished stages are not rerun)",
    )
    args = p.parse_args()
    root, nodist = args.out / args.preset, args.out / f"{args.preset}_nodistal"
    extra = shlex.split(args.distal_options)
    train_all(root, prepare(root, args.preset, args.seed, True), RUNS, extra)
    train_all(nodist, prepare(nodist, args.preset, args.seed, False), NO_DISTAL_RUNS, extra)
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    graph_runs = [n for n in RUNS if n.startswith(("gnn", "distal"))]
    print("\n(a) held-out variants, distal targets (targets: sign >= 0.9, Spearman >= 0.7, "
          "median |pred|/|true| in 0.5-2)")  # fmt: skip
    table = variant_table(root, graph_runs)
    table["median_abs_ratio"] = table["median_abs_ratio"].map(lambda v: f"{v:.2g}")
    print(table.to_string(**fmt))
    print("\n(b) linked-bin Pearson differences, paired 95% bootstrap CI")
    pairs = [("distal", "local"), ("distal", "local_stats"), ("distal", "distal_shuffled"),
             ("distal_noattr", "local"), ("distal_noattr", "local_stats"),
             ("distal_noattr", "distal_shuffled_noattr"), ("gnn", "gnn_shuffled"),
             ("distal", "distal_noaux")]  # fmt: skip
    b = pd.concat([paired(root, a, b) for a, b in pairs])
    print(b.to_string(**fmt))
    print("\nsummary: pairs (of 6) whose CI lies above / below 0")
    print(tally(b).reset_index().to_string(**fmt))
    print("\n(c) --no-distal data: distal minus local (no CI may lie above +0.02), and the")
    print("    graph statistics alone (local-stats minus local; the tables still report effects)")
    for a, b in [("distal", "local"), ("local_stats", "local"), ("distal", "local_stats")]:
        c = paired(nodist, a, b)
        print(c.to_string(**fmt))
        print(f"{a} - {b}: pairs with CI above +0.02: {int((c['low'] > 0.02).sum())} of {len(c)}, "
              f"below 0: {int((c['high'] < 0).sum())}")  # fmt: skip


if __name__ == "__main__":
    main()
