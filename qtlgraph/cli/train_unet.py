"""``qtlgraph train-unet``: train one of the report's U-Net baselines A-D, then evaluate it.

The workflow is :func:`qtlgraph.encoders.unet_run.train_unet_run`; this file parses options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from qtlgraph.encoders.unet_run import DEFAULTS, FILTER_INITS


@click.command(
    short_help="Train a Leopard U-Net baseline (A-D) and evaluate it on the test chromosomes."
)
@click.option(
    "--dataset",
    "dataset_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dataset manifest (TOML).",
)
@click.option(
    "--model",
    required=True,
    type=click.Choice(["A", "B", "C", "D"], case_sensitive=False),
    help="A: seq -> marks x cells; B: seq + access -> marks; C: seq + access -> marks x cells; "
    "D: seq -> marks shared by cells.",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory."
)
@click.option("--epochs", type=int, default=DEFAULTS["epochs"], show_default=True)
@click.option(
    "--windows",
    type=int,
    default=DEFAULTS["windows"],
    show_default=True,
    help="Random training windows per epoch.",
)
@click.option("--batch-size", type=int, default=DEFAULTS["batch_size"], show_default=True)
@click.option(
    "--lr", type=float, default=DEFAULTS["lr"], show_default=True, help="Adam learning rate."
)
@click.option(
    "--decay",
    type=float,
    default=DEFAULTS["decay"],
    show_default=True,
    help="Learning-rate decay per step: lr / (1 + decay * step), Keras/Leopard style.",
)
@click.option(
    "--loss",
    type=click.Choice(["bce", "mse", "poisson", "nb"]),
    default="bce",
    show_default=True,
    help="bce on binarised marks (signal > 2), or regression on the signal.",
)
@click.option("--base-filters", type=int, default=DEFAULTS["base_filters"], show_default=True)
@click.option("--depth", type=click.IntRange(0, 12), default=DEFAULTS["depth"], show_default=True)
@click.option(
    "--kernel-size", type=click.IntRange(1), default=DEFAULTS["kernel_size"], show_default=True
)
@click.option("--pool", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option(
    "--length", type=int, default=DEFAULTS["length"], show_default=True, help="Window length (bp)."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--patience",
    type=click.IntRange(0),
    default=DEFAULTS["patience"],
    show_default=True,
    help="Stop after this many epochs without a lower validation loss (0: run every epoch). "
    "The best validation epoch's weights are kept and evaluated either way.",
)
@click.option(
    "--valid-windows",
    type=click.IntRange(0),
    default=DEFAULTS["valid_windows"],
    show_default=True,
    help="Fixed validation windows (0: max(batch size, windows / 10)).",
)
@click.option(
    "--scale-augment/--no-scale-augment",
    default=DEFAULTS["scale_augment"],
    show_default=True,
    help="Leopard's augmentation: scale the accessibility input by a random factor in "
    "[0.9, 1.15] per training window (models B and C).",
)
@click.option(
    "--prior-init/--no-prior-init",
    default=DEFAULTS["prior_init"],
    show_default=True,
    help="Start the output logits at the training label frequency (bce).",
)
@click.option(
    "--filter-init",
    type=click.Choice(FILTER_INITS),
    default=DEFAULTS["filter_init"],
    show_default=True,
    help="enriched: start the first filters at the k-mers most enriched at positive "
    "positions of the training windows (listed in OUT/filter_seeds.tsv).",
)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--force", is_flag=True, help="Replace a non-empty OUT.")
@click.option("--no-evaluate", is_flag=True, help="Skip the test-chromosome evaluation.")
@click.option(
    "--base-fraction",
    type=float,
    default=0.01,
    show_default=True,
    help="Fraction of test bases scored for PR/ROC-AUC.",
)
def command(
    dataset_path: Path,
    model: str,
    out: Path,
    device: str,
    resume: bool,
    force: bool,
    no_evaluate: bool,
    base_fraction: float,
    **options: Any,
) -> None:
    """Train Leopard's U-Net as baseline A, B, C or D (the report's Table 3) on random
    windows of the training chromosomes, checkpointing every epoch, then write
    results.json and bin_predictions.parquet for the test chromosomes.
    """
    from qtlgraph.encoders.evaluate import comparison_table, to_markdown
    from qtlgraph.encoders.unet_run import train_unet_run

    if resume:  # only options given on the command line override the stored run
        ctx = click.get_current_context()
        options = {
            k: v
            for k, v in options.items()
            if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT
        }
    result = train_unet_run(
        dataset_path,
        model.upper(),
        out,
        device=device,
        resume=resume,
        force=force,
        evaluate=not no_evaluate,
        base_fraction=base_fraction,
        **options,
    )
    from qtlgraph.runtime import is_rank_zero

    if not is_rank_zero():  # under torchrun rank 0 reports
        return
    if no_evaluate:
        click.echo(f"trained {out} ({len(result['history'])} epochs)", err=True)
    else:
        click.echo(to_markdown(comparison_table([out])), nl=False)
