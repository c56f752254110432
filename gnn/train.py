"""Full-graph training of the GNN and the local baseline through the shared loop.

The whole graph is one batch: a "loader" is a one-element list ``[((x, edge_index,
edge_attr), target)]`` whose target is NaN outside the split's mask, so the masked
loss of :mod:`encoders.losses` never sees a held-out bin.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from qtlgraph.errors import InputError


class TrainOptions(NamedTuple):
    """Model and optimisation settings (everything ``config.json`` needs besides data)."""

    model: str = "gnn"          # gnn | local
    layer: str = "graphconv"    # graphconv | sage | gatv2 | transformer
    layers: int = 2
    hidden: int = 64
    dropout: float = 0.0
    epochs: int = 100
    lr: float = 5e-3
    weight_decay: float = 0.0
    seed: int = 0


def check_options(opts: TrainOptions) -> None:
    from gnn.models import LAYERS

    if opts.model not in ("gnn", "local"):
        raise InputError(f"--model {opts.model}: expected gnn or local")
    if opts.layer not in LAYERS:
        raise InputError(f"--layer {opts.layer}: expected one of {', '.join(LAYERS)}")
    for name in ("layers", "hidden", "epochs"):
        if getattr(opts, name) < 1:
            raise InputError(f"--{name} {getattr(opts, name)}: expected a positive integer")
    if not opts.lr > 0:
        raise InputError(f"--lr {opts.lr}: expected a positive number")


def model_config(data, opts: TrainOptions) -> dict[str, Any]:
    """The ``model`` section of ``config.json`` (input to :func:`gnn.models.build_model`)."""
    return {"in_dim": int(data.x.shape[1]), "out_dim": int(data.y.shape[1]),
            "hidden": opts.hidden, "layers": opts.layers, "layer": opts.layer,
            "edge_dim": int(data.edge_attr.shape[1]), "dropout": opts.dropout,
            "message_passing": opts.model == "gnn"}


def model_name(opts: TrainOptions) -> str:
    """``results.json`` model label: ``gnn:<layer>`` or ``local``."""
    return f"gnn:{opts.layer}" if opts.model == "gnn" else "local"


def new_model(data, opts: TrainOptions):
    """A freshly initialised model for ``data``, seeded with ``opts.seed``."""
    from gnn.models import build_model
    from qtlgraph.runtime import seed_everything

    seed_everything(opts.seed)
    return build_model(model_config(data, opts))


def graph_loader(data, part: str) -> list:
    """The full graph as a one-batch loader whose target is NaN outside ``<part>_mask``.

    Shapes: target ``(num_nodes, n_marks)``.
    """
    import torch

    mask = data[f"{part}_mask"]
    target = torch.where(mask[:, None], data.y, torch.full_like(data.y, float("nan")))
    return [((data.x, data.edge_index, data.edge_attr), target)]


def train_model(model, data, opts: TrainOptions, *, run_dir: str | Path, device="cpu",
                resume: bool = False, extra_state: dict | None = None) -> list[dict]:
    """Fit ``model`` on ``data.train_mask`` with MSE, validating on ``data.valid_mask``.

    Checkpoints ``run_dir/checkpoint.pt`` every epoch; ``resume`` continues from it.

    Returns:
        the per-epoch history of :func:`encoders.train.fit`.
    """
    import torch

    from encoders.losses import MaskedLoss
    from encoders.train import fit

    data = data.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    valid = graph_loader(data, "valid") if "valid_mask" in data and bool(data.valid_mask.any()) else None
    return fit(model, graph_loader(data, "train"), optimizer, MaskedLoss("mse"),
               epochs=opts.epochs, run_dir=run_dir, device=device, resume=resume,
               valid_loader=valid, seed=opts.seed, extra_state=extra_state)


def predict_nodes(model, data, device="cpu"):
    """Model outputs for every node, on the CPU.

    Shapes: ``(num_nodes, n_marks)``.
    """
    from encoders.train import predict

    data = data.to(device)
    return predict(model, [((data.x, data.edge_index, data.edge_attr), None)], device)


def prediction_frame(data, pred, cell_types, marks, part: str = "test"):
    """Long table ``cell_type, mark, bin, pred, target, in_degree`` for one split's nodes.

    Shapes: pred ``(num_nodes, n_marks)``.
    """
    import pandas as pd

    idx = np.flatnonzero(data[f"{part}_mask"].cpu().numpy())
    ct = data.cell_type.cpu().numpy()[idx]
    frames = []
    for m, mark in enumerate(marks):
        frames.append(pd.DataFrame({
            "cell_type": np.asarray(cell_types, dtype=object)[ct],
            "mark": mark,
            "bin": data.bin.cpu().numpy()[idx].astype(np.int64),
            "pred": pred[idx, m].cpu().numpy().astype(np.float32),
            "target": data.y[idx, m].cpu().numpy().astype(np.float32),
            "in_degree": data.in_degree.cpu().numpy()[idx].astype(np.int64),
        }))
    return pd.concat(frames, ignore_index=True)


def _prepare_out(out: Path, force: bool, resume: bool) -> None:
    """Refuse a non-empty ``out`` unless ``force`` (cleared) or ``resume`` (continued)."""
    import shutil

    from qtlgraph.outputs import check_output_dir

    if resume and (out / "checkpoint.pt").is_file():
        return
    check_output_dir(out, force)
    if force and out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def train_run(dataset: str | Path, graphs: list[str], embeddings: str | Path, opts: TrainOptions,
              out: str | Path, *, neighbor: bool = False, shuffle: bool = False,
              holdout_cell_type: str | None = None, device: str = "auto", resume: bool = False,
              force: bool = False, n_boot: int = 200) -> dict:
    """``qtlgraph train``: load, train, predict the test bins, score, write the run dir.

    Writes ``config.json``, ``checkpoint.pt`` (every epoch), ``bin_predictions.parquet``
    (test bins, with ``in_degree``) and ``results.json``; returns the results dict.
    """
    from gnn.data import load_graph_data
    from gnn.evaluate import metrics_table
    from qtlgraph.outputs import atomic_path
    from qtlgraph.runtime import select_device, versions, write_json

    check_options(opts)
    dev = select_device(device)
    inputs = load_graph_data(dataset, graphs, embeddings, neighbor=neighbor, shuffle=shuffle,
                             seed=opts.seed, holdout_cell_type=holdout_cell_type)
    out = Path(out)
    _prepare_out(out, force, resume)
    config = {"run": out.name, "model": model_name(opts), "options": opts._asdict(),
              "model_config": model_config(inputs.data, opts),
              "data": {"dataset": str(Path(dataset).absolute()), "graphs": list(graphs),
                       "embeddings": str(Path(embeddings).absolute()), "neighbor_edges": neighbor,
                       "shuffle_edges": shuffle, "holdout_cell_type": holdout_cell_type},
              "cell_types": inputs.cell_types, "marks": inputs.marks,
              "edge_types": inputs.edge_types, "target": "log1p(bin mean)",
              "versions": versions()}
    write_json(out / "config.json", config)
    model = new_model(inputs.data, opts)
    history = train_model(model, inputs.data, opts, run_dir=out, device=dev, resume=resume,
                          extra_state={"config": config})
    pred = predict_nodes(model, inputs.data, dev)
    frame = prediction_frame(inputs.data.cpu(), pred, inputs.cell_types, inputs.marks, "test")
    with atomic_path(out / "bin_predictions.parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    results = {"run": out.name, "model": model_name(opts),
               "metrics": metrics_table(frame, n_boot=n_boot, seed=opts.seed), "history": history}
    write_json(out / "results.json", results)
    return results
