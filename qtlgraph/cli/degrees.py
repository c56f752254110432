"""``qtlgraph degrees``: degree histograms, power-law fits and hubs of QTL graphs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Degree histograms, power-law fits and hub regions of graph directories.")
@click.argument(
    "graph_dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (refused when not empty unless --force).",
)
@click.option("--force", is_flag=True, help="Replace a non-empty --out.")
@click.option(
    "--per-type", is_flag=True, help="Also analyse each edge type (mark, loop) separately."
)
@click.option(
    "--hub-column",
    type=click.Choice(["binned", "connected"]),
    default="binned",
    show_default=True,
    help="Degree that defines hubs.",
)
@click.option(
    "--hub-threshold",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="A hub has more than this many links.",
)
@click.option(
    "--hub-quantile",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Instead of --hub-threshold: hubs exceed this quantile of the non-zero degrees.",
)
@click.option(
    "--xmin-max",
    type=click.IntRange(min=2),
    default=100,
    show_default=True,
    help="The power law's xmin is searched in [1, XMIN_MAX).",
)
@click.option(
    "--compare",
    "alternatives",
    multiple=True,
    show_default=True,
    type=click.Choice(["lognormal", "exponential", "truncated_power_law"]),
    default=("lognormal", "exponential", "truncated_power_law"),
    help="Distributions the power law is tested against (repeat the option).",
)
def command(
    graph_dirs: tuple[Path, ...],
    out: Path,
    force: bool,
    per_type: bool,
    hub_column: str,
    hub_threshold: int,
    hub_quantile: float | None,
    xmin_max: int,
    alternatives: tuple[str, ...],
) -> None:
    """Analyse the degrees of each GRAPH_DIR (from 'qtlgraph build'): per graph a histogram
    TSV and PNG of connected and binned QTLs per region, discrete power-law fits
    (powerlaw.tsv/.json: alpha, xmin, KS distance, likelihood-ratio tests against
    lognormal, exponential and truncated power law) and hubs.bed; across all graphs one
    summary.tsv and summary.md, one column per graph named from its build.json.
    """
    from qtlgraph.analysis.degree_report import HubRule, analyse_degrees
    from qtlgraph.inputs import check_complete
    from qtlgraph.outputs import check_output_dir, check_writable

    check_writable(check_output_dir(out, force))
    for graph_dir in graph_dirs:  # a damaged table is named here, before any analysis
        if (graph_dir / "degrees.tsv.gz").is_file():
            check_complete(graph_dir / "degrees.tsv.gz", "degree table")
    rule = HubRule(hub_column, hub_threshold, hub_quantile)
    report = analyse_degrees(
        graph_dirs,
        out,
        force=force,
        per_type=per_type,
        hubs=rule,
        xmin_range=(1, xmin_max),
        alternatives=alternatives,
    )
    click.echo(
        f"wrote {report.out} ({len(report.summary.columns)} columns in summary.tsv)", err=True
    )
