"""The end-to-end demo pipeline: every stage of the toolkit on the simulated dataset.

Each stage is one ``qtlgraph`` command run in-process, so the demo exercises exactly
what a user types. A stage whose output directory already holds ``.done`` is skipped,
so an interrupted demo resumes where it stopped. The degree analysis and the U-Net
baselines (:data:`SIDE_LANE`) run in a second process at the lowest CPU priority beside
the other stages (:class:`SideLane`), with the same results as one stage after another.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

CELL_TYPES = ("mono", "neut", "tcel")
MARKS = ("H3K27ac", "H3K4me1")
#: ``train-unet`` options of the demo's baselines A-D: one budget for all four, 3 epochs of
#: 256 windows, the epoch kept chosen on 48 validation windows (A trained alone on the demo
#: data kept its second epoch with 16, test ROC-AUC 0.58, and its third with 48, 0.69),
#: 33-44 s a run alone on two cores. All four start their first filters at the k-mers
#: most enriched at the training windows' positive positions (``--filter-init
#: enriched``): from random filters the sequence-only A and D stayed at chance in this
#: budget (README).
UNET_DEMO = [
    "--windows",
    "256",
    "--epochs",
    "3",
    "--patience",
    "2",
    "--valid-windows",
    "48",
    "--batch-size",
    "8",
    "--lr",
    "3e-3",
    "--prior-init",
    "--base-filters",
    "8",
    "--filter-init",
    "enriched",
]


#: ``train --model distal`` options of the demo: 10 epochs instead of 30, to fit the budget
#: (the demo's distal stage took 27 s for 10 epochs with the gated defaults; docs/distal.md).
DISTAL_DEMO = ["--epochs", "10"]


class Stage(NamedTuple):
    name: str
    out: str
    args: list[str]
    lane: str = "main"  # "side": run in a second process beside the main stages


#: stages of the side lane (:func:`run_stages`): they need only the simulated data and the
#: graphs, and no main stage before ``compare`` reads what they write
SIDE_LANE = ("degrees", "train-unet A", "train-unet B", "train-unet C", "train-unet D")
SIDE_LANE += ("evaluate U-Nets",)
#: the main stages that read the side lane's outputs, run last; the side lane is joined
#: before the first of them
READS_SIDE = ("compare", "rf unet:A")
JOIN_AT = READS_SIDE[0]


def demo_stages(out: Path, seed: int, preset: str = "demo") -> list[Stage]:
    """The demo's stages in order on ``qtlgraph simulate --preset PRESET``; paths under ``out``."""
    data = out / "data"
    manifest = str(data / "dataset.toml")
    stages = [
        Stage(
            "simulate",
            "data",
            ["simulate", "--preset", preset, "--seed", str(seed), "--out", str(data), "--force"],
        )
    ]
    for cell in CELL_TYPES:
        tables = [str(data / "qtl" / f"{cell}_{m}.txt.gz") for m in MARKS]
        stages.append(
            Stage(
                f"build {cell}",
                f"graphs/{cell}",
                [
                    "build",
                    *tables,
                    "--genome",
                    str(data / "genome.chrom.sizes"),
                    "--name",
                    cell,
                    *sum((["--edge-type", m] for m in MARKS), []),
                    "--out",
                    str(out / "graphs" / cell),
                    "--force",
                ],
            )
        )
    stages.append(
        Stage(
            "degrees",
            "degrees",
            [
                "degrees",
                *[str(out / "graphs" / c) for c in CELL_TYPES],
                "--out",
                str(out / "degrees"),
                "--force",
            ],
        )
    )
    for model in "ABCD":
        stages.append(
            Stage(
                f"train-unet {model}",
                f"runs/unet_{model}",
                [
                    "train-unet",
                    "--dataset",
                    manifest,
                    "--model",
                    model,
                    "--out",
                    str(out / "runs" / f"unet_{model}"),
                    *UNET_DEMO,
                    "--seed",
                    str(seed),
                    "--force",
                ],
            )
        )
    stages.append(
        Stage(
            "evaluate U-Nets",
            "unet_eval",
            [
                "evaluate",
                *[str(out / "runs" / f"unet_{m}") for m in "ABCD"],
                "--out",
                str(out / "unet_eval" / "unet_eval.md"),
                "--conditioning",
                str(out / "unet_eval"),
            ],
        )
    )
    stages.append(
        Stage(
            "train-local",
            "runs/local_encoder",
            [
                "train-local",
                "--dataset",
                manifest,
                "--out",
                str(out / "runs" / "local_encoder"),
                "--seed",
                str(seed),
                "--force",
            ],
        )
    )
    stages.append(
        Stage(
            "embed",
            "embeddings",
            [
                "embed",
                "--run",
                str(out / "runs" / "local_encoder"),
                "--out",
                str(out / "embeddings"),
                "--force",
            ],
        )
    )
    graphs = [f"{c}={out / 'graphs' / c}" for c in CELL_TYPES]
    gnn_common = [
        "--dataset",
        manifest,
        *sum((["--graph", g] for g in graphs), []),
        "--embeddings",
        str(out / "embeddings"),
        "--seed",
        str(seed),
        "--force",
    ]
    for name, extra in [
        ("gnn", ["--model", "gnn"]),
        ("local", ["--model", "local"]),
        ("local_stats", ["--model", "local-stats"]),
        ("gnn_shuffled", ["--model", "gnn", "--shuffle-edges"]),
        ("distal", ["--model", "distal", *DISTAL_DEMO]),
        ("distal_shuffled", ["--model", "distal", "--shuffle-edges", *DISTAL_DEMO]),
        ("gnn_holdout_tcel", ["--model", "gnn", "--holdout-cell-type", "tcel"]),
        ("local_holdout_tcel", ["--model", "local", "--holdout-cell-type", "tcel"]),
    ]:
        stages.append(
            Stage(
                f"train {name}",
                f"runs/{name}",
                ["train", *gnn_common, *extra, "--out", str(out / "runs" / name)],
            )
        )
    runs = [
        str(out / "runs" / r)
        for r in (
            "gnn",
            "local",
            "local_stats",
            "gnn_shuffled",
            "distal",
            "distal_shuffled",
            "unet_A",
            "unet_B",
            "unet_C",
            "unet_D",
        )
    ]
    stages.append(Stage("compare", "compare", ["compare", *runs, "--out", str(out / "compare")]))
    holdout = [str(out / "runs" / r) for r in ("gnn_holdout_tcel", "local_holdout_tcel")]
    stages.append(
        Stage(
            "compare held-out cell type",
            "compare_holdout",
            ["compare", *holdout, "--out", str(out / "compare_holdout")],
        )
    )
    for run, folder in (("gnn", "variants"), ("distal", "variants_distal")):
        stages.append(
            Stage(
                f"score-variants {run}",
                folder,
                [
                    "score-variants",
                    "--run",
                    str(out / "runs" / run),
                    "--evaluate-qtl",
                    "--out",
                    str(out / folder / "qtl_eval.tsv"),
                ],
            )
        )
    stages.append(
        Stage(
            "rf unet:A",
            "rf",
            [
                "rf",
                "--model",
                "unet:A",
                "--trained",
                str(out / "runs" / "unet_A"),
                "--method",
                "both",
                "--n-inputs",
                "4",
                "--out",
                str(out / "rf"),
                "--force",
            ],
        )
    )
    stages.append(
        Stage(
            "rf gnn",
            "rf_gnn",
            [
                "rf",
                "--model",
                str(out / "runs" / "gnn"),
                "--n-inputs",
                "32",
                "--out",
                str(out / "rf_gnn"),
                "--force",
            ],
        )
    )
    # what reads the side lane's outputs goes last, so the side lane has the longest
    # stretch of main stages beside it
    late = [s for s in stages if s.name in READS_SIDE]
    stages = [s for s in stages if s.name not in READS_SIDE] + late
    return [s._replace(lane="side") if s.name in SIDE_LANE else s for s in stages]


def run_one(stage: Stage, out: Path) -> float | None:
    """Run one stage in-process through the CLI unless its ``.done`` marker exists;
    returns its seconds (None: skipped).
    """
    from qtlgraph.cli import cli

    marker = out / stage.out / ".done"
    if marker.exists():
        print(f"[demo] {stage.name}: already done, skipped", file=sys.stderr)
        return None
    print(f"[demo] {stage.name}: qtlgraph {' '.join(stage.args)}", file=sys.stderr)
    t0 = time.perf_counter()
    cli.main(args=stage.args, prog_name="qtlgraph", standalone_mode=False)
    seconds = time.perf_counter() - t0
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{seconds:.1f}\n")
    return seconds


class SideLane:
    """The side-lane stages in a child process (``qtlgraph demo --lane side``), its output
    in ``OUT/side-lane.log``, at the lowest CPU priority (``nice 19``): it takes the cores
    when the main stages leave them idle (Python work on one core, file reads), and the
    main stages run as fast as alone. Both processes keep torch's default number of
    threads, so the results equal those of the stages run one after the other (a CPU
    reduction's rounding depends on how many threads split it: with one thread each, the
    demo's distal model trained to other weights; with both lanes at full priority, the
    two thread teams spun against each other and the demo took 11 minutes).
    """

    LOG = "side-lane.log"

    def __init__(self, out: Path, cli_args: list[str]) -> None:
        import subprocess

        self.out = out
        argv = [sys.executable, "-m", "qtlgraph", "demo", *cli_args, "--lane", "side"]
        print(f"[demo] side lane (degrees, U-Nets) in a second process: {out / self.LOG}",
              file=sys.stderr)  # fmt: skip
        self.log = open(out / self.LOG, "w")
        self.proc = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(19)
        )

    def join(self) -> None:
        """Wait for the side lane; InputError naming its log if it failed."""
        from qtlgraph.errors import InputError

        rc = self.proc.wait()
        self.log.close()
        if rc != 0:
            tail = (self.out / self.LOG).read_text().strip().splitlines()[-1:]
            raise InputError(
                f"demo side lane failed (exit {rc}); see {self.out / self.LOG}: "
                f"{tail[0] if tail else ''}"
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.log.close()


def run_stages(
    stages: list[Stage], out: Path, *, lane: str | None = None, cli_args: list[str] = ()
) -> list[tuple[str, float]]:
    """Run the stages; returns (stage, seconds) of those run, in stage order.

    With ``lane`` None the main stages run here and the side lane (:data:`SIDE_LANE`) in a
    second process (``cli_args``: the ``qtlgraph demo`` options that rebuild the same
    stages), started at its first stage and joined before :data:`JOIN_AT`; their seconds
    come from the side lane's ``.done`` markers. With ``lane="side"`` only the side stages
    run, here, and their seconds go to those markers only (nothing is returned).
    """
    if lane == "side":
        for stage in stages:
            if stage.lane == "side":
                run_one(stage, out)  # its seconds go to its .done marker
        return []
    side, ran = None, {}
    pending = [s for s in stages if s.lane == "side" and not (out / s.out / ".done").exists()]
    try:
        for stage in stages:
            if stage.lane == "side":
                if side is None and pending:
                    side = SideLane(out, list(cli_args))
                continue
            if stage.name == JOIN_AT and side is not None:
                side.join()
                side = None
            seconds = run_one(stage, out)
            if seconds is not None:
                ran[stage.name] = seconds
    finally:
        if side is not None:
            side.stop()
    for s in pending:  # what the side lane ran, from its markers
        ran[s.name] = float((out / s.out / ".done").read_text())
    return [(s.name, ran[s.name]) for s in stages if s.name in ran]
