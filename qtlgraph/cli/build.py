"""``qtlgraph build``: QTL tables (and optional loops) -> a graph directory over genome bins."""

from __future__ import annotations

from pathlib import Path

import click

_FORMATS = (
    "auto",
    "blueprint",
    "blueprint-reformatted",
    "qtltools-nominal",
    "qtltools-permutation",
    "tensorqtl",
    "gtex-egenes",
    "gtex-pairs",
    "eqtlcatalogue",
    "generic",
)


def _report(meta: dict) -> None:
    """Kept and dropped counts per input on stderr."""
    for rec in meta["inputs"]:
        dropped = ", ".join(f"{k} {v}" for k, v in rec["dropped"].items() if v)
        click.echo(
            f"{rec['path']} [{rec.get('format', 'bedpe')} -> {rec['edge_type']}]: "
            f"read {rec['rows_read']}, kept {rec['kept']}"
            + (f"; dropped: {dropped}" if dropped else ""),
            err=True,
        )
    for warning in meta["warnings"]:
        click.echo(f"warning: {warning}", err=True)


def _stop_on_build_evidence(evidence: str | None) -> None:
    from qtlgraph.errors import InputError

    if evidence:
        raise InputError(
            f"{evidence}: is the table on another genome build? (lift it over, give the "
            "matching --genome, or pass --allow-build-mismatch)"
        )


def _check_distinct(paths, edge_types) -> None:
    """The same file given twice for one edge type would count the second as duplicates."""
    from qtlgraph.errors import InputError

    types = list(edge_types) if len(edge_types) == len(paths) else [None] * len(paths)
    seen: dict[tuple, Path] = {}
    for path, etype in zip(paths, types):
        key = (Path(path).resolve(), etype)
        if key in seen:
            raise InputError(
                f"{path}: given twice (also as {seen[key]}) for the same edge type; give each "
                "table once"
            )
        seen[key] = Path(path)


def _check_built(built, genome, allow_build_mismatch: bool) -> None:
    """Stop on wrong-build evidence in the drop counts, and on a graph with no edge."""
    from qtlgraph.errors import InputError
    from qtlgraph.genome import position_evidence
    from qtlgraph.loops import LOOP_TYPE

    for record in built.meta["inputs"]:
        if record["edge_type"] != LOOP_TYPE and not allow_build_mismatch:
            _stop_on_build_evidence(position_evidence(record, genome))
    if built.edges.height == 0:
        counts = built.meta["counts"]
        dropped = ", ".join(f"{k} {v}" for k, v in counts["dropped"].items() if v)
        raise InputError(
            f"no edge survived the filters (read {counts['rows_read']} rows; dropped: "
            f"{dropped or 'none'}): nothing to build; check --fdr / --pvalue, --genome "
            "and --phenotypes"
        )


@click.command(short_help="Build the QTL graph over genome bins from QTL tables.")
@click.argument("qtl_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--genome", required=True, help="hg38, hg19 or a .chrom.sizes/.fai file.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (refused when not empty unless --force).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="auto",
    show_default=True,
    help="Layout of the QTL tables (auto detects it from the first line).",
)
@click.option(
    "--fdr",
    type=float,
    default=0.05,
    show_default=True,
    help="Keep rows with FDR / q-value below this.",
)
@click.option(
    "--pvalue",
    type=float,
    default=None,
    help="Keep rows with p-value below this instead of the FDR threshold.",
)
@click.option(
    "--max-distance",
    type=int,
    default=1_000_000,
    show_default=True,
    help="Largest |target midpoint - SNP| in bp.",
)
@click.option("--bin-size", type=int, default=10_000, show_default=True, help="Bin width in bp.")
@click.option(
    "--loops",
    type=click.Path(path_type=Path),
    default=None,
    help="BEDPE of chromatin loops: extra edges of type 'loop', both directions.",
)
@click.option(
    "--edge-type",
    "edge_types",
    multiple=True,
    help="Edge type per QTL file, in order (e.g. the mark); default the file name.",
)
@click.option(
    "--name",
    default=None,
    help="Name of the graph (e.g. the cell type), used as its column in "
    "'qtlgraph degrees' and to match it in 'qtlgraph train'; default the file name.",
)
@click.option(
    "--phenotypes",
    type=click.Path(path_type=Path),
    default=None,
    help="Phenotype BED or eQTL Catalogue metadata giving target positions.",
)
@click.option(
    "--columns",
    default=None,
    help="Generic layout: KEY=COLUMN,... with keys snp_chrom, snp_pos, target_chrom, "
    "target_start, target_end, target_mid, pvalue, fdr, beta, se, variant_id, "
    "phenotype_id.",
)
@click.option(
    "--target-mode",
    type=click.Choice(["midpoint", "overlap"]),
    default="midpoint",
    show_default=True,
    help="Target bin: the midpoint's bin, or every overlapped bin.",
)
@click.option("--graphml", is_flag=True, help="Also write graph.graphml (networkx).")
@click.option("--force", is_flag=True, help="Replace a non-empty --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--allow-build-mismatch",
    is_flag=True,
    help="Build even when the tables look like another genome build (a warning instead).",
)
def command(
    qtl_files: tuple[Path, ...],
    genome: str,
    out: Path,
    fmt: str,
    fdr: float,
    pvalue: float | None,
    max_distance: int,
    bin_size: int,
    loops: Path | None,
    edge_types: tuple[str, ...],
    name: str | None,
    phenotypes: Path | None,
    columns: str | None,
    target_mode: str,
    graphml: bool,
    force: bool,
    quiet: bool,
    allow_build_mismatch: bool,
) -> None:
    """Build a graph directory from QTL_FILE(s): graph.pt (PyG Data fields), edges.parquet,
    degrees.tsv.gz (connected and binned QTLs per bin), summary.tsv (Tables 1 and 2),
    build.json (inputs, options, rows kept and dropped per reason). Files given the same
    --edge-type are merged into one edge type.
    """
    from qtlgraph.genome import build_tag_evidence, load_genome
    from qtlgraph.graph import build_graph, write_graph_dir
    from qtlgraph.outputs import check_output_dir, check_writable

    check_writable(check_output_dir(out, force))
    import polars as pl

    from qtlgraph.errors import InputError

    _check_distinct(qtl_files, edge_types)
    genome_ = load_genome(genome)
    for path in qtl_files if not allow_build_mismatch else ():
        _stop_on_build_evidence(build_tag_evidence(path, genome_))
    try:
        built = build_graph(
            list(qtl_files),
            genome_,
            fmt=fmt,
            edge_types=list(edge_types) or None,
            fdr=fdr,
            pvalue=pvalue,
            max_distance=max_distance,
            bin_size=bin_size,
            loops=loops,
            phenotypes=phenotypes,
            columns=columns,
            target_mode=target_mode,
            name=name,
            progress=not quiet,
        )
    except pl.exceptions.PolarsError as exc:  # anything the readers did not foresee
        raise InputError(f"cannot read the input: {str(exc).splitlines()[0]}") from None
    _check_built(built, genome_, allow_build_mismatch)  # a refusal is one line, no report
    _report(built.meta)
    write_graph_dir(built, out, graphml=graphml, force=force)
    click.echo(f"wrote {out}: {built.index.n_bins} bins, {built.edges.height} edges", err=True)
