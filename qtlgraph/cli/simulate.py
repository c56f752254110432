"""``qtlgraph simulate``: write the built-in simulated dataset (docs/simulation.md)."""

from __future__ import annotations

import click


@click.command(name="simulate")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Random seed; same seed, same bytes."
)
@click.option(
    "--preset",
    default="demo",
    show_default=True,
    type=click.Choice(["demo", "small", "tiny", "large", "realistic", "realistic-tiny"]),
    help="tiny ~2.5 Mb (tests), demo ~16 Mb (the demo pipeline), small ~100 Mb (benchmarks); "
    "realistic / realistic-tiny: demo / tiny sizes with JASPAR sites, a composed background "
    "and LD-clustered QTLs (docs/simulation.md).",
)
@click.option(
    "--background",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "hg38", "synthetic"]),
    help="realistic presets: hg38 pieces from ../shared/data/real where present (auto), "
    "required (hg38) or never (synthetic).",
)
@click.option(
    "--jaspar",
    default=None,
    metavar="IDS",
    help="realistic presets: comma-separated JASPAR 2024 matrix IDs (at least 5) read through "
    "the optional pyjaspar (pip install 'qtlgraph[jaspar]') instead of the shipped nine.",
)
@click.option(
    "--no-distal",
    is_flag=True,
    help="Switch the distal term off (a null control; same sequence, links, QTL tables).",
)
@click.option("--force", is_flag=True, help="Replace a non-empty output directory.")
def command(
    out: str,
    seed: int,
    preset: str,
    background: str,
    jaspar: str | None,
    no_distal: bool,
    force: bool,
) -> None:
    """Simulate a genome, tracks and QTL tables with known distal effects."""
    from qtlgraph.simulate import simulate

    r = simulate(
        out,
        seed=seed,
        preset=preset,
        distal=not no_distal,
        force=force,
        background=background,
        jaspar=jaspar,
    )
    click.echo(
        f"{r.out}: {r.n_bins} bins, {r.n_links} true links, {r.n_files} files, "
        f"{r.n_bytes / 1e6:.1f} MB, {100 * r.target_fraction:.1f}% of bins are link targets, "
        f"{r.seconds:.1f} s"
    )
