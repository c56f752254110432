"""``qtlgraph check-dataset``: validate a dataset manifest and print what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the manifest pulls in numpy and pandas: keep 'qtlgraph --help' fast
    from qtlgraph.manifest import Dataset


def _size(n: int) -> str:
    """Bytes as ``812 B``, ``4.2 KB``, ``1.3 MB`` or ``2.0 GB``."""
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "KB"
    for bigger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def _names(chroms: tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(chroms[:limit])
    return (shown + f", ... ({len(chroms)} in all)") if len(chroms) > limit else shown or "(none)"


def dataset_summary(ds: Dataset, bin_size: int = 10_000) -> str:
    """A short text summary of a loaded dataset: genome, bins, cell types, QTL files, split.

    Args:
        ds: a dataset from :func:`qtlgraph.manifest.load_dataset`.
        bin_size: bin width used to count bins.
    """
    from qtlgraph.genome import BinIndex

    g = ds.genome
    source = (
        f"fasta {ds.fasta}" if ds.fasta is not None else f"one-hot bigWigs {ds.onehot['A'].parent}"
    )
    lines = [
        f"dataset {ds.name} ({ds.root})",
        f"genome {g.name}: {len(g.chroms)} chromosomes, {g.total_length:,} bp ({source})",
        f"  chromosomes: {_names(g.chroms)}",
        f"  bins at {bin_size:,} bp: {BinIndex(g, bin_size).n_bins:,}",
        f"cell types ({len(ds.cell_types)}), marks: {', '.join(ds.marks)}",
    ]
    for cell in ds.cell_types:
        lines.append(f"  {cell.name}: assay {cell.assay}, marks {', '.join(cell.marks)}")
        for mark, path in cell.qtl.items():
            lines.append(
                f"    qtl {mark}: {path.name} ({_size(path.stat().st_size)}, "
                f"format {cell.qtl_format})"
            )
    split = ds.split
    lines += [
        "split:",
        f"  test: {_names(split.chroms(g, 'test'))}",
        f"  valid: {_names(split.chroms(g, 'valid'))}",
        f"  train: {_names(split.chroms(g, 'train'))}",
    ]
    if split.held_out_cell_type is not None:
        lines.append(f"  held-out cell type: {split.held_out_cell_type}")
    if ds.truth_dir is not None:
        lines.append(f"truth: {ds.truth_dir}")
    return "\n".join(lines)


@click.command(short_help="Validate a dataset manifest and print a summary.")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--bin-size",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Bin width (bp) used to count bins.",
)
@click.option(
    "--missing",
    type=click.Choice(["error", "nan"]),
    default="error",
    show_default=True,
    help="'nan': bigWigs may lack genome chromosomes (read later as all-NaN).",
)
def command(manifest: Path, bin_size: int, missing: str) -> None:
    """Load MANIFEST (a dataset TOML) with full validation: every file exists, bigWigs and
    the FASTA agree with the genome on chromosome lengths, split chromosomes are in the
    genome. Prints a summary; on bad input lists every problem and exits with code 2.
    """
    from qtlgraph.manifest import load_dataset

    click.echo(dataset_summary(load_dataset(manifest, missing=missing), bin_size))
