"""torch.distributed plumbing for every training command (launched with ``torchrun``).

``torchrun --nproc_per_node N -m qtlgraph train-unet ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`init_distributed` reads them, picks
``nccl`` when the run uses CUDA and ``gloo`` otherwise, and returns a :class:`DistContext`.
Without those variables everything runs as a single process and the helpers are no-ops.

Equivalence with one process: ``--batch-size`` is the global batch. :func:`shard_loader`
rebuilds a ``DataLoader`` over a ``DistributedSampler`` whose order depends only on the
seed and the epoch (also with one process), and hands each rank ``batch / world`` items, so
step ``j`` of every rank together sees exactly the items of step ``j`` of a single process.
DDP averages gradients over ranks, which equals the global-batch gradient when each rank's
loss is a mean over the same number of entries; :func:`global_batch_loss` weights each
rank's masked mean by its share of the finite targets so that this holds with NaN targets
too, and :func:`wrap_model` makes BatchNorm use the global batch's statistics. The GNN's
full-graph mode shards the labelled nodes instead (:func:`shard_node_targets`) and scales
each rank's loss so that the average is the full-graph loss.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from qtlgraph.errors import InputError


class DistContext(NamedTuple):
    rank: int
    world_size: int
    local_rank: int
    device: object  # torch.device
    distributed: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_spec="auto") -> DistContext:
    """Join the process group started by torchrun, or describe a single process.

    Args:
        device_spec: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a ``torch.device``; under
            torchrun a CUDA run uses ``cuda:LOCAL_RANK`` whatever the index given.
    """
    import torch
    import torch.distributed as dist

    from qtlgraph.runtime import select_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = select_device(str(device_spec))
    if world <= 1:
        return DistContext(0, 1, 0, device, False)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world, local_rank, device, True)


def wrap_model(model, ctx: DistContext):
    """``DistributedDataParallel`` around ``model`` when distributed, else ``model``.

    BatchNorm layers are made to use the statistics of the global batch (what one process
    computes): ``SyncBatchNorm`` on CUDA, :class:`qtlgraph.sync_batchnorm.SyncBatchNorm1d`
    on CPU. Both replace the layers inside ``model`` in place, so ``model`` itself is the
    trained module.
    """
    if not ctx.distributed:
        return model
    import torch
    from torch.nn.parallel import DistributedDataParallel

    if ctx.device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[ctx.local_rank])
    from qtlgraph.sync_batchnorm import convert_batchnorm

    return DistributedDataParallel(convert_batchnorm(model))


def unwrap_model(model):
    """The module inside a DDP wrapper (what checkpoints store)."""
    return getattr(model, "module", model)


def per_rank_batch(global_batch: int, ctx: DistContext) -> int:
    """Split the global batch evenly; equal shares keep DDP equal to one process."""
    if global_batch % ctx.world_size:
        raise InputError(
            f"--batch-size {global_batch} is not divisible by the {ctx.world_size} processes"
        )
    return global_batch // ctx.world_size


def shard_indices(indices, ctx: DistContext):
    """This rank's share of ``indices`` (strided, so shares differ by at most one)."""
    return indices[ctx.rank :: ctx.world_size]


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as dist

        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _sampler_kind(loader) -> tuple[object, int, bool] | None:
    """``(dataset, global batch, shuffle)`` of a plain DataLoader, None for anything else.

    Two shapes are recognised: auto-batching over a sequential or random sampler, and
    ``batch_size=None`` over a ``BatchSampler`` of one (index-array datasets).
    """
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    if not isinstance(loader, DataLoader):
        return None
    plain = (RandomSampler, SequentialSampler)
    if loader.batch_size is not None and isinstance(loader.sampler, plain):
        return loader.dataset, loader.batch_size, isinstance(loader.sampler, RandomSampler)
    if (
        loader.batch_size is None
        and isinstance(loader.sampler, BatchSampler)
        and isinstance(loader.sampler.sampler, plain)
    ):
        bs = loader.sampler
        return loader.dataset, bs.batch_size, isinstance(bs.sampler, RandomSampler)
    return None


def shard_loader(loader, ctx: DistContext, *, seed: int):
    """This rank's share of ``loader``: same global batches, ``batch / world`` items each.

    A ``DataLoader`` over a sequential or random sampler (or a ``BatchSampler`` of one) is
    rebuilt over a ``DistributedSampler`` (seeded with ``seed``, reshuffled per epoch by
    :func:`set_loader_epoch`), with pinned memory on CUDA. The order is the same for every
    world size, one process included, so N processes and one see the same global batches
    (the last one too when the dataset size is a multiple of N; otherwise the last
    ``len % N`` items of an epoch are dropped). Other loaders (lists, iterables) are
    returned unchanged.

    Args:
        loader: the single-process loader; its batch size is the global batch.
        ctx: from :func:`init_distributed`.
        seed: the run's seed.
    """
    from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

    kind = _sampler_kind(loader)
    if kind is None:
        return loader
    dataset, batch, shuffle = kind
    local = per_rank_batch(batch, ctx)
    sampler = DistributedSampler(
        dataset,
        num_replicas=ctx.world_size,
        rank=ctx.rank,
        shuffle=shuffle,
        seed=seed,
        drop_last=ctx.world_size > 1,
    )
    common = {
        "num_workers": loader.num_workers,
        "collate_fn": loader.collate_fn,
        "pin_memory": ctx.device.type == "cuda",
        "worker_init_fn": loader.worker_init_fn,
        "timeout": loader.timeout,
    }
    if loader.batch_size is None:
        args = {
            "sampler": BatchSampler(sampler, local, drop_last=loader.sampler.drop_last),
            "batch_size": None,
        }
    else:
        args = {"batch_size": local, "sampler": sampler, "drop_last": loader.drop_last}
    try:  # keep a DataLoader subclass (e.g. one that counts passes)
        return type(loader)(dataset, **args, **common)
    except TypeError:
        return DataLoader(dataset, **args, **common)


def set_loader_epoch(loader, epoch: int) -> None:
    """Tell a loader the epoch (``set_epoch``): the loader itself when it has its own (the
    distal model's batches), else its ``DistributedSampler`` and its dataset.
    """
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
        return
    sampler = getattr(loader, "sampler", None)
    for obj in (sampler, getattr(sampler, "sampler", None), getattr(loader, "dataset", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)


def all_reduce_mean(value: float, ctx: DistContext) -> float:
    """The mean of ``value`` over ranks (``value`` itself in one process)."""
    if not ctx.distributed:
        return float(value)
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def broadcast_object(obj, ctx: DistContext):
    """Rank 0's ``obj`` on every rank (a picklable object; ``obj`` itself in one process)."""
    if not ctx.distributed:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0, device=ctx.device if ctx.device.type == "cuda" else None)
    return box[0]


class ShardedTarget(NamedTuple):
    """One rank's share of a full-graph target.

    Attributes:
        target: the target with NaN outside this rank's labelled nodes; same shape.
        scale: ``world * n_rank / n_total`` (finite entries), the factor that makes the DDP
            average of per-rank mean losses equal the full-graph mean loss.
        n_rank, n_total: finite target entries on this rank and on all ranks.
    """

    target: object
    scale: float
    n_rank: int
    n_total: int


def shard_node_targets(target, ctx: DistContext) -> ShardedTarget:
    """Split the labelled nodes of a full-graph target across ranks (strided by node).

    Each rank computes the forward pass over the whole graph but its loss only over its
    nodes; with a masked mean loss ``L_r`` over ``n_r`` entries,
    ``mean_r(scale_r * L_r) = sum(all entries) / n_total``, the unsharded loss, and so
    the DDP-averaged gradient equals the full-graph gradient.

    Shapes:
        target: ``(num_nodes, n_tracks)``, NaN where unlabelled.
    """
    import torch

    finite = torch.isfinite(target)
    nodes = torch.nonzero(finite.any(dim=1)).flatten()
    keep = torch.zeros(target.shape[0], dtype=torch.bool, device=target.device)
    keep[shard_indices(nodes, ctx)] = True
    mine = torch.where(keep[:, None], target, torch.full_like(target, float("nan")))
    n_rank, n_total = int((finite & keep[:, None]).sum()), int(finite.sum())
    scale = ctx.world_size * n_rank / max(n_total, 1)
    return ShardedTarget(mine, scale, n_rank, n_total)


def global_batch_loss(loss_fn, ctx: DistContext):
    """``loss_fn`` weighted so that the DDP average over ranks is the global batch's loss.

    ``loss_fn`` is a mean over the finite entries of the target (NaN masked); ranks whose
    shares hold different numbers of them would otherwise count alike. Each call sums the
    finite counts over ranks (one all-reduce) and scales this rank's loss by
    ``world * n_rank / n_total``. Identity in one process. Train steps only: every rank
    must call it the same number of times. A loss module with learned parameters (the
    ``nb`` dispersion) is wrapped in DDP so that their gradients are averaged too. A loss
    from :func:`scaled_loss` (already weighted) is returned as it is.
    """
    if not ctx.distributed or getattr(loss_fn, "global_batch", False):
        return loss_fn
    import torch
    import torch.distributed as dist

    learned = [p for p in getattr(loss_fn, "parameters", list)() if p.requires_grad]
    if learned:  # e.g. the nb dispersion: its gradient is averaged over ranks like the model's
        from torch.nn.parallel import DistributedDataParallel

        inner = DistributedDataParallel(loss_fn)
    else:
        inner = loss_fn

    def loss(pred, target):
        n_rank = torch.isfinite(target).sum().to(torch.float64)
        n_total = n_rank.clone()
        dist.all_reduce(n_total)
        scale = ctx.world_size * n_rank / n_total.clamp(min=1)
        return inner(pred, target) * scale.to(pred.dtype)

    return loss


def scaled_loss(loss_fn, scale: float):
    """``loss_fn`` times ``scale``, marked as weighted for the DDP average already."""

    def loss(pred, target):
        return loss_fn(pred, target) * scale

    loss.global_batch = True  # weighted already: global_batch_loss leaves it as it is
    return loss
