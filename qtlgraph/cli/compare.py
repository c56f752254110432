"""``qtlgraph compare``: runs side by side on the same test bins."""

from __future__ import annotations

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write comparison.tsv, comparison.md and comparison.png here.",
)
@click.option("--bootstrap", "n_boot", type=int, default=200, show_default=True)
def command(run_dirs, out, n_boot) -> None:
    """Print Pearson r [95% CI] per cell type, mark and in-degree stratum for every run
    (GNN, local, U-Nets), plus the paired bootstrap of each GNN minus the local run.
    """
    from qtlgraph.gnn.compare import compare_runs, wide_table, write_comparison

    comp = compare_runs(list(run_dirs), n_boot=n_boot)
    click.echo(wide_table(comp.table).to_string(index=False))
    if len(comp.paired):
        cols = [
            "run",
            "cell_type",
            "mark",
            "stratum",
            "n",
            "d_pearson",
            "d_pearson_low",
            "d_pearson_high",
        ]
        click.echo("\nGNN minus local (paired bootstrap):")
        click.echo(comp.paired[cols].to_string(index=False, float_format="%.3f"))
    if out:
        write_comparison(comp, out)
        click.echo(f"wrote {out}")
