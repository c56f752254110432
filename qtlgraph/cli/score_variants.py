"""``qtlgraph score-variants``: predicted histone changes of variants through a trained GNN."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(
    short_help="Score variants with a GNN run (own bin, linked targets, edge attribution)."
)
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A qtlgraph train run (config.json + checkpoint.pt).",
)
@click.option(
    "--variants",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="VCF, or TSV with chrom, pos (1-based), ref, alt[, id].",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output TSV (effects; with --evaluate-qtl: metrics).",
)
@click.option(
    "--edges-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Edge attribution TSV [default: OUT with .edges.tsv].",
)
@click.option("--no-attribution", is_flag=True, help="Skip the edge ablations.")
@click.option(
    "--max-edges",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Ablated links per variant at most.",
)
@click.option(
    "--evaluate-qtl",
    is_flag=True,
    help="Score the dataset's QTL variants (FDR < --fdr) on the --part chromosomes; compare "
    "with betas (and simulated truth); writes metrics to OUT and rows to OUT.rows.tsv.",
)
@click.option("--fdr", type=float, default=0.05, show_default=True)
@click.option(
    "--part", type=click.Choice(["test", "valid", "train"]), default="test", show_default=True
)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--force", is_flag=True, help="Replace existing output files.")
@click.option(
    "--allow-unfinished", is_flag=True, help="Use the last checkpoint of a run that did not finish."
)
def command(
    run_dir,
    variants,
    out,
    edges_out,
    no_attribution,
    max_edges,
    evaluate_qtl,
    fdr,
    part,
    batch_size,
    device,
    force,
    allow_unfinished,
) -> None:
    """Re-embed each variant's bin with the alternative allele (per cell type), propagate it
    through the GNN and write the predicted change per mark at the variant's bin and at every
    bin downstream of it within the model's hops (distance, hops, edge path), plus which
    links carried it (ablation; docs/variant-scoring.md).
    """
    from qtlgraph import runs
    from qtlgraph.errors import InputError
    from qtlgraph.outputs import atomic_path, check_writable

    edges_out = edges_out or out.with_suffix(".edges.tsv")
    rows_out = out.with_suffix(".rows.tsv")
    extra = [rows_out] if evaluate_qtl else ([] if no_attribution else [edges_out])
    for p in [out, *extra]:
        if p.exists() and not force:
            raise InputError(f"{p}: exists (use --force to replace it)")
        check_writable(p)
    runs.check_run(run_dir, allow_unfinished)
    if evaluate_qtl:
        from qtlgraph.gnn.score_eval import evaluate_run

        metrics, rows = evaluate_run(
            run_dir, part=part, fdr=fdr, device=device, batch_size=batch_size
        )
        with atomic_path(out) as tmp, atomic_path(rows_out) as tmp_rows:
            metrics.to_csv(tmp, sep="\t", index=False)
            rows.to_csv(tmp_rows, sep="\t", index=False)
        click.echo(metrics.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return
    if variants is None:
        raise InputError("--variants is required unless --evaluate-qtl")
    from qtlgraph.gnn.score_run import score_variants
    from qtlgraph.variants import read_variants

    res = score_variants(
        run_dir,
        read_variants(variants),
        batch_size=batch_size,
        device=device,
        attribute=not no_attribution,
        max_edges=max_edges,
    )
    with atomic_path(out) as tmp:
        res.effects.to_csv(tmp, sep="\t", index=False)
    if not no_attribution:
        with atomic_path(edges_out) as tmp:
            res.edges.to_csv(tmp, sep="\t", index=False)
    n_var = res.effects["variant_id"].nunique() if len(res.effects) else 0
    click.echo(f"wrote {out}: {n_var} variants, {len(res.effects)} rows", err=True)
