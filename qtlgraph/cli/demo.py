"""``qtlgraph demo``: simulate the built-in dataset and run every stage on it."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Run the whole toolkit end to end on the simulated demo dataset.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Output directory; the demo resumes stages already finished there.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--preset",
    type=click.Choice(["demo", "realistic"]),
    default="demo",
    show_default=True,
    help="Simulated dataset: demo, or realistic (JASPAR motifs, hg38-like background, LD).",
)
@click.option("--force", is_flag=True, help="Start over, discarding a previous demo in --out.")
@click.option("--lane", type=click.Choice(["side"]), default=None, hidden=True)
def command(out: Path, seed: int, preset: str, force: bool, lane: str | None) -> None:
    """Simulate the demo dataset (3 cell types, 2 marks, known distal links), build its QTL
    graphs, analyse their degrees, train U-Net baselines A-D, the local bin encoder and
    the GNN with its controls, compare them, probe receptive fields, and write
    OUT/report.md. Re-running without --force resumes after the last finished stage.
    """
    import os
    import shutil

    # Two processes share the cores; idle OpenMP threads that spin take them from the other
    # lane (measured: 6 min 33 s with spinning, 5 min 24 s passive, same results). OpenMP
    # reads it when torch loads: here if torch is not loaded yet, and always in the side
    # lane, which inherits the environment.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from qtlgraph.pipeline import demo_stages, run_stages
    from qtlgraph.report import write_report

    stages = demo_stages(out, seed, preset)
    if lane == "side":  # the second process of a demo (qtlgraph.pipeline.SideLane)
        run_stages(stages, out, lane="side")
        return
    if force and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    cli_args = ["--out", str(out), "--seed", str(seed), "--preset", preset]
    timings = run_stages(stages, out, cli_args=cli_args)
    report = write_report(out, timings)
    click.echo(report.read_text())
    click.echo(f"demo finished: {report}", err=True)
