"""``qtlgraph train``: the GNN or its local baseline on cached bin embeddings."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Dataset manifest (TOML).",
)
@click.option(
    "--graph",
    "graphs",
    required=True,
    multiple=True,
    help="Graph directory per cell type: CELL=DIR, or DIR whose build.json name names the "
    "cell type. Repeat.",
)
@click.option(
    "--embeddings",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="qtlgraph embed output.",
)
@click.option(
    "--model",
    type=click.Choice(["gnn", "local", "local-stats", "distal"]),
    default="gnn",
    show_default=True,
    help="local = the same model with message passing switched off; local-stats = local "
    "given every node-level fact of the graph (degrees, QTL counts, edge attribute summaries); "
    "distal = source bins embedded from their DNA, trained through the target (docs/distal.md).",
)
@click.option(
    "--layer",
    type=click.Choice(["graphconv", "sage", "gatv2", "transformer"]),
    default="graphconv",
    show_default=True,
)
@click.option("--layers", type=int, default=2, show_default=True)
@click.option("--hidden", type=int, default=64, show_default=True)
@click.option("--dropout", type=float, default=0.2, show_default=True)
@click.option(
    "--weight-decay", type=float, default=0.01, show_default=True, help="AdamW weight decay."
)
@click.option(
    "--epochs",
    type=int,
    default=200,
    show_default=True,
    help="Full-graph steps; the weights of the best validation epoch are kept (distal: passes "
    "over the training targets, default 30; --dropout, --lr, --weight-decay default to "
    "0.1, 5e-3, 0.01 there).",
)
@click.option("--lr", type=float, default=5e-3, show_default=True)
@click.option(
    "--aggr",
    type=click.Choice(["mean", "sqrt", "sum"]),
    default="sqrt",
    show_default=True,
    help="graphconv/sage/distal: sum over sources divided by in-degree (mean), its square "
    "root, or 1.",
)
@click.option(
    "--kmer",
    type=int,
    default=None,
    help="Word length of the bin's k-mer counts added to the node features (0: none) "
    "[default: 8; 0 for distal].",
)
@click.option(
    "--kmer-top",
    type=int,
    default=32,
    show_default=True,
    help="Keep the counts of the words most over-represented in the genome (0: all words).",
)
@click.option(
    "--shuffle-edges",
    is_flag=True,
    help="Control: sources permuted within chromosome and edge type (in- and out-degrees kept).",
)
@click.option(
    "--edge-attr",
    type=click.Choice(["all", "none"]),
    default="all",
    show_default=True,
    help="none: edges carry only their existence and type (no QTL counts, p-values, betas, "
    "distances).",
)
@click.option(
    "--holdout-cell-type", default=None, help="Train on the other cell types, score this one."
)
@click.option("--neighbor-edges", is_flag=True, help="Add edges between adjacent bins.")
@click.option(
    "--bootstrap",
    "n_boot",
    type=int,
    default=200,
    show_default=True,
    help="Bootstrap resamples for CIs.",
)
@click.option(
    "--neighbours",
    type=int,
    default=16,
    show_default=True,
    help="distal: linked sources sampled per target and step (all at evaluation).",
)
@click.option(
    "--batch-size", type=int, default=64, show_default=True, help="distal: targets per step."
)
@click.option(
    "--qtl-aux-weight",
    type=float,
    default=1.0,
    show_default=True,
    help="distal: weight of the QTL-effect loss on training-chromosome QTL rows (each "
    "cluster's lead variant; 0: off).",
)
@click.option(
    "--distal-activation",
    type=click.Choice(["relu", "relu2", "softplus"]),
    default=None,
    help="distal: source-encoder activation; relu2 sums squared ReLU outputs [default: relu].",
)
@click.option(
    "--distal-filters",
    type=click.Choice(["standardized", "raw"]),
    default=None,
    help="distal: source-encoder filters standardised against a uniform background (a "
    "threshold in standard deviations) or as learnt [default: standardized].",
)
@click.option(
    "--distal-message",
    type=click.Choice(["mlp", "gated"]),
    default=None,
    help="distal: a source's message from an MLP over its sequence vector, accessibility "
    "and edge statistics, or its sequence vector gated by the rest (needs relu) "
    "[default: gated].",
)
@click.option(
    "--distal-gradient",
    type=click.Choice(["surrogate", "exact"]),
    default=None,
    help="distal: ReLU filters learn through softplus' slope everywhere (surrogate) or "
    "ReLU's own step [default: exact].",
)
@click.option(
    "--distal-init",
    type=click.Choice(["qtl", "qtl-aligned", "random"]),
    default=None,
    help="distal: source-encoder filters start as the one-hot of windows around "
    "training-chromosome QTL SNPs (lead variants), those windows aligned over all strong "
    "SNPs into log-odds matrices (qtl-aligned), or at random [default: qtl].",
)
@click.option(
    "--distal-threshold",
    type=float,
    default=None,
    help="distal: initial threshold of standardised filters, in standard deviations of "
    "their score on uniform random sequence [default: 3].",
)
@click.option(
    "--distal-levels",
    default=None,
    metavar="L1,L2,...",
    help="distal: extra counts per filter of ReLU(score - threshold - L) at these levels "
    "(standard deviations above the threshold), so strong matches count apart from weak "
    "ones; 'none' for no extra counts [default: none].",
)
@click.option(
    "--distal-background",
    type=int,
    default=None,
    metavar="N",
    help="distal: centre every source's pooled filter counts on the mean of N genome-"
    "background bins (training-chromosome bins that are no edge's source), so a source "
    "sends only what sets its DNA apart from background; 0 for none [default: 0].",
)
@click.option(
    "--distal-node-stats/--no-distal-node-stats",
    default=None,
    help="distal: the local part also reads the node-level graph facts that local-stats "
    "reads (in-degree per edge type, QTL counts, edge statistics) [default: no].",
)
@click.option(
    "--distal-background-match",
    type=click.Choice(["mean", "gc"]),
    default=None,
    help="distal, with --distal-background: centre each source on the background bins' "
    "mean, or on those of similar GC content (gc) [default: mean].",
)
@click.option(
    "--distal-filter-loss",
    type=click.Choice(["both", "qtl"]),
    default=None,
    help="distal: the source filters learn from the targets' loss and the QTL-effect term "
    "(both), or from the QTL-effect term only (qtl) [default: both].",
)
@click.option(
    "--local-part",
    type=click.Choice(["frozen", "finetune"]),
    default=None,
    help="distal: the target's own representation from the embedding cache (frozen), or "
    "the trained bin encoder inside the model, fine-tuned by the targets' loss "
    "[default: frozen].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace a non-empty OUT.")
@click.pass_context
def command(
    ctx,
    dataset,
    graphs,
    embeddings,
    model,
    layer,
    layers,
    hidden,
    dropout,
    weight_decay,
    epochs,
    lr,
    aggr,
    kmer,
    kmer_top,
    shuffle_edges,
    edge_attr,
    holdout_cell_type,
    neighbor_edges,
    n_boot,
    neighbours,
    batch_size,
    qtl_aux_weight,
    distal_activation,
    distal_message,
    distal_gradient,
    distal_filters,
    distal_init,
    distal_threshold,
    distal_levels,
    distal_background,
    distal_node_stats,
    distal_filter_loss,
    distal_background_match,
    local_part,
    seed,
    device,
    resume,
    out,
    force,
) -> None:
    """Train a GNN (or the local baseline) over the QTL graphs of all cell types at once.

    Writes OUT/config.json, checkpoint.pt, results.json (metrics per cell type, mark and
    in-degree stratum on the test chromosomes) and bin_predictions.parquet.
    """
    if model == "distal":
        from qtlgraph.gnn.distal_train import DistalOptions, distal_run

        data = {"dataset": dataset, "graphs": list(graphs), "embeddings": embeddings}
        data.update(shuffle_edges=shuffle_edges, holdout_cell_type=holdout_cell_type)
        data.update(kmer=kmer or 0, kmer_top=kmer_top if kmer else 0)
        d_opts = DistalOptions(k=neighbours, batch_size=batch_size, hidden=hidden, seed=seed)
        d_opts = d_opts._replace(edge_attr=edge_attr, qtl_aux_weight=qtl_aux_weight)
        chosen = {  # None: the option was not given, the trainer's default stands
            "activation": distal_activation,
            "message": distal_message,
            "local_part": local_part,
            "standardize": distal_filters and distal_filters == "standardized",
            "surrogate": distal_gradient and distal_gradient == "surrogate",
            "filter_init": distal_init,
            "threshold": distal_threshold,
            "levels": None if distal_levels is None else parse_levels(distal_levels),
            "background": distal_background,
            "node_stats": distal_node_stats,
            "filter_loss": distal_filter_loss,
            "background_match": distal_background_match,
        }
        d_opts = d_opts._replace(**{k: v for k, v in chosen.items() if v is not None})
        if ctx.get_parameter_source("aggr").name != "DEFAULT":
            from qtlgraph.gnn.models import AGGR_POWER

            d_opts = d_opts._replace(aggr_power=AGGR_POWER[aggr])
        for name, value in (("dropout", dropout), ("weight_decay", weight_decay), ("lr", lr)):
            if ctx.get_parameter_source(name).name != "DEFAULT":
                d_opts = d_opts._replace(**{name: value})
        if ctx.get_parameter_source("epochs").name != "DEFAULT":
            d_opts = d_opts._replace(epochs=epochs)
        results = distal_run(
            data, d_opts, out, device=device, resume=resume, force=force, n_boot=n_boot
        )
        _print_metrics(results, out)
        return
    from qtlgraph.gnn.train import TrainOptions, train_run

    kmer = 8 if kmer is None else kmer
    opts = TrainOptions(
        model=model,
        layer=layer,
        layers=layers,
        hidden=hidden,
        dropout=dropout,
        weight_decay=weight_decay,
        epochs=epochs,
        lr=lr,
        seed=seed,
        aggr=aggr,
    )
    results = train_run(
        dataset,
        list(graphs),
        embeddings,
        opts,
        out,
        neighbor=neighbor_edges,
        shuffle=shuffle_edges,
        holdout_cell_type=holdout_cell_type,
        device=device,
        resume=resume,
        force=force,
        n_boot=n_boot,
        kmer=kmer,
        kmer_top=kmer_top,
        edge_attr=edge_attr,
    )
    _print_metrics(results, out)


def _print_metrics(results: dict, out) -> None:
    for row in results["metrics"]:
        if row["stratum"] in ("all", "linked"):
            click.echo(
                f"{row['cell_type']}\t{row['mark']}\t{row['stratum']}\tn={row['n']}\t"
                f"pearson={row['pearson']:.3f}\tmse={row['mse']:.3f}"
            )
    click.echo(f"wrote {out}")


def parse_levels(text: str) -> tuple[float, ...]:
    """``--distal-levels``: ``none`` or comma-separated positive numbers."""
    from qtlgraph.errors import InputError

    if text.strip().lower() == "none":
        return ()
    try:
        levels = tuple(float(v) for v in text.split(","))
    except ValueError:
        levels = ()
    if not levels or min(levels) <= 0 or len(set(levels)) < len(levels):
        raise InputError(
            f"--distal-levels {text}: expected 'none' or distinct numbers > 0, e.g. 1,2"
        )
    return tuple(sorted(levels))
