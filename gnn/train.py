"""Full-graph training of the GNN and the local baseline through the shared loop.

The whole graph is one batch: a "loader" is a one-element list ``[((x, edge_index,
edge_attr), target)]`` whose target is NaN outside the split's mask, so the masked
loss of :mod:`qtlgraph.encoders.losses` never sees a held-out bin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from qtlgraph import runs
from qtlgraph.errors import InputError
from qtlgraph.tracks import TARGET


class TrainOptions(NamedTuple):
    """Model and optimisation settings (everything ``config.json`` needs besides data)."""

    model: str = "gnn"  # gnn | local | local-stats
    layer: str = "graphconv"  # graphconv | sage | gatv2 | transformer
    layers: int = 2
    hidden: int = 64
    dropout: float = 0.2
    epochs: int = 200
    lr: float = 5e-3
    weight_decay: float = 0.01
    seed: int = 0
    aggr: str = "sqrt"  # mean | sqrt | sum (adjacency layers)


#: ``local-stats``: the local model given every node-level fact of the graph
#: (:func:`qtlgraph.gnn.data.node_stats`) as extra node features
MODELS = ("gnn", "local", "local-stats")


def check_options(opts: TrainOptions) -> None:
    from qtlgraph.gnn.models import AGGRS, LAYERS

    if opts.model not in MODELS:
        raise InputError(f"--model {opts.model}: expected one of {', '.join(MODELS)}")
    if opts.layer not in LAYERS:
        raise InputError(f"--layer {opts.layer}: expected one of {', '.join(LAYERS)}")
    for name in ("layers", "hidden", "epochs"):
        if getattr(opts, name) < 1:
            raise InputError(f"--{name} {getattr(opts, name)}: expected a positive integer")
    if not opts.lr > 0:
        raise InputError(f"--lr {opts.lr}: expected a positive number")
    if not 0.0 <= opts.dropout < 1.0 or opts.weight_decay < 0:
        raise InputError(
            f"--dropout {opts.dropout} / --weight-decay {opts.weight_decay}: expected "
            "a dropout in [0, 1) and a non-negative weight decay"
        )
    if opts.aggr not in AGGRS:
        raise InputError(f"--aggr {opts.aggr}: expected one of {', '.join(AGGRS)}")


def model_config(data, opts: TrainOptions) -> dict[str, Any]:
    """The ``model`` section of ``config.json`` (for :func:`qtlgraph.gnn.models.build_model`)."""
    return {
        "in_dim": int(data.x.shape[1]),
        "out_dim": int(data.y.shape[1]),
        "hidden": opts.hidden,
        "layers": opts.layers,
        "layer": opts.layer,
        "edge_dim": int(data.edge_attr.shape[1]),
        "dropout": opts.dropout,
        "message_passing": opts.model == "gnn",
        "aggr": opts.aggr,
    }


def model_name(opts: TrainOptions) -> str:
    """``results.json`` model label: ``gnn:<layer>``, ``local`` or ``local-stats``."""
    return f"gnn:{opts.layer}" if opts.model == "gnn" else opts.model


def new_model(data, opts: TrainOptions):
    """A freshly initialised model for ``data``, seeded with ``opts.seed``."""
    from qtlgraph.gnn.models import build_model
    from qtlgraph.runtime import seed_everything

    seed_everything(opts.seed)
    return build_model(model_config(data, opts))


def model_inputs(model, data) -> tuple:
    """``(x, graph, edge_attr)`` as ``model`` reads them, the graph prepared once.

    For the adjacency layers (``graphconv``, ``sage``) ``graph`` is the sparse adjacency
    of ``data.edge_index`` (:func:`qtlgraph.gnn.models.mean_adjacency`, with the model's ``aggr``),
    built here from the ``Data`` in hand, never cached across graphs; for the attention
    layers it is ``data.edge_index``.

    Shapes: x ``(N, F)``, graph ``(2, E)`` or sparse ``(N, N)``, edge_attr ``(E, F_e)``.
    """
    from qtlgraph.gnn.models import mean_adjacency, uses_adjacency

    graph = data.edge_index
    if model.message_passing and uses_adjacency(model.layer):
        graph = mean_adjacency(graph, int(data.num_nodes), model.aggr)
    return data.x, graph, data.edge_attr


def graph_loader(data, part: str, inputs: tuple | None = None) -> list:
    """The full graph as a one-batch loader whose target is NaN outside ``<part>_mask``.

    ``inputs`` (from :func:`model_inputs`) defaults to ``(x, edge_index, edge_attr)``.

    Shapes: target ``(num_nodes, n_marks)``.
    """
    import torch

    mask = data[f"{part}_mask"]
    target = torch.where(mask[:, None], data.y, torch.full_like(data.y, float("nan")))
    if inputs is None:
        inputs = (data.x, data.edge_index, data.edge_attr)
    return [(tuple(inputs), target)]


def best_epoch(history: list[dict]) -> int | None:
    """The epoch with the lowest validation loss (the first on ties); None without one."""
    rows = [h for h in history if np.isfinite(h.get("valid_loss", np.nan))]
    return min(rows, key=lambda h: h["valid_loss"])["epoch"] if rows else None


def _update_best(best: dict | None, history: list[dict], state: dict) -> dict | None:
    """``best`` replaced by the last epoch of ``history`` (weights ``state``) if better."""
    row = history[-1] if history else {}
    loss = row.get("valid_loss", np.nan)
    if not np.isfinite(loss) or (best is not None and loss >= best["valid_loss"]):
        return best
    state = {k: v.detach().cpu().clone() for k, v in state.items()}
    return {"epoch": int(row["epoch"]), "valid_loss": float(loss), "model": state}


def fit_best(
    model,
    loader,
    optimizer,
    loss_fn,
    *,
    epochs: int,
    run_dir: str | Path,
    device,
    resume: bool,
    valid_loader,
    seed: int,
    extra_state: dict | None,
) -> list[dict]:
    """:func:`qtlgraph.encoders.train.fit` one epoch at a time, keeping the best validation epoch.

    The weights of the epoch with the lowest validation loss travel in the checkpoint
    under ``best`` (``epoch``, ``valid_loss``, ``model``), so ``resume`` keeps them; at the
    end ``model`` holds them (the last epoch's weights when there is no validation set).
    Every run gets the same number of epochs: the budget is fixed, the choice is made on
    the validation chromosomes only.
    """
    from qtlgraph.encoders.train import CHECKPOINT, fit
    from qtlgraph.runtime import is_rank_zero, load_checkpoint, save_checkpoint

    path = Path(run_dir) / CHECKPOINT
    start, best, history = 0, None, []
    if resume and path.is_file():
        ckpt = load_checkpoint(path)
        start, best, history = int(ckpt["epoch"]), ckpt.get("best"), list(ckpt.get("history", []))
        best = _update_best(best, history, ckpt["model"])  # its last epoch was not compared yet
    common = dict(run_dir=run_dir, device=device, valid_loader=valid_loader, seed=seed)
    for epoch in range(start + 1, epochs + 1):
        history = fit(
            model,
            loader,
            optimizer,
            loss_fn,
            epochs=epoch,
            resume=resume or epoch > 1,
            extra_state={**(extra_state or {}), "best": best},
            **common,
        )
        best = _update_best(best, history, model.state_dict())
    if start >= epochs > 0 and path.is_file():  # already finished: restore its state
        history = fit(
            model,
            loader,
            optimizer,
            loss_fn,
            epochs=start,
            resume=True,
            extra_state=extra_state,
            **common,
        )
    if is_rank_zero() and path.is_file():
        ckpt = load_checkpoint(path)
        save_checkpoint(path, {**ckpt, "best": best})
    if best is not None:
        model.load_state_dict(best["model"])
    return history


def load_trained(model, run_dir: str | Path):
    """Load a finished run's chosen weights (the best validation epoch, else the last)."""
    from qtlgraph.runtime import load_checkpoint

    ckpt = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    best = ckpt.get("best")
    model.load_state_dict(best["model"] if best else ckpt["model"])
    return model


def train_model(
    model,
    data,
    opts: TrainOptions,
    *,
    run_dir: str | Path,
    device="cpu",
    resume: bool = False,
    extra_state: dict | None = None,
) -> list[dict]:
    """Fit ``model`` on ``data.train_mask`` with MSE, validating on ``data.valid_mask``.

    Checkpoints ``run_dir/checkpoint.pt`` every epoch; ``resume`` continues from it. The
    model ends with the weights of its best validation epoch (:func:`fit_best`).

    Returns:
        the per-epoch history of :func:`qtlgraph.encoders.train.fit`.
    """
    import torch

    from qtlgraph.distributed import init_distributed, shard_node_targets
    from qtlgraph.encoders.losses import MaskedLoss

    data = data.to(device)
    inputs = model_inputs(model, data)  # the adjacency is built once per run
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    has_valid = "valid_mask" in data and bool(data.valid_mask.any())
    valid = graph_loader(data, "valid", inputs) if has_valid else None
    loader, loss = graph_loader(data, "train", inputs), MaskedLoss("mse")
    ctx = init_distributed(device)
    if ctx.distributed:  # each rank: its share of the training nodes
        ((inputs, target),) = loader
        # fit weights each rank's loss by its share of the finite targets
        # (qtlgraph.distributed.global_batch_loss); validation keeps the plain loss
        loader = [(inputs, shard_node_targets(target, ctx).target)]
    return fit_best(
        model,
        loader,
        optimizer,
        loss,
        epochs=opts.epochs,
        run_dir=run_dir,
        device=device,
        resume=resume,
        valid_loader=valid,
        seed=opts.seed,
        extra_state=extra_state,
    )


def predict_nodes(model, data, device="cpu"):
    """Model outputs for every node, on the CPU.

    Shapes: ``(num_nodes, n_marks)``.
    """
    from qtlgraph.encoders.train import predict

    data = data.to(device)
    return predict(model, [(model_inputs(model, data), None)], device)


def run_config(out: Path, model: str, opts, model_cfg: dict, data: dict, inputs) -> dict:
    """``config.json`` of a run over graph data (GNN, local, local-stats, distal)."""
    from qtlgraph.runtime import versions

    return {
        "run": out.name,
        "model": model,
        "options": opts._asdict(),
        "model_config": model_cfg,
        "data": data,
        "cell_types": inputs.cell_types,
        "marks": inputs.marks,
        "edge_types": inputs.edge_types,
        "target": TARGET,
        "versions": versions(),
    }


def train_run(
    dataset: str | Path,
    graphs: list[str],
    embeddings: str | Path,
    opts: TrainOptions,
    out: str | Path,
    *,
    neighbor: bool = False,
    shuffle: bool = False,
    holdout_cell_type: str | None = None,
    device: str = "auto",
    resume: bool = False,
    force: bool = False,
    n_boot: int = 200,
    kmer: int = 8,
    kmer_top: int = 32,
    scale: bool = True,
    edge_attr: str = "all",
) -> dict:
    """``qtlgraph train``: load, train, predict the test bins, score, write the run dir.

    Writes ``config.json``, ``checkpoint.pt`` (every epoch), ``bin_predictions.parquet``
    (test bins, with ``in_degree``) and ``results.json``; returns the results dict.
    Node features: the cached embedding, accessibility and (``kmer`` > 0) the counts of
    the ``kmer_top`` most over-represented ``kmer``-mers, all standardised (``scale``);
    see :func:`qtlgraph.gnn.data.load_graph_data`. ``local-stats`` also reads the node
    statistics (named in ``config.json`` ``data.node_stats``); ``edge_attr="none"`` withholds
    the edge attributes (``data.edge_attr``).
    """
    from qtlgraph.gnn.data import load_graph_data
    from qtlgraph.runtime import select_device

    check_options(opts)
    dev = select_device(device)
    out = runs.check_out(out, resume=resume, force=force)
    fingerprint = runs.graph_inputs_fingerprint(dataset, graphs, embeddings)
    inputs = load_graph_data(
        dataset,
        graphs,
        embeddings,
        neighbor=neighbor,
        shuffle=shuffle,
        seed=opts.seed,
        holdout_cell_type=holdout_cell_type,
        kmer=kmer,
        kmer_top=kmer_top,
        scale=scale,
        edge_attr=edge_attr,
        node_stats=opts.model == "local-stats",
    )
    from qtlgraph.distributed import barrier, init_distributed

    ctx = init_distributed(dev)
    data = {
        "dataset": str(Path(dataset).absolute()),
        "graphs": list(graphs),
        "embeddings": str(Path(embeddings).absolute()),
        "neighbor_edges": neighbor,
        "shuffle_edges": shuffle,
        "holdout_cell_type": holdout_cell_type,
        "kmer": kmer,
        "kmer_top": kmer_top,
        "scale": scale,
        "edge_attr": edge_attr,
        "node_stats": list(inputs.data.node_stat_names),
    }
    config = run_config(out, model_name(opts), opts, model_config(inputs.data, opts), data, inputs)
    config["fingerprint"] = fingerprint
    runs.prepare(out, config, resume=resume, force=force, epochs=opts.epochs)
    barrier(ctx)  # every rank has checked OUT before rank 0 writes in it
    with runs.started(out, config, kind="gnn", fresh=not resume):
        barrier(ctx)
        return _fit_and_score(inputs, opts, config, out, dev, ctx, resume, n_boot)


def _fit_and_score(inputs, opts: TrainOptions, config: dict, out: Path, dev, ctx, resume, n_boot):
    """Train, then (rank 0) predict the test bins, score them and finish the run."""
    from qtlgraph.gnn.evaluate import metrics_table, prediction_frame
    from qtlgraph.outputs import atomic_path

    model = new_model(inputs.data, opts)
    history = train_model(
        model,
        inputs.data,
        opts,
        run_dir=out,
        device=dev,
        resume=resume,
        extra_state={"config": config},
    )
    if not ctx.is_main:  # rank 0 alone predicts, scores and writes
        return {"run": out.name, "model": model_name(opts), "metrics": [], "history": history}
    pred = predict_nodes(model, inputs.data, dev)
    frame = prediction_frame(inputs.data.cpu(), pred, inputs.cell_types, inputs.marks, "test")
    with atomic_path(out / "bin_predictions.parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    results = {
        "run": out.name,
        "model": model_name(opts),
        "target": config["target"],
        "metrics": metrics_table(frame, n_boot=n_boot, seed=opts.seed),
        "history": history,
        "best_epoch": best_epoch(history),
    }
    runs.finish(out, results)
    return results
