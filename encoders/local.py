"""The local model run: train the bin encoder + head on train chromosomes, score test bins.

Writes a run directory as docs/architecture.md ("Runs") says: ``config.json``,
``checkpoint.pt`` (every epoch, through :func:`qtlgraph.encoders.train.fit`), ``results.json`` and
``bin_predictions.parquet`` (test bins, at 10 kb). Cell types share all weights; the
accessibility input tells them apart.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qtlgraph import runs
from qtlgraph.encoders.bin_dataset import (
    BinArrays,
    BinDataset,
    bin_loader,
    load_bin_arrays,
)
from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig
from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex
from qtlgraph.metrics import metric_rows
from qtlgraph.tracks import TARGET

#: PR/ROC-AUC label threshold on log1p targets (raw bin mean > 2), as the graph models use
LOG1P_THRESHOLD = math.log1p(2.0)


class LocalRun(NamedTuple):
    run_dir: Path
    history: list[dict]
    metrics: list[dict]
    n_items: dict[str, int]
    seconds: float


def prediction_frame(dataset: BinDataset, pred: np.ndarray):
    """Long table ``cell_type, mark, bin, pred, target`` of a dataset's items.

    Shapes:
        pred: (len(dataset), n_marks).
    """
    import pandas as pd

    a = dataset.arrays
    cell, bins = dataset.items(np.arange(len(dataset)))
    n_marks = len(a.marks)
    return pd.DataFrame(
        {
            "cell_type": np.repeat(np.asarray(a.cell_types, dtype=object)[cell], n_marks),
            "mark": np.tile(np.asarray(a.marks, dtype=object), len(cell)),
            "bin": np.repeat(bins, n_marks),
            "pred": pred.reshape(-1).astype(np.float32),
            "target": a.targets[cell, bins].reshape(-1),
        }
    )


def split_datasets(
    dataset, index: BinIndex, arrays: BinArrays, codes: np.ndarray
) -> dict[str, BinDataset]:
    """One :class:`BinDataset` per split part (train, valid, test) over chromosome masks."""
    names = list(arrays.cell_types)
    out = {}
    for part, mask in dataset.split.bin_masks(index).items():
        rows = np.flatnonzero(mask)
        cells = [names.index(c) for c in dataset.split.cell_types(names, part)]
        out[part] = BinDataset(arrays, codes, rows, cells)
    return out


def load_parts(dataset, config: BinEncoderConfig) -> dict[str, BinDataset]:
    """Read every bin's inputs and targets once and split them into train/valid/test datasets."""
    from qtlgraph.sequence import open_codes

    index = BinIndex(dataset.genome, config.bin_size)
    arrays = load_bin_arrays(dataset, index, config)
    codes = open_codes(dataset, config.bin_size)  # read per batch from a cache file
    parts = split_datasets(dataset, index, arrays, codes)
    if len(parts["train"]) == 0:
        raise InputError(
            f"dataset {dataset.name}: no training bins (every chromosome is test or validation)"
        )
    return parts


def train_local(
    manifest: str | Path,
    out: str | Path,
    *,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 2e-3,
    dim: int = 64,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    force: bool = False,
    loss: str = "mse",
    encoder: dict | None = None,
) -> LocalRun:
    """Train the local model on a dataset and evaluate it on the held-out chromosomes.

    Args:
        manifest: the dataset TOML.
        out: the run directory (refused when not empty unless ``force`` or ``resume``).
        epochs: total epochs (on resume: at least the epochs already done).
        batch_size: bins per batch.
        lr: Adam learning rate.
        seed: seeds the weights and the batch order.
        dim: embedding size d.
        device: ``cpu``, ``cuda`` or ``auto``.
        resume: continue from ``out/checkpoint.pt``; every setting but ``epochs`` must
            match the checkpoint's (:func:`qtlgraph.runs.prepare`).
        force: replace a non-empty ``out``.
        loss: ``mse`` (default), ``poisson`` or ``nb`` (masked; NaN targets ignored).
        encoder: further :class:`BinEncoderConfig` fields (e.g. ``{"flank": 0}``).
    """
    from qtlgraph.distributed import barrier, init_distributed
    from qtlgraph.manifest import load_dataset
    from qtlgraph.runtime import select_device, versions

    if loss not in ("mse", "poisson", "nb"):
        raise InputError(f"--loss {loss}: expected mse, poisson or nb")
    if epochs < 1 or batch_size < 1 or lr <= 0 or dim < 1:
        raise InputError("--epochs, --batch-size, --lr and --dim must be positive")
    t0, out, dev = time.perf_counter(), Path(out), select_device(device)
    dataset = load_dataset(manifest)
    enc = BinEncoderConfig(**{"dim": dim, "n_marks": len(dataset.marks), **(encoder or {})})
    config = {
        "model": "local",
        "dataset": str(dataset.root / Path(manifest).name),
        "encoder": enc.to_dict(),
        "loss": loss,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "epochs": epochs,
        "cell_types": list(dataset.cell_type_names),
        "marks": list(dataset.marks),
        "bin_size": enc.bin_size,
        "target": TARGET,
        "fingerprint": {
            "dataset": runs.dataset_fingerprint(manifest, dataset),
            "genome": runs.genome_fingerprint(dataset.genome, enc.bin_size),
        },
        "versions": versions(),
    }
    ctx = init_distributed(dev)
    runs.prepare(out, config, resume=resume, force=force, epochs=epochs)
    barrier(ctx)  # every rank has checked OUT before rank 0 writes in it
    parts = load_parts(dataset, enc)
    with runs.started(out, config, kind="local", fresh=not resume):
        barrier(ctx)
        return _train(parts, enc, config, out, dev, ctx, resume, t0)


def _train(
    parts, enc: BinEncoderConfig, config: dict, out: Path, dev, ctx, resume: bool, t0: float
) -> LocalRun:
    import torch

    from qtlgraph.encoders.losses import MaskedLoss
    from qtlgraph.encoders.train import fit
    from qtlgraph.runtime import seed_everything

    seed, batch_size = config["seed"], config["batch_size"]
    seed_everything(seed)
    model = BinEncoder(enc)
    loss_fn = MaskedLoss(config["loss"], n_tracks=enc.n_marks)
    optimizer = torch.optim.Adam(
        list(model.parameters()) + list(loss_fn.parameters()), lr=config["lr"]
    )
    valid = bin_loader(parts["valid"], batch_size, shuffle=False) if len(parts["valid"]) else None
    history = fit(
        model,
        bin_loader(parts["train"], batch_size, shuffle=True),
        optimizer,
        loss_fn,
        epochs=config["epochs"],
        run_dir=out,
        device=dev,
        resume=resume,
        valid_loader=valid,
        seed=seed,
        extra_state={"config": config},
    )
    if not ctx.is_main:  # rank 0 alone evaluates and writes
        return LocalRun(
            out, history, [], {k: len(v) for k, v in parts.items()}, time.perf_counter() - t0
        )
    return _evaluate(model, parts, out, config, history, batch_size, dev, t0)


def _evaluate(
    model,
    parts: dict[str, BinDataset],
    out: Path,
    config: dict,
    history: list[dict],
    batch_size: int,
    device,
    t0: float,
) -> LocalRun:
    from qtlgraph.encoders.losses import output_transform
    from qtlgraph.encoders.train import predict
    from qtlgraph.outputs import atomic_path

    rows, frames = [], {}
    for part in ("valid", "test"):
        if len(parts[part]):
            pred = output_transform(
                predict(model, bin_loader(parts[part], batch_size, shuffle=False), device),
                config["loss"],
            )
            frames[part] = prediction_frame(parts[part], pred.numpy())
            rows += metric_rows(frames[part], part, threshold=LOG1P_THRESHOLD)
    if "test" in frames:
        with atomic_path(out / "bin_predictions.parquet") as tmp:
            frames["test"].to_parquet(tmp, index=False)
    seconds = time.perf_counter() - t0
    n_items = {k: len(v) for k, v in parts.items()}
    runs.finish(
        out,
        {
            "run": out.name,
            "model": "local",
            "target": TARGET,
            "metrics": rows,
            "history": history,
            "n_items": n_items,
            "seconds": round(seconds, 2),
        },
    )
    return LocalRun(out, history, rows, n_items, seconds)
