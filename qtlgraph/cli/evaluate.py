"""``qtlgraph evaluate``: the comparison table across runs (and U-Net test evaluation)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Compare runs: one table of test metrics per run, cell type and mark.")
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the table as Markdown to this file.",
)
@click.option(
    "--recompute",
    is_flag=True,
    help="(Re-)evaluate train-unet runs on the test chromosomes before comparing.",
)
@click.option(
    "--base-fraction",
    type=float,
    default=0.01,
    show_default=True,
    help="With --recompute: fraction of test bases scored for PR/ROC-AUC.",
)
@click.option(
    "--device", default="auto", show_default=True, help="With --recompute: cpu, cuda or auto."
)
@click.option(
    "--conditioning",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="U-Net runs A-D: write the conditioning experiment here (conditioning.md, "
    "training_curves.png and test_pr_auc.png, the report's Figures 12 and 13).",
)
def command(
    run_dirs: tuple[Path, ...],
    out: Path | None,
    recompute: bool,
    base_fraction: float,
    device: str,
    conditioning: Path | None,
) -> None:
    """Print the comparison table of RUN_DIRs from their results.json (test chromosomes;
    PR/ROC-AUC at base resolution where the model has it, Pearson/Spearman on 10 kb bins).
    """
    from qtlgraph.encoders.evaluate import comparison_table, evaluate_run, to_markdown
    from qtlgraph.outputs import atomic_path
    from qtlgraph.runtime import select_device

    if recompute:
        dev = select_device(device)
        for run in run_dirs:
            evaluate_run(run, base_fraction=base_fraction, device=dev)
    text = to_markdown(comparison_table(list(run_dirs)))
    click.echo(text, nl=False)
    if out is not None:
        with atomic_path(out) as tmp:
            tmp.write_text(text)
    if conditioning is not None:
        from qtlgraph.analysis.conditioning import write_conditioning

        md = write_conditioning(list(run_dirs), conditioning)
        click.echo(f"conditioning experiment: {md}", err=True)
