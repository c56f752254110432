"""torch.distributed plumbing for every training command (launched with ``torchrun``).

``torchrun --nproc_per_node N -m qtlgraph train-unet ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`init_distributed` reads them, picks
``nccl`` when the run uses CUDA and ``gloo`` otherwise, and returns a :class:`DistContext`.
Without those variables everything runs as a single process and the helpers are no-ops.
"""
from __future__ import annotations

import os
from typing import NamedTuple

from qtlgraph.errors import InputError


class DistContext(NamedTuple):
    rank: int
    world_size: int
    local_rank: int
    device: "object"  # torch.device
    distributed: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_spec: str = "auto") -> DistContext:
    """Join the process group started by torchrun, or describe a single process."""
    import torch
    import torch.distributed as dist

    from qtlgraph.runtime import select_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = select_device(device_spec)
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
    """``DistributedDataParallel`` around ``model`` when distributed, else ``model``."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap_model(model):
    """The module inside a DDP wrapper (what checkpoints store)."""
    return getattr(model, "module", model)


def per_rank_batch(global_batch: int, ctx: DistContext) -> int:
    """Split the global batch evenly; equal shares keep DDP equal to one process."""
    if global_batch % ctx.world_size:
        raise InputError(f"--batch-size {global_batch} is not divisible by the {ctx.world_size} processes")
    return global_batch // ctx.world_size


def sampler_for(dataset, ctx: DistContext, *, shuffle: bool, seed: int):
    """A ``DistributedSampler`` over ``dataset`` when distributed, else None."""
    if not ctx.distributed:
        return None
    from torch.utils.data import DistributedSampler

    return DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=shuffle, seed=seed, drop_last=True)


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
