"""The shared training loop: one epoch, prediction, and a resumable multi-epoch fit.

Every model in the project trains through these functions (U-Nets, the per-bin encoder,
the GNN). A loader yields ``(inputs, target)`` where ``inputs`` is a Tensor or a tuple of
Tensors passed as ``model(*inputs)``; ``loss_fn(pred, target)`` returns a scalar (e.g.
:func:`qtlgraph.encoders.losses.masked_loss` or :class:`qtlgraph.encoders.losses.MaskedLoss`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from qtlgraph.encoders.losses import MaskedLoss, masked_loss  # noqa: F401  (re-exported)
from qtlgraph.runtime import is_rank_zero, load_checkpoint, save_checkpoint, seed_everything

CHECKPOINT = "checkpoint.pt"


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    return tuple(t.to(device, non_blocking=True) for t in x)


def _split_batch(batch: Any) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
    if isinstance(batch, torch.Tensor):
        return (batch,), None
    inputs, target = batch
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    return inputs, target


def _progress(loader: Iterable, desc: str | None):
    from tqdm import tqdm

    from qtlgraph.runtime import is_rank_zero

    return tqdm(
        loader, desc=desc, leave=False, disable=None if is_rank_zero() else True, dynamic_ncols=True
    )


def autocast_for(device: torch.device | str, precision: str = "auto"):
    """The autocast context of a training step: bf16 on CUDA where supported, else none.

    ``precision``: ``auto`` (bf16 on a CUDA device that supports it, fp32 on the CPU),
    ``bf16`` (also on the CPU) or ``fp32``. Losses are computed in fp32 either way.
    """
    import contextlib

    device = torch.device(device)
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision {precision!r}: expected auto, bf16 or fp32")
    use = precision == "bf16" or (
        precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    if not use:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device | str,
    *,
    desc: str | None = None,
    scheduler: Any = None,
    precision: str = "fp32",
) -> float:
    """Train one pass over ``loader``; return the mean batch loss.

    Args:
        model: any module; put in train mode here.
        loader: yields ``(inputs, target)``.
        optimizer: steps once per batch.
        loss_fn: ``loss_fn(pred, target) -> scalar``.
        device: where the batch is moved.
        desc: label of the tqdm progress bar.
        scheduler: optional LR scheduler stepped after every optimizer step.
        precision: ``fp32``, ``bf16`` or ``auto`` (see :func:`autocast_for`).
    """
    device = torch.device(device)
    model.train()
    total, n = 0.0, 0
    bar = _progress(loader, desc)
    for batch in bar:
        inputs, target = _split_batch(batch)
        inputs, target = _to_device(inputs, device), target.to(device)
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(device, precision):
            pred = model(*inputs)
        loss = loss_fn(pred.float(), target)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += float(loss.detach())
        n += 1
        bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
    return total / max(n, 1)


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device | str,
) -> float:
    """Mean batch loss in eval mode, no gradients."""
    device = torch.device(device)
    model.eval()
    total, n = 0.0, 0
    for batch in loader:
        inputs, target = _split_batch(batch)
        total += float(loss_fn(model(*_to_device(inputs, device)), target.to(device)))
        n += 1
    return total / max(n, 1)


@torch.no_grad()
def predict(
    model: nn.Module, loader: Iterable, device: torch.device | str, *, desc: str | None = None
) -> torch.Tensor:
    """Raw model outputs for every batch, concatenated along dim 0, on the CPU.

    Batches are ``(inputs, target)`` (the target is ignored) or a bare input Tensor.
    The model is put in eval mode (BatchNorm uses its running statistics), so the
    result does not depend on the batch size.
    """
    device = torch.device(device)
    model.eval()
    outs = [model(*_to_device(_split_batch(b)[0], device)).cpu() for b in _progress(loader, desc)]
    return torch.cat(outs) if outs else torch.empty(0)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) generator states."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _restore(path: Path, model, optimizer, loss_fn, scheduler) -> tuple[int, list[dict]]:
    ckpt = load_checkpoint(path)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if isinstance(loss_fn, nn.Module) and "loss" in ckpt:
        loss_fn.load_state_dict(ckpt["loss"])
    if scheduler is not None and "scheduler" in ckpt:
        scheduler.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"])
    return int(ckpt["epoch"]), list(ckpt.get("history", []))


def _save(
    path: Path,
    model,
    optimizer,
    loss_fn,
    scheduler,
    epoch: int,
    history: list[dict],
    extra_state: dict[str, Any] | None,
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "rng": rng_state(),
        "history": history,
    }
    if isinstance(loss_fn, nn.Module):
        state["loss"] = loss_fn.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    save_checkpoint(path, {**(extra_state or {}), **state})


def _epoch(
    net,
    loader,
    valid_loader,
    optimizer,
    loss_fn,
    ctx,
    epoch: int,
    epochs: int,
    scheduler,
    precision: str,
) -> dict:
    """One epoch on every rank; the train loss averaged over ranks, validation on rank 0."""
    from qtlgraph.distributed import (
        all_reduce_mean,
        broadcast_object,
        global_batch_loss,
        set_loader_epoch,
        unwrap_model,
    )

    t0 = time.perf_counter()
    set_loader_epoch(loader, epoch)
    loss = train_epoch(
        net,
        loader,
        optimizer,
        global_batch_loss(loss_fn, ctx),  # NaN targets shared unevenly across ranks
        ctx.device,
        desc=f"epoch {epoch}/{epochs}",
        scheduler=scheduler,
        precision=precision,
    )
    row = {"epoch": epoch, "train_loss": all_reduce_mean(loss, ctx)}
    if valid_loader is not None:
        valid = (
            evaluate_loss(unwrap_model(net), valid_loader, loss_fn, ctx.device)
            if ctx.is_main
            else None
        )
        row["valid_loss"] = broadcast_object(valid, ctx)
    row["lr"] = float(optimizer.param_groups[0]["lr"])
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def fit(
    model: nn.Module,
    train_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    run_dir: str | Path,
    device: torch.device | str,
    resume: bool = False,
    valid_loader: Iterable | None = None,
    seed: int = 0,
    extra_state: dict[str, Any] | None = None,
    scheduler: Any = None,
    precision: str = "auto",
) -> list[dict]:
    """Train for ``epochs`` epochs, checkpointing ``run_dir/checkpoint.pt`` after each.

    The checkpoint holds ``model``, ``optimizer``, ``epoch`` (completed, 1-based),
    ``rng`` (all generator states), ``history``, the loss module's state (``loss``,
    e.g. a learned dispersion), the scheduler's, and ``extra_state`` (e.g. ``config``).
    With ``resume`` the run continues from it and ends in the same state as an
    uninterrupted run with the same seed; without a checkpoint it starts afresh.
    A dataset or sampler with ``set_epoch(epoch)`` is told the epoch before each pass.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DDP, a ``DataLoader``
    is sharded by :func:`qtlgraph.distributed.shard_loader` (its batch size is the global
    batch), and only rank 0 validates and writes the checkpoint; every rank returns the
    same history. ``precision`` is passed to :func:`autocast_for` (bf16 on CUDA by default).

    Returns:
        One dict per epoch: ``epoch``, ``train_loss`` (mean over ranks), ``valid_loss``
        (with a ``valid_loader``), ``lr``, ``seconds``.
    """
    from qtlgraph.distributed import barrier, init_distributed, shard_loader, wrap_model

    ctx = init_distributed(device)
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    start, history = 0, []
    model.to(ctx.device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(ctx.device)
    if resume and path.is_file():
        start, history = _restore(path, model, optimizer, loss_fn, scheduler)
    net, loader = wrap_model(model, ctx), shard_loader(train_loader, ctx, seed=seed)
    for epoch in range(start + 1, epochs + 1):
        history.append(
            _epoch(
                net,
                loader,
                valid_loader,
                optimizer,
                loss_fn,
                ctx,
                epoch,
                epochs,
                scheduler,
                precision,
            )
        )
        if ctx.is_main:
            _save(path, model, optimizer, loss_fn, scheduler, epoch, history, extra_state)
        barrier(ctx)
    return history


def _better(best: dict | None, row: dict, model: nn.Module) -> dict | None:
    """``best`` replaced by this epoch (``row`` of the history, weights of ``model``) if its
    validation loss is lower; a non-finite loss never wins.
    """
    loss = row.get("valid_loss", float("nan"))
    if not np.isfinite(loss) or (best is not None and loss >= best["valid_loss"]):
        return best
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"epoch": int(row["epoch"]), "valid_loss": float(loss), "model": state}


def stale_epochs(history: list[dict], best: dict | None) -> int:
    """Epochs run since the best validation epoch (0 without one)."""
    return int(history[-1]["epoch"]) - best["epoch"] if history and best else 0


def fit_best(
    model: nn.Module,
    train_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    run_dir: str | Path,
    valid_loader: Iterable | None,
    patience: int = 0,
    resume: bool = False,
    extra_state: dict[str, Any] | None = None,
    **fit_options: Any,
) -> list[dict]:
    """:func:`fit` one epoch at a time, keeping the epoch with the lowest validation loss.

    The best epoch travels in the checkpoint as ``best`` (``epoch``, ``valid_loss``,
    ``model``), so ``resume`` keeps it. With ``patience`` > 0 training stops early once
    ``patience`` epochs in a row have not lowered the validation loss. At the end
    ``model`` holds the best epoch's weights (the last epoch's without a validation set).

    Args:
        model: the module to train; ends with the best epoch's weights.
        train_loader: yields ``(inputs, target)``.
        optimizer: steps once per batch.
        loss_fn: ``loss_fn(pred, target) -> scalar``.
        epochs: the most epochs to run (on resume: in total).
        run_dir: where ``checkpoint.pt`` is written.
        valid_loader: the validation batches (None: the last epoch is kept).
        patience: epochs without improvement before stopping; 0 runs every epoch.
        resume: continue from ``run_dir/checkpoint.pt`` (its best epoch included).
        extra_state: more checkpoint entries (e.g. ``config``).
        fit_options: passed to :func:`fit` (``device``, ``seed``, ``scheduler``, ...).

    Returns:
        The history (as :func:`fit`), one row per epoch run.
    """
    path = Path(run_dir) / CHECKPOINT
    history, best = [], None
    if resume and path.is_file():
        ckpt = load_checkpoint(path)
        history, best = list(ckpt.get("history", [])), ckpt.get("best")
        model.load_state_dict(ckpt["model"])
    for epoch in range(len(history) + 1, epochs + 1):
        if patience > 0 and stale_epochs(history, best) >= patience:
            break
        history = fit(
            model,
            train_loader,
            optimizer,
            loss_fn,
            epochs=epoch,
            run_dir=run_dir,
            resume=resume or epoch > 1,
            valid_loader=valid_loader,
            extra_state={**(extra_state or {}), "best": best},
            **fit_options,
        )
        best = _better(best, history[-1], model)
        if path.is_file() and is_rank_zero():
            save_checkpoint(path, {**load_checkpoint(path), "best": best})
    if best is not None:
        model.load_state_dict(best["model"])
    return history
