"""``qtlgraph train-local``: train the per-bin encoder + local head, score held-out bins."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Train the local (per-bin) model and evaluate it on test chromosomes.")
@click.option(
    "--dataset",
    "manifest",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dataset manifest (TOML).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory (refused when not empty unless --force or --resume).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True)
@click.option(
    "--dim", type=click.IntRange(min=1), default=64, show_default=True, help="Embedding size d."
)
@click.option(
    "--flank",
    type=click.IntRange(min=0),
    default=20_000,
    show_default=True,
    help="bp of accessibility read at 1 kb on each side of the bin (0: none).",
)
@click.option(
    "--loss",
    type=click.Choice(["mse", "poisson", "nb"]),
    default="mse",
    show_default=True,
    help="Masked loss on log1p bin means.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--resume", is_flag=True, help="Continue from --out/checkpoint.pt.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out.")
def command(
    manifest: Path,
    out: Path,
    epochs: int,
    batch_size: int,
    lr: float,
    dim: int,
    flank: int,
    loss: str,
    seed: int,
    device: str,
    resume: bool,
    force: bool,
) -> None:
    """Train the bin encoder and its local head on the train-chromosome bins of every cell
    type (weights shared; validation on the validation chromosomes), then write
    results.json (Pearson, Spearman, MSE per cell type and mark) and
    bin_predictions.parquet for the test bins into OUT, beside config.json and
    checkpoint.pt (written every epoch; --resume continues from it).
    """
    from qtlgraph.encoders.local import train_local

    run = train_local(
        manifest,
        out,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        dim=dim,
        seed=seed,
        device=device,
        resume=resume,
        force=force,
        loss=loss,
        encoder={"flank": flank},
    )
    test = [r for r in run.metrics if r["split"] == "test"]
    for r in test:
        click.echo(
            f"{r['cell_type']}\t{r['mark']}\tn={r['n']}\tpearson={r['pearson']:.3f}\t"
            f"spearman={r['spearman']:.3f}\tmse={r['mse']:.4f}"
        )
    click.echo(f"wrote {run.run_dir} in {run.seconds:.1f} s", err=True)
