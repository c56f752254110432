"""``qtlgraph embed``: embed every bin of every cell type with a trained local model."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Embed every genome bin per cell type into a memory-mapped cache.")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A 'qtlgraph train-local' run directory.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache directory (refused when not empty unless --resume or --force).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option(
    "--chunk-bins",
    type=click.IntRange(min=1),
    default=4096,
    show_default=True,
    help="Bins per chunk, the unit of --resume.",
)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option(
    "--dtype",
    type=click.Choice(["float16", "float32"]),
    default="float16",
    show_default=True,
    help="Storage type of embeddings.npy.",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="Compute precision; auto: on CUDA, bf16 autocast when it agrees with fp32 on the first "
    "bins; fp32 on the CPU.",
)
@click.option("--resume", is_flag=True, help="Continue a cache, skipping its finished chunks.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out.")
@click.option(
    "--allow-unfinished", is_flag=True, help="Use the last checkpoint of a run that did not finish."
)
def command(
    run_dir: Path,
    out: Path,
    batch_size: int,
    chunk_bins: int,
    device: str,
    dtype: str,
    precision: str,
    resume: bool,
    force: bool,
    allow_unfinished: bool,
) -> None:
    """Write OUT/embeddings.npy, shape (n_cell_types, n_bins, d), and OUT/embed.json
    (cell types, bin size, genome, d, run, done chunks). Chunks are flushed one by one;
    embed.json says "complete": true once every chunk is done.
    """
    from qtlgraph.encoders.embed import embed_genome

    res = embed_genome(
        run_dir,
        out,
        batch_size=batch_size,
        device=device,
        resume=resume,
        force=force,
        dtype=dtype,
        precision=precision,
        chunk_bins=chunk_bins,
        allow_unfinished=allow_unfinished,
    )
    click.echo(
        f"wrote {res.out}: {res.done_chunks}/{res.n_chunks} chunks, precision {res.precision}, "
        f"{res.seconds:.1f} s",
        err=True,
    )
