"""``qtlgraph rf``: measure a model's receptive field (report section 4.3)."""

from __future__ import annotations

from pathlib import Path

import click


def _position(value: str) -> str | int:
    if value in ("center", "edge"):
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected center, edge or an integer") from None


def check_runs(model: str, trained: Path | None, allow_unfinished: bool) -> None:
    """Refuse unfinished runs and a ``--trained`` run of another architecture than ``--model``."""
    from qtlgraph import runs
    from qtlgraph.errors import InputError

    if Path(model).is_dir():
        runs.check_run(model, allow_unfinished)
    if trained is None:
        return
    config = runs.check_run(trained, allow_unfinished)
    expected = "local" if model.lower() == "bin-encoder" else model
    stored = str(config.get("model", "?"))
    if stored.lower() != expected.lower():
        raise InputError(
            f"--trained {trained}: a {stored} run, not {expected} (as --model {model} says)"
        )


@click.command(short_help="Receptive field of a U-Net, the bin encoder, Enformer or a trained run.")
@click.option(
    "--model",
    "model",
    required=True,
    metavar="unet:A|unet:B|unet:C|unet:D|bin-encoder|enformer|RUN_DIR",
    help="Architecture (untrained, default config, seeded weights) or a trained run directory.",
)
@click.option(
    "--trained",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Trained run of the same architecture: probe it and its untrained twin side by side.",
)
@click.option(
    "--method",
    type=click.Choice(["perturbation", "gradient", "both"]),
    default="both",
    show_default=True,
)
@click.option(
    "--n-inputs", type=int, default=16, show_default=True, help="Random one-hot inputs per probe."
)
@click.option(
    "--position",
    default="center",
    show_default=True,
    metavar="center|edge|INT",
    help="Mutated base (perturbation) and probed output position (gradient).",
)
@click.option(
    "--perturb",
    "perturb",
    type=click.Choice(["direction", "swap"]),
    default="direction",
    show_default=True,
    help="GNN runs: shift the source bin's features along a random direction, or swap in "
    "another bin's.",
)
@click.option(
    "--delta",
    type=float,
    default=1.0,
    show_default=True,
    help="GNN runs: size of the direction shift, in feature standard deviations.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Replace a non-empty --out.")
@click.option(
    "--allow-unfinished", is_flag=True, help="Use the last checkpoint of a run that did not finish."
)
def command(
    model: str,
    trained: Path | None,
    method: str,
    n_inputs: int,
    position: str,
    perturb: str,
    delta: float,
    seed: int,
    out: Path,
    force: bool,
    allow_unfinished: bool,
) -> None:
    """Probe a model with random DNA: the span of outputs a single-base substitution moves
    (perturbation) and the span of inputs with a non-zero gradient (gradient). Writes
    OUT/rf.json (measured, analytic and the report's spans), rf.md, profiles.npz and
    rf_<method>.png (linear and log scale).

    A `qtlgraph train` run (GNN) is probed on its graph instead: --n-inputs random source
    bins are perturbed one at a time and the bins whose predictions change give the reach
    in bp (OUT/rf.json, rf.md, reach.npz, rf_reach.png and rf_compare.png, the reach beside
    the U-Net's and Enformer's).
    """
    from qtlgraph.analysis.rf_report import run_rf
    from qtlgraph.outputs import check_output_dir, check_writable

    check_writable(check_output_dir(out, force))
    check_runs(model, trained, allow_unfinished)
    summary = run_rf(
        model,
        out,
        trained=trained,
        method=method,
        n_inputs=n_inputs,
        position=_position(position),
        seed=seed,
        force=force,
        mode=perturb,
        delta=delta,
    )
    if summary["family"] == "gnn":
        for s in summary["compare"].values():
            click.echo(f"{s['label']}: reach {s['reach_bp']:,.0f} bp")
        click.echo(f"wrote {out}", err=True)
        return
    for version, methods in summary["probes"].items():
        for name, s in methods.items():
            click.echo(
                f"{version} {name}: span {s['span_bp']:,} bp, "
                f"effective width {s['effective_width_bp']:,} bp"
            )
    click.echo(f"wrote {out}", err=True)
