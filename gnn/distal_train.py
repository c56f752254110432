"""Training the distal model end to end on sampled subgraphs, through the shared loop.

Each step takes a mini-batch of target nodes with up to K of their in-neighbours
(:mod:`qtlgraph.gnn.sampler`, redrawn every epoch), encodes every distinct source bin of
the batch once from its sequence and fits the targets' masked MSE; validation and
prediction use every in-neighbour. Epochs, checkpoints, ``--resume``, bf16 autocast on
CUDA, DDP and the best-validation-epoch weights come from
:func:`qtlgraph.gnn.train.fit_best` (:func:`qtlgraph.encoders.train.fit` one epoch at a
time). The run directory has the files of a graph run (docs/architecture.md, "Runs").

Under torchrun the ranks train what one process trains (``tests/qtlgraph/test_torchrun.py``,
without dropout, whose masks are drawn per rank): the order of the targets and their
sampled neighbours depend on the seed and the epoch only, each rank takes its share of
every global batch of ``--batch-size`` targets, its loss is weighted by its share of the
batch's finite targets, and every rank computes the whole QTL-effect term
(:class:`qtlgraph.gnn.distal_aux.WithQtlAux`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from qtlgraph.errors import InputError

MODEL = "distal"


class DistalOptions(NamedTuple):
    """Model and optimisation settings of a distal run (``config.json`` ``options``)."""

    k: int = 16  # sources per target and step
    # Target nodes per step: 512 left a few thousand training targets about 5 optimiser steps
    # an epoch; 64 gives 8 times more (demo, seed 1: linked-bin Pearson 0.61-0.63 -> 0.77-0.86).
    batch_size: int = 64
    hidden: int = 64
    dropout: float = 0.1
    epochs: int = 30
    lr: float = 5e-3
    weight_decay: float = 0.01
    seed: int = 0
    aggr_power: float = 0.5  # mean over sources times in-degree ** aggr_power
    channels: int = 12
    kernel: int = 12
    stride: int = 1
    enc_dim: int = 32
    # relu | softplus (source encoder), on raw or standardised filters, the message form
    # (gnn.distal.DistalRegressor) and the gradient of ReLU filters: the trials and why
    # these are the defaults are in docs/distal.md, "Source-encoder filters" and "Gated
    # messages".
    activation: str = "relu"
    standardize: bool = True
    message: str = "gated"  # gated | mlp
    surrogate: bool = False  # ReLU filters learn through softplus' slope (SourceEncoder)
    edge_attr: str = "all"  # all | none
    local_part: str = "frozen"  # frozen (the embedding cache) | finetune (gnn.distal_local)
    qtl_aux_weight: float = 1.0
    # the source encoder's filters: a random start, or windows around training-chromosome
    # QTL SNPs, one each (qtl) or aligned over all strong ones (qtl-aligned,
    # gnn.distal_init); the initial threshold of standardised filters in standard
    # deviations (docs/distal.md, "Filters started at QTL SNPs", "Aligned start")
    filter_init: str = "qtl"
    threshold: float = 3.0
    # hinge levels above the threshold, in standard deviations (SourceEncoder ``levels``):
    # strong matches counted apart from weak ones (docs/distal.md, "Hinge levels")
    levels: tuple[float, ...] = ()
    # genome-background bins whose mean source features are subtracted (SourceEncoder
    # ``background``; docs/distal.md, "Background-centred sources"); 0: none
    background: int = 0
    background_match: str = "mean"  # mean | gc (SourceEncoder ``match``)
    # the local part also reads the node-level graph facts of ``local-stats`` (in-degree per
    # edge type, QTL counts, aggregated edge statistics; docs/distal.md, "Background-
    # centred sources"), so messages are what the model adds to them
    node_stats: bool = False
    # what trains the source filters: both losses, or the QTL-effect term only (qtl)
    filter_loss: str = "both"


FILTER_INITS = ("random", "qtl", "qtl-aligned")


def check_options(opts: DistalOptions) -> None:
    """InputError naming the first option out of range."""
    from qtlgraph.gnn.distal_data import EDGE_ATTR_MODES

    if opts.filter_loss not in ("both", "qtl"):
        raise InputError(f"--distal-filter-loss {opts.filter_loss}: expected both or qtl")
    if opts.background_match not in ("mean", "gc"):
        raise InputError(f"--distal-background-match {opts.background_match}: expected mean or gc")
    if opts.background < 0:
        raise InputError(f"--distal-background {opts.background}: expected >= 0")
    for name in ("batch_size", "hidden", "epochs", "channels", "kernel", "stride", "enc_dim"):
        if getattr(opts, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} {getattr(opts, name)}: expected >= 1")
    if opts.k < 0:
        raise InputError(f"--neighbours {opts.k}: expected a non-negative integer")
    if not opts.lr > 0 or opts.weight_decay < 0 or not 0.0 <= opts.dropout < 1.0:
        raise InputError(
            f"--lr {opts.lr} / --weight-decay {opts.weight_decay} / --dropout {opts.dropout}: "
            "expected lr > 0, weight decay >= 0, dropout in [0, 1)"
        )
    if opts.edge_attr not in EDGE_ATTR_MODES:
        raise InputError(f"--edge-attr {opts.edge_attr}: expected one of {EDGE_ATTR_MODES}")
    from qtlgraph.gnn.distal import RELU_LIKE

    if opts.message == "gated" and opts.activation not in RELU_LIKE:
        raise InputError(
            f"--distal-message gated with --distal-activation {opts.activation}: expected relu "
            "or relu2 "
            "(softplus is never zero, so a source with no match would still send a message)"
        )
    from qtlgraph.gnn.distal_local import LOCAL_PARTS

    if opts.local_part not in LOCAL_PARTS:
        raise InputError(f"--local-part {opts.local_part}: expected one of {LOCAL_PARTS}")
    if opts.qtl_aux_weight < 0:
        raise InputError(f"--qtl-aux-weight {opts.qtl_aux_weight}: expected >= 0")
    if opts.filter_init not in FILTER_INITS:
        raise InputError(f"--distal-init {opts.filter_init}: expected one of {FILTER_INITS}")
    if not 0.0 <= opts.threshold < 12.0:
        raise InputError(f"--distal-threshold {opts.threshold}: expected in [0, 12)")
    if opts.activation == "relu2" and (opts.levels or opts.surrogate):
        raise InputError(
            "--distal-activation relu2: expected no --distal-levels and no --distal-gradient "
            "surrogate"
        )
    if opts.levels and (opts.activation != "relu" or opts.surrogate or min(opts.levels) <= 0):
        raise InputError(
            f"--distal-levels {','.join(map(str, opts.levels))}: expected levels > 0 on ReLU "
            "filters with the exact gradient"
        )


def model_config(data, opts: DistalOptions, encoder=None, length: int = 0) -> dict[str, Any]:
    """The ``model_config`` section (input to :func:`qtlgraph.gnn.distal.build_distal`).

    The accessibility summary is the last node-feature column (see
    :func:`qtlgraph.gnn.data.build_data`); ``encoder`` is the fine-tuned local part's
    bin encoder (``local_encoder``: its config), or None; ``length`` the bins' length in bp
    (needed with ``opts.background``).
    """
    return {
        "local_encoder": None if encoder is None else encoder.config.to_dict(),
        "in_dim": int(data.x.shape[1]),
        "out_dim": int(data.y.shape[1]),
        # the accessibility summary: last column before the node statistics, if any
        "acc_col": int(data.x.shape[1]) - 1 - len(getattr(data, "node_stat_names", [])),
        "edge_dim": int(data.edge_attr.shape[1]),
        "hidden": opts.hidden,
        "dropout": opts.dropout,
        "aggr_power": opts.aggr_power,
        "channels": opts.channels,
        "kernel": opts.kernel,
        "stride": opts.stride,
        "enc_dim": opts.enc_dim,
        "activation": opts.activation,
        "standardize": opts.standardize,
        "message": opts.message,
        "surrogate": opts.surrogate,
        "threshold": opts.threshold,
        "levels": list(opts.levels),
        "background": opts.background,
        "length": int(length) if opts.background else 0,
        "filter_loss": opts.filter_loss,
        "background_match": opts.background_match,
    }


def load_distal_data(data_opts: dict, seed: int):
    """The graph and the source-sequence reader of a run's ``config.json`` ``data`` section.

    Returns:
        ``(GraphInputs, BinSequences)`` (:func:`qtlgraph.gnn.data.load_graph_data`).
    """
    from qtlgraph.genome import BinIndex
    from qtlgraph.gnn.data import load_graph_data
    from qtlgraph.gnn.distal_data import BinSequences, prepare_data
    from qtlgraph.manifest import load_dataset
    from qtlgraph.sequence import open_sequence

    inputs = load_graph_data(
        data_opts["dataset"],
        data_opts["graphs"],
        data_opts["embeddings"],
        shuffle=data_opts.get("shuffle_edges", False),
        seed=seed,
        holdout_cell_type=data_opts.get("holdout_cell_type"),
        kmer=data_opts.get("kmer", 0),
        kmer_top=data_opts.get("kmer_top", 0),
        scale=True,
        edge_attr=data_opts.get("edge_attr", "all"),
        node_stats=bool(data_opts.get("node_stats", False)),
    )
    prepare_data(inputs.data)
    ds = load_dataset(data_opts["dataset"])
    index = BinIndex(ds.genome, inputs.bin_size)
    return inputs, BinSequences(open_sequence(ds), index)


def new_model(data, opts: DistalOptions, encoder=None, sequences=None):
    """A freshly initialised model for ``data``, seeded with ``opts.seed``; with
    ``encoder`` (a trained bin encoder) its local part fine-tunes it; with
    ``opts.background``, its background bins are read from ``sequences``
    (:func:`background_bins`).
    """
    from qtlgraph.gnn.distal import build_distal
    from qtlgraph.runtime import seed_everything

    seed_everything(opts.seed)
    length = sequences.index.bin_size if sequences is not None else 0
    model = build_distal(model_config(data, opts, length=length))
    if opts.background:
        import torch

        bins = background_bins(data, sequences, opts.background, opts.seed)
        model.encoder.set_background(torch.from_numpy(sequences.codes(bins)))
    if encoder is not None:
        d = encoder.config.dim
        model.set_local_encoder(encoder, data.x_mean[:d], data.x_scale[:d])
    return model


def background_bins(data, sequences, n: int, seed: int, max_n: float = 0.01) -> np.ndarray:
    """``n`` bins of genome background: training-chromosome bins that are the source of
    no edge, at most ``max_n`` of their bases N, drawn at random with ``seed``.

    Sources of an edge-shuffled graph are themselves random bins, so its control is
    centred on the same kind of bins as the model. InputError where fewer than ``n``
    qualify.
    """
    rng = np.random.default_rng(int(seed) + 7919)
    train = data.train_mask.numpy() if "train_mask" in data else np.ones(data.num_nodes, bool)
    bins = data.bin.numpy()
    sources = np.unique(bins[data.edge_index[0].numpy()])
    pool = np.setdiff1d(np.unique(bins[train]), sources)
    order, chosen = rng.permutation(pool), []
    for start in range(0, len(order), 4 * n):  # read a few more than needed at a time
        draw = order[start : start + 4 * n]
        ok = draw[(sequences.codes(draw) == 4).mean(axis=1) <= max_n]
        chosen.extend(ok[: n - len(chosen)].tolist())
        if len(chosen) >= n:
            return np.sort(np.asarray(chosen, np.int64))
    raise InputError(
        f"--distal-background {n}: only {len(chosen)} training-chromosome bins that are no "
        f"edge's source have at most {max_n:.0%} N"
    )


def local_part(inputs, sequences, opts: DistalOptions, data_opts: dict):
    """``(encoder, LocalInputs)`` of a fine-tuned local part, or ``(None, None)``."""
    if opts.local_part != "finetune":
        return None, None
    from qtlgraph.gnn.distal_local import embeddings_encoder, open_local_inputs

    encoder = embeddings_encoder(data_opts["embeddings"])
    return encoder, open_local_inputs(data_opts["dataset"], encoder, sequences, inputs)


def loaders(data, sequences, opts: DistalOptions, ctx=None, local=None) -> tuple:
    """Training batches (the labelled training nodes, K sampled; under torchrun this rank's
    share of every global batch of ``opts.batch_size``) and validation batches (every
    in-neighbour, all of them: rank 0 validates alone), or None without validation nodes.
    """
    from qtlgraph.gnn.distal_data import DistalBatches, labelled_nodes

    common = dict(batch_size=opts.batch_size, seed=opts.seed, local=local)
    train = labelled_nodes(data, "train")
    loader = DistalBatches(
        data, train, sequences, k=opts.k, shuffle=True, part="train", ctx=ctx, **common
    )
    valid_nodes = labelled_nodes(data, "valid") if "valid_mask" in data else None
    valid = None
    if valid_nodes is not None and len(valid_nodes):
        valid = DistalBatches(
            data, valid_nodes, sequences, k=None, shuffle=False, part="valid", **common
        )
    return loader, valid


def train_distal(
    model,
    inputs,
    sequences,
    opts: DistalOptions,
    *,
    data_opts: dict,
    run_dir,
    device,
    resume: bool = False,
    extra: dict | None = None,
    local=None,
) -> list[dict]:
    """Fit ``model`` on the labelled training nodes; keep the best validation epoch.

    Args:
        model: a :class:`qtlgraph.gnn.distal.DistalRegressor`.
        inputs: the run's ``GraphInputs`` (:func:`load_distal_data`).
        sequences: the run's source-sequence reader.
        opts: model and optimisation settings.
        data_opts: the run's ``config.json`` ``data`` section (QTL rows for the auxiliary
            loss are read from its dataset).
        run_dir: where ``checkpoint.pt`` is written every epoch.
        device: a ``torch.device`` or its name.
        resume: continue from ``run_dir/checkpoint.pt``.
        extra: more checkpoint entries (e.g. ``config``).
        local: the fine-tuned local part's inputs (:mod:`qtlgraph.gnn.distal_local`).

    Returns:
        the per-epoch history of :func:`qtlgraph.encoders.train.fit`.
    """
    import torch

    from qtlgraph.distributed import init_distributed
    from qtlgraph.encoders.losses import MaskedLoss
    from qtlgraph.gnn.distal_aux import linked_rows, training_rows, with_qtl_aux
    from qtlgraph.gnn.distal_init import init_filters
    from qtlgraph.gnn.distal_local import FINETUNE_LR_SCALE
    from qtlgraph.gnn.train import fit_best

    ctx = init_distributed(device)
    data = inputs.data
    # the QTL rows, read once: every qualifying row for the filters' start, those whose
    # edge the graph keeps for the QTL-effect term
    rows = None
    if opts.filter_init != "random" or opts.qtl_aux_weight:
        rows = training_rows(data_opts, inputs, sequences, edges=False)
    if opts.filter_init != "random":  # own generator; a resumed run then loads its weights
        align = opts.filter_init == "qtl-aligned"
        if not init_filters(model.encoder, rows, sequences, opts.seed, align):
            print(
                f"note: no training QTL row for --distal-init {opts.filter_init}; filters "
                "start at random",
                file=sys.stderr,
            )
    loader, valid = loaders(data, sequences, opts, ctx, local)
    enc = model.local_encoder
    tuned = set() if enc is None else {id(p) for p in enc.parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in tuned]}]
    if enc is not None:
        params = [p for p in enc.parameters() if p.requires_grad]
        groups.append({"params": params, "lr": opts.lr * FINETUNE_LR_SCALE})
    optimizer = torch.optim.AdamW(groups, lr=opts.lr, weight_decay=opts.weight_decay)
    loss = with_qtl_aux(
        MaskedLoss("mse"), model, data, sequences, opts, linked_rows(rows, data), ctx
    )
    return fit_best(
        model,
        loader,
        optimizer,
        loss,
        epochs=opts.epochs,
        run_dir=run_dir,
        device=ctx.device,
        resume=resume,
        valid_loader=valid,
        seed=opts.seed,
        extra_state=extra,
    )


def predict_distal(model, data, sequences, nodes, device="cpu", batch_size: int = 512):
    """Outputs of ``nodes`` with every in-neighbour; NaN rows for the other nodes, on the CPU.

    Shapes: nodes ``(n,)`` -> ``(num_nodes, n_marks)``.
    """
    import torch

    from qtlgraph.gnn.distal_data import DistalBatches

    batches = DistalBatches(
        data, nodes, sequences, k=None, batch_size=batch_size, shuffle=False, part=None
    )
    out = torch.full((int(data.num_nodes), data.y.shape[1]), float("nan"))
    model = model.to(device).eval()
    done = 0
    with torch.no_grad():
        for inputs, _ in batches:
            pred = model(*(t.to(device) for t in inputs)).float().cpu()
            seeds = nodes[done : done + len(pred)]
            n_seed = min(batch_size, len(nodes) - done)
            out[seeds[:n_seed]] = pred[:n_seed]
            done += n_seed
    return out


def distal_run(
    data_opts: dict,
    opts: DistalOptions,
    out: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    force: bool = False,
    n_boot: int = 200,
) -> dict:
    """``qtlgraph train --model distal``: load, train, predict the test bins, score, write.

    The run directory goes through :mod:`qtlgraph.runs` (resume rule, ``run.json``
    finished marker, input fingerprints) like every graph run.

    Args:
        data_opts: ``dataset``, ``graphs``, ``embeddings`` (paths) and optionally
            ``shuffle_edges``, ``holdout_cell_type``, ``kmer``, ``kmer_top``.
        opts: model and optimisation settings.
        out: the run directory (``config.json``, ``checkpoint.pt``, ``results.json``,
            ``bin_predictions.parquet``).
        device: ``cpu``, ``cuda`` or ``auto``.
        resume: continue from ``out/checkpoint.pt``.
        force: replace a non-empty ``out``.
        n_boot: bootstrap resamples of the metrics' intervals.

    Returns:
        the ``results.json`` dict.
    """
    from qtlgraph import runs
    from qtlgraph.distributed import barrier, init_distributed
    from qtlgraph.gnn.train import run_config
    from qtlgraph.runtime import select_device

    check_options(opts)
    dev = select_device(device)
    out = runs.check_out(out, resume=resume, force=force)
    data_opts = {
        "shuffle_edges": False,
        "holdout_cell_type": None,
        "kmer": 0,
        "kmer_top": 0,
        **data_opts,
        "dataset": str(Path(data_opts["dataset"]).absolute()),
        "embeddings": str(Path(data_opts["embeddings"]).absolute()),
        "graphs": list(data_opts["graphs"]),
        "edge_attr": opts.edge_attr,
        "node_stats": opts.node_stats,
    }
    fingerprint = runs.graph_inputs_fingerprint(
        data_opts["dataset"], data_opts["graphs"], data_opts["embeddings"]
    )
    inputs, sequences = load_distal_data(data_opts, opts.seed)
    encoder, local = local_part(inputs, sequences, opts, data_opts)
    ctx = init_distributed(dev)
    m_config = model_config(inputs.data, opts, encoder, sequences.index.bin_size)
    config = run_config(out, MODEL, opts, m_config, data_opts, inputs)
    config["fingerprint"] = fingerprint
    runs.prepare(out, config, resume=resume, force=force, epochs=opts.epochs)
    barrier(ctx)  # every rank has checked OUT before rank 0 writes in it
    with runs.started(out, config, kind="distal", fresh=not resume):
        barrier(ctx)
        model = new_model(inputs.data, opts, encoder, sequences)
        history = train_distal(
            model,
            inputs,
            sequences,
            opts,
            data_opts=data_opts,
            run_dir=out,
            device=dev,
            resume=resume,
            extra={"config": config},
            local=local,
        )
        if not ctx.is_main:  # rank 0 alone predicts, scores and writes
            return {"run": out.name, "model": MODEL, "metrics": [], "history": history}
        if local is not None:  # predictions read the fine-tuned encoder's embeddings
            from qtlgraph.gnn.distal_local import refresh_embeddings

            refresh_embeddings(model, inputs.data, local)
        return _score(model, inputs, sequences, opts, config, out, dev, history, n_boot)


def _score(model, inputs, sequences, opts, config, out: Path, dev, history, n_boot) -> dict:
    """Predict the test bins with every in-neighbour, score them and finish the run."""
    import torch

    from qtlgraph import runs
    from qtlgraph.gnn.evaluate import metrics_table, prediction_frame
    from qtlgraph.gnn.train import best_epoch
    from qtlgraph.outputs import atomic_path

    data = inputs.data
    test = torch.from_numpy(np.flatnonzero(data.test_mask.numpy()))
    pred = predict_distal(model, data, sequences, test, dev, opts.batch_size)
    frame = prediction_frame(data, pred, inputs.cell_types, inputs.marks, "test")
    with atomic_path(out / "bin_predictions.parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    results = {
        "run": out.name,
        "model": MODEL,
        "target": config["target"],
        "metrics": metrics_table(frame, n_boot=n_boot, seed=opts.seed),
        "history": history,
        "best_epoch": best_epoch(history),
    }
    runs.finish(out, results)
    return results
