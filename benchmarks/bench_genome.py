"""Genome-scale run on one machine.

Stages: simulate (large) -> build -> train-local -> embed -> train (GNN) -> train (distal)
-> evaluate.

Every stage is a subprocess of the real ``qtlgraph`` CLI, launched under ``/usr/bin/time -v``
(when present; else a fresh Python parent reading ``RUSAGE_CHILDREN``), so the peak
resident memory printed is that stage's alone. Prints one Markdown row per stage (wall
seconds, peak RSS in GB) and writes ``WORK/bench_genome.json``.

    python benchmarks/bench_genome.py --work /tmp/genome [--dataset DIR] [--epochs 20] \
        [--distal-epochs 1] [--skip 'train (GNN)']

``--dataset`` reuses a simulated dataset (else ``qtlgraph simulate --preset large`` writes
``WORK/data`` as the first, timed, stage). Takes 10-30 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

CELLS = ("mono", "neut", "tcel")
MARKS = ("H3K27ac", "H3K4me1")


def _qtlgraph() -> list[str]:
    return [sys.executable, "-m", "qtlgraph"]


def run_stage(name: str, argv: list[str], log: Path) -> dict:
    """Run one command; return ``{stage, seconds, peak_rss_gb, rc}``."""
    t0 = time.perf_counter()
    if Path("/usr/bin/time").exists():
        cmd = ["/usr/bin/time", "-v", *argv]
    else:
        cmd = [
            sys.executable,
            "-c",
            "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:]);"
            "print('Maximum resident set size (kbytes):',"
            " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
            " sys.exit(r.returncode)",
            *argv,
        ]
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - t0
    found = re.findall(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text())
    rss = int(found[-1]) / 1024**2 if found else float("nan")
    row = {"stage": name, "seconds": round(seconds, 1), "peak_rss_gb": round(rss, 2), "rc": rc}
    print(
        f"| {name} | {row['seconds']} | {row['peak_rss_gb']} |"
        + ("" if rc == 0 else f" FAILED rc={rc}"),
        flush=True,
    )
    if rc != 0:
        print(log.read_text()[-3000:], file=sys.stderr)
    return row


def stages(
    data: Path, work: Path, epochs: int, local_epochs: int, distal_epochs: int = 1, skip=()
) -> list[tuple[str, list[str]]]:
    """The pipeline as (name, argv) pairs, in order, without the stages named in ``skip``
    (``evaluate`` then compares the runs that are left)."""
    q, manifest = _qtlgraph(), str(data / "dataset.toml")
    out = []
    for cell in CELLS:
        tables = [str(data / "qtl" / f"{cell}_{m}.txt.gz") for m in MARKS]
        edge = [a for m in MARKS for a in ("--edge-type", m)]
        out.append(
            (
                f"build {cell}",
                [
                    *q,
                    "build",
                    *tables,
                    "--genome",
                    str(data / "genome.chrom.sizes"),
                    *edge,
                    "--out",
                    str(work / f"graph_{cell}"),
                    "--quiet",
                ],
            )
        )
    out.append(
        (
            "train-local",
            [
                *q,
                "train-local",
                "--dataset",
                manifest,
                "--out",
                str(work / "local"),
                "--epochs",
                str(local_epochs),
                "--device",
                "cpu",
            ],
        )
    )
    out.append(
        (
            "embed",
            [
                *q,
                "embed",
                "--run",
                str(work / "local"),
                "--out",
                str(work / "emb"),
                "--device",
                "cpu",
            ],
        )
    )
    graphs = [a for c in CELLS for a in ("--graph", f"{c}={work / f'graph_{c}'}")]
    out.append(
        (
            "train (GNN)",
            [
                *q,
                "train",
                "--dataset",
                manifest,
                *graphs,
                "--embeddings",
                str(work / "emb"),
                "--epochs",
                str(epochs),
                "--device",
                "cpu",
                "--bootstrap",
                "20",
                "--out",
                str(work / "gnn"),
            ],
        )
    )
    out.append(
        (
            "train (distal)",
            [
                *q,
                "train",
                "--model",
                "distal",
                "--dataset",
                manifest,
                *graphs,
                "--embeddings",
                str(work / "emb"),
                "--epochs",
                str(distal_epochs),
                "--device",
                "cpu",
                "--bootstrap",
                "20",
                "--out",
                str(work / "distal"),
            ],
        )
    )
    out = [(name, argv) for name, argv in out if name not in skip]
    runs = {"train-local": "local", "train (GNN)": "gnn", "train (distal)": "distal"}
    compared = [str(work / runs[name]) for name, _ in out if name in runs]
    out.append(("evaluate", [*q, "evaluate", *compared, "--out", str(work / "comparison.md")]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--work", type=Path, required=True, help="Scratch directory (replaced).")
    ap.add_argument(
        "--dataset", type=Path, default=None, help="An existing 'large' simulated dataset."
    )
    ap.add_argument("--epochs", type=int, default=20, help="GNN full-graph steps.")
    ap.add_argument("--local-epochs", type=int, default=1)
    ap.add_argument("--distal-epochs", type=int, default=1, help="distal model passes.")
    ap.add_argument(
        "--skip",
        default="",
        help="Comma-separated stage names to leave out (e.g. 'train (GNN)').",
    )
    args = ap.parse_args()
    if args.work.exists():
        shutil.rmtree(args.work)
    (args.work / "logs").mkdir(parents=True)
    skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    data = args.dataset or args.work / "data"
    plan = stages(data, args.work, args.epochs, args.local_epochs, args.distal_epochs, skip)
    if args.dataset is None:
        plan.insert(
            0,
            (
                "simulate large",
                [*_qtlgraph(), "simulate", "--preset", "large", "--out", str(args.work / "data")],
            ),
        )
    print(f"allocator: {os.environ.get('LD_PRELOAD') or 'glibc'}; cores: {os.cpu_count()}\n")
    print("| stage | seconds | peak RSS (GB) |\n|---|---|---|", flush=True)
    rows = []
    for i, (name, argv) in enumerate(plan):
        rows.append(run_stage(name, argv, args.work / "logs" / f"{i:02d}.log"))
        if rows[-1]["rc"] != 0:
            break
    (args.work / "bench_genome.json").write_text(
        json.dumps({"stages": rows, "argv": sys.argv}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
