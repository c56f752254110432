"""``qtlgraph compare``: runs side by side on the same test bins, and what beats what."""

from __future__ import annotations

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write comparison.tsv, paired.tsv, comparison.md and comparison.png here.",
)
@click.option("--bootstrap", "n_boot", type=int, default=200, show_default=True)
def command(run_dirs, out, n_boot) -> None:
    """Print Pearson r [95% CI] per cell type, mark and in-degree stratum for every run
    (GNN, local, local-stats, U-Nets), then the paired bootstrap of each graph run minus
    its local-stats run, its local run and its edge-shuffled control, with the differences
    whose CI excludes 0 said in words. Runs scored on different targets or made from
    different datasets are refused.
    """
    from qtlgraph.gnn.compare import (
        CONTRASTS,
        PAIRED_COLUMNS,
        claim_lines,
        compare_runs,
        wide_table,
        write_comparison,
    )

    comp = compare_runs(list(run_dirs), n_boot=n_boot)
    click.echo(wide_table(comp.table).to_string(index=False))
    for kind, heading in CONTRASTS.items():
        part = comp.paired[comp.paired["contrast"] == kind] if len(comp.paired) else []
        if len(part):
            click.echo(f"\n{heading}:")
            click.echo("\n".join(claim_lines(part)))
            click.echo(part[PAIRED_COLUMNS].to_string(index=False, float_format="%.3f"))
    if out:
        write_comparison(comp, out)
        click.echo(f"wrote {out}")
