"""The U-Net run: train one of the report's baselines A-D, then score the test chromosomes.

A run directory holds ``config.json``, ``checkpoint.pt`` (every epoch, through
:func:`qtlgraph.encoders.train.fit_best`, with the best validation epoch under ``best``),
``results.json`` and ``bin_predictions.parquet`` (docs/architecture.md, "Runs").
Training draws random windows from the training chromosomes
(:class:`qtlgraph.encoders.windows.RandomWindows`); a fixed set of windows from the
validation chromosomes picks the epoch whose weights are kept and, with ``patience``,
stops training once it no longer improves. The evaluation uses those weights.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from qtlgraph import runs
from qtlgraph.encoders.baselines import BaselineSpec, baseline_spec, unet_config
from qtlgraph.errors import InputError
from qtlgraph.tracks import TARGET

#: Training options and their defaults (the report's settings: 5 epochs of 100,000 windows).
DEFAULTS = dict(
    epochs=5,
    windows=100_000,
    batch_size=128,
    lr=1e-3,
    decay=1e-5,
    loss="bce",
    base_filters=15,
    depth=5,
    kernel_size=7,
    pool="max",
    length=10_240,
    threshold=2.0,
    seed=0,
    patience=0,
    valid_windows=0,
    scale_augment=False,
    prior_init=False,
    filter_init="random",
)
FILTER_INITS = ("random", "enriched")
_POSITIVE = ("epochs", "windows", "batch_size", "base_filters", "length")


def _check(opts: dict) -> None:
    for key in _POSITIVE:
        if int(opts[key]) < 1:
            raise InputError(f"--{key.replace('_', '-')} {opts[key]}: expected a positive integer")
    for key in ("patience", "valid_windows"):
        if int(opts[key]) < 0:
            raise InputError(f"--{key.replace('_', '-')} {opts[key]}: expected an integer >= 0")
    if opts["filter_init"] not in FILTER_INITS:
        raise InputError(
            f"--filter-init {opts['filter_init']}: expected one of {', '.join(FILTER_INITS)}"
        )
    if opts["lr"] <= 0 or opts["decay"] < 0:
        raise InputError(
            f"--lr {opts['lr']} / --decay {opts['decay']}: expected lr > 0 and decay >= 0"
        )


def _prepare_dir(out: Path, resume: bool, force: bool) -> dict | None:
    """The stored config when resuming (with the options given now applied), else None.

    Writes nothing: :func:`qtlgraph.runs.prepare` checks the directory and the resume rule.
    """
    from qtlgraph.runtime import read_json

    runs.check_out(out, resume=resume, force=force)
    if resume and (out / "config.json").is_file():
        return read_json(out / "config.json")
    return None


def _with_options(cfg: dict, options: dict) -> dict:
    """``cfg`` with the options given on a resume put where :func:`new_config` keeps them.

    :func:`qtlgraph.runs.prepare` then refuses any that differ from the checkpoint's.
    """
    import copy

    cfg = copy.deepcopy(cfg)
    for key, value in options.items():
        if key in _TRAINING_KEYS:
            cfg["training"][key] = value
        elif key in cfg.get("unet", {}):
            cfg["unet"][key] = value
        else:
            cfg[key] = value
    return cfg


_TRAINING_KEYS = (
    "epochs",
    "windows",
    "batch_size",
    "lr",
    "decay",
    "seed",
    "patience",
    "valid_windows",
    "scale_augment",
    "prior_init",
    "filter_init",
)


def new_config(dataset, spec: BaselineSpec, out: Path, opts: dict, qmap) -> dict:
    """The ``config.json`` of a new run: model, data, training settings, quantile map."""
    from qtlgraph.runtime import versions

    unet = unet_config(
        spec,
        len(dataset.cell_types),
        len(dataset.marks),
        **{k: opts[k] for k in ("depth", "base_filters", "kernel_size", "pool", "length")},
    )
    return {
        "run": out.name,
        "model": f"unet:{spec.name}",
        "baseline": spec.name,
        "dataset": None,
        "cell_types": list(dataset.cell_type_names),
        "marks": list(dataset.marks),
        "unet": unet._asdict(),
        "loss": opts["loss"],
        "threshold": opts["threshold"],
        "target": TARGET,
        "training": {k: opts[k] for k in _TRAINING_KEYS},
        "optimizer": "Adam, lr / (1 + decay * step) per step (Keras 'decay', as Leopard)",
        "quantile_map": qmap._asdict() if qmap is not None else None,
        "versions": versions(),
    }


def _loaders(reader, spec: BaselineSpec, dataset, cfg: dict):
    """Training windows (new every epoch) and fixed validation windows (or None)."""
    from torch.utils.data import DataLoader

    from qtlgraph.encoders.windows import RandomWindows

    t, length, seed = cfg["training"], cfg["unet"]["length"], cfg["training"]["seed"]
    common = dict(length=length, loss=cfg["loss"], threshold=cfg["threshold"])
    train = RandomWindows(
        reader,
        spec,
        list(dataset.split.chroms(dataset.genome, "train")),
        t["windows"],
        seed=seed,
        scale_augment=bool(t.get("scale_augment", False)),
        **common,
    )
    chroms = dataset.split.chroms(dataset.genome, "valid")
    chroms = [c for c in chroms if dataset.genome.sizes[c] >= length]
    valid = None
    if chroms:  # never told the epoch: the same windows every epoch
        n = int(t.get("valid_windows") or 0) or max(t["batch_size"], t["windows"] // 10)
        windows = RandomWindows(reader, spec, chroms, n, seed=seed + 1, **common)
        valid = DataLoader(windows, batch_size=t["batch_size"])
    return DataLoader(train, batch_size=t["batch_size"]), valid


def positive_fractions(windows, n: int = 64) -> np.ndarray:
    """Fraction of positive labels per output channel over ``n`` windows of a dataset.

    Shapes:
        -> (n_out,) float64; NaN for a channel without any labelled base.
    """
    ys = np.stack([windows[i][1].numpy() for i in range(min(n, len(windows)))])
    with np.errstate(invalid="ignore"):
        return np.nanmean(ys.transpose(1, 0, 2).reshape(ys.shape[1], -1), axis=1)


def init_head_bias(net, fractions: np.ndarray) -> None:
    """Start the output logits at the training label frequency (not at p = 0.5).

    With a few hundred steps of Adam at lr 1e-3 the bias alone would otherwise take
    most of the budget to travel from 0 to the log-odds of a 10 % positive rate.
    """
    import torch

    p = np.clip(np.nan_to_num(fractions, nan=0.5), 1e-3, 1 - 1e-3)
    with torch.no_grad():
        net.head.bias.copy_(torch.as_tensor(np.log(p / (1 - p)), dtype=net.head.bias.dtype))


def seed_filters(net, windows, cfg: dict, out: Path) -> None:
    """``--filter-init enriched``: the first filters start at enriched k-mers of
    ``windows`` (:mod:`qtlgraph.encoders.filter_init`), listed in ``OUT/filter_seeds.tsv``.
    """
    import torch.distributed as dist

    from qtlgraph.encoders.filter_init import seed_from_windows
    from qtlgraph.outputs import atomic_path

    threshold = 0.5 if cfg["loss"] == "bce" else float(cfg["threshold"])
    seeds = seed_from_windows(net, windows, threshold)
    if dist.is_initialized() and dist.get_rank() != 0:
        return
    with atomic_path(out / "filter_seeds.tsv") as tmp:
        lines = ["filter\tkmer\tz\tpositive\ttotal"]
        lines += [f"{j}\t{s.kmer}\t{s.z}\t{s.positive}\t{s.total}" for j, s in enumerate(seeds)]
        tmp.write_text("\n".join(lines) + "\n")


def _build_config(dataset, dataset_path, spec, out: Path, opts: dict, resume: bool, force: bool):
    """A resumed run's stored config, or a new one (quantile map fitted for B and C)."""
    from qtlgraph.encoders.windows import TrackReader, fit_quantile_map

    cfg = _prepare_dir(out, resume, force)
    if cfg is not None:
        if cfg.get("baseline") != spec.name:
            raise InputError(
                f"{out}/config.json: run is model {cfg.get('baseline')}, not {spec.name}"
            )
        return cfg
    qmap = None
    if spec.accessibility:
        train_chroms = list(dataset.split.chroms(dataset.genome, "train"))
        qmap = fit_quantile_map(TrackReader(dataset), train_chroms, seed=opts["seed"])
    cfg = new_config(dataset, spec, out, opts, qmap)
    cfg["dataset"] = str(Path(dataset_path).absolute())
    return cfg


def _train(cfg: dict, dataset, spec, out: Path, dev, resume: bool) -> list[dict]:
    """Build model, loss, optimiser and loaders from ``cfg`` and train with early stopping."""
    import torch

    from qtlgraph.encoders.filter_init import SEED_WINDOWS
    from qtlgraph.encoders.losses import MaskedLoss
    from qtlgraph.encoders.train import fit_best
    from qtlgraph.encoders.unet import UNet, UNetConfig
    from qtlgraph.encoders.windows import QuantileMap, TrackReader
    from qtlgraph.runtime import seed_everything

    qmap = QuantileMap(**cfg["quantile_map"]) if cfg["quantile_map"] else None
    reader, t = TrackReader(dataset, qmap), cfg["training"]
    seed_everything(t["seed"])
    net = UNet(UNetConfig(**cfg["unet"])).to(dev)
    loss = MaskedLoss(cfg["loss"], cfg["unet"]["out_channels"]).to(dev)
    optimizer = torch.optim.Adam([*net.parameters(), *loss.parameters()], lr=t["lr"])
    decay = t["decay"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 1.0 / (1.0 + decay * step)
    )
    train_loader, valid_loader = _loaders(reader, spec, dataset, cfg)
    prior = bool(t.get("prior_init")) and cfg["loss"] == "bce"
    seeded = t.get("filter_init", "random") == "enriched" and not resume
    # both starts read the first training windows of epoch 1: read them once
    windows = train_loader.dataset
    n = SEED_WINDOWS if seeded else 64 if prior else 0
    sample = [windows[i] for i in range(min(len(windows), n))]
    if prior:
        init_head_bias(net, positive_fractions(sample))
    if seeded:
        seed_filters(net, sample, cfg, out)
    return fit_best(
        net,
        train_loader,
        optimizer,
        loss,
        epochs=t["epochs"],
        run_dir=out,
        valid_loader=valid_loader,
        patience=int(t.get("patience", 0)),
        resume=resume,
        extra_state={"config": cfg},
        device=dev,
        seed=t["seed"],
        scheduler=scheduler,
    )


def train_unet_run(
    dataset_path: str | Path,
    model: str,
    out: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    force: bool = False,
    evaluate: bool = True,
    eval_batch_size: int = 8,
    base_fraction: float = 0.01,
    **options: Any,
) -> dict:
    """Train baseline ``model`` (A-D) on a dataset manifest into run directory ``out``.

    Args:
        dataset_path: the dataset manifest (TOML).
        model: ``A``, ``B``, ``C`` or ``D`` (the report's Table 3).
        out: run directory (refused when not empty, unless ``force`` or ``resume``).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        resume: continue from ``out/checkpoint.pt``; the stored ``config.json`` decides
            everything but ``epochs`` and the device.
        force: replace a non-empty ``out``.
        evaluate: score the test chromosomes afterwards (rank 0 only).
        eval_batch_size: windows per evaluation batch.
        base_fraction: fraction of test bases scored for PR/ROC-AUC.
        options: override :data:`DEFAULTS` (``epochs``, ``windows``, ``batch_size``, ``lr``,
            ``decay``, ``loss``, ``base_filters``, ``depth``, ``kernel_size``, ``pool``,
            ``length``, ``threshold``, ``seed``, ``patience``, ``valid_windows``,
            ``scale_augment``, ``prior_init``, ``filter_init``).

    Returns:
        The ``results.json`` content (with ``history``, ``best_epoch``, ``seconds``), or
        ``{"history": ...}`` when ``evaluate`` is False.
    """
    from qtlgraph.distributed import barrier, init_distributed
    from qtlgraph.encoders.evaluate import evaluate_run
    from qtlgraph.manifest import load_dataset
    from qtlgraph.runtime import select_device

    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise InputError(f"train_unet_run: unknown option(s) {sorted(unknown)}")
    opts = {**DEFAULTS, **options}
    _check(opts)
    out, dev = Path(out), select_device(device)
    dataset = load_dataset(dataset_path, missing="nan")
    spec = baseline_spec(model)
    cfg = _build_config(dataset, dataset_path, spec, out, opts, resume, force)
    if resume:
        cfg = _with_options(cfg, options)
    else:
        cfg["fingerprint"] = {
            "dataset": runs.dataset_fingerprint(dataset_path, dataset),
            "genome": runs.genome_fingerprint(dataset.genome, 10_000),
        }
    runs.prepare(out, cfg, resume=resume, force=force, epochs=cfg["training"]["epochs"])
    ctx = init_distributed(dev)
    barrier(ctx)  # every rank has checked OUT before rank 0 writes in it
    with runs.started(out, cfg, kind="unet", fresh=not resume):
        barrier(ctx)
        t0 = time.perf_counter()
        history = _train(cfg, dataset, spec, out, dev, resume)
        train_seconds = time.perf_counter() - t0
        if not ctx.is_main:  # rank 0 alone evaluates
            return {"history": history}
        if not evaluate:
            runs.mark_finished(out)
            return {"history": history}
        result = evaluate_run(
            out,
            batch_size=eval_batch_size,
            base_fraction=base_fraction,
            device=dev,
            extra=training_summary(history, train_seconds, cfg),
        )
        runs.mark_finished(out)
        return result


def training_summary(history: list[dict], train_seconds: float, cfg: dict) -> dict:
    """The ``results.json`` keys about training: history, best epoch, early stop, time."""
    from qtlgraph.encoders.train import stale_epochs

    rows = [h for h in history if np.isfinite(h.get("valid_loss", np.nan))]
    best = min(rows, key=lambda h: h["valid_loss"]) if rows else None
    patience = int(cfg["training"].get("patience", 0))
    stale = stale_epochs(history, {"epoch": best["epoch"]} if best else None)
    return {
        "history": history,
        "best_epoch": best["epoch"] if best else None,
        "epochs_run": len(history),
        "stopped_early": bool(
            patience and len(history) < cfg["training"]["epochs"] and stale >= patience
        ),
        "windows_seen": len(history) * int(cfg["training"]["windows"]),
        "filter_init": cfg["training"].get("filter_init", "random"),
        "seconds": {"train": round(train_seconds, 2)},
    }
