"""``qtlgraph export-edges``: observed or learned edges as BEDPE and UCSC interact."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Edges as BEDPE + UCSC interact (observed graph or variant attribution).")
@click.option(
    "--graph",
    "graph_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Observed: a qtlgraph build directory (edges.parquet; value = n_qtl).",
)
@click.option(
    "--attribution",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Learned: a score-variants edges table (value = largest |carried| change).",
)
@click.option(
    "--run",
    "run_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The GNN run the attribution came from (its genome).",
)
@click.option("--name", default=None, help="File name stem [default: observed / learned].")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a non-empty OUT.")
@click.option(
    "--allow-unfinished", is_flag=True, help="Use the last checkpoint of a run that did not finish."
)
def command(graph_dir, attribution, run_dir, name, out, force, allow_unfinished) -> None:
    """Write OUT/<name>.bedpe and OUT/<name>.interact.txt."""
    from qtlgraph.errors import InputError
    from qtlgraph.gnn import export
    from qtlgraph.outputs import check_output_dir, check_writable

    if (graph_dir is None) == (attribution is None):
        raise InputError("give exactly one of --graph or --attribution")
    check_writable(check_output_dir(out, force))
    if graph_dir is not None:
        edges, index = export.observed_edges(graph_dir)
        paths = export.write_edges(
            edges, index, out, value="n_qtl", name=name or "observed", force=force
        )
    else:
        if run_dir is None:
            raise InputError("--attribution needs --run (the run whose genome the bins index)")
        paths = export.write_edges(
            export.attribution_edges(attribution),
            export.run_index(run_dir, allow_unfinished),
            out,
            value="value",
            name=name or "learned",
            force=force,
        )
    click.echo(f"wrote {', '.join(map(str, paths))}", err=True)
