"""``qtlgraph export-bigwig``: a GNN run's predicted tracks as 10 kb bigWigs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Predicted tracks per cell type and mark as bigWig.")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A qtlgraph train run.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--part",
    type=click.Choice(["all", "train", "valid", "test"]),
    default="all",
    show_default=True,
    help="Bins to write: all, or one split part's.",
)
@click.option(
    "--targets", is_flag=True, help="Also write the observed targets (<cell>.<mark>.target.bw)."
)
@click.option("--device", default="auto", show_default=True)
@click.option("--force", is_flag=True, help="Replace a non-empty OUT.")
@click.option(
    "--allow-unfinished", is_flag=True, help="Use the last checkpoint of a run that did not finish."
)
def command(run_dir, out, part, targets, device, force, allow_unfinished) -> None:
    """Write OUT/<cell>.<mark>.pred.bw (log1p of the bin mean, one value per 10 kb bin)."""
    from qtlgraph.gnn.export import export_bigwigs

    written = export_bigwigs(
        run_dir,
        out,
        part=part,
        targets=targets,
        device=device,
        force=force,
        allow_unfinished=allow_unfinished,
    )
    click.echo(f"wrote {len(written)} bigWigs to {out}", err=True)
