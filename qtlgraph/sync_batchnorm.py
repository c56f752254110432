"""Batch normalisation with statistics over every rank's batch, on CPU (gloo) as on CUDA.

Under DDP each rank sees ``batch / world`` items; a plain BatchNorm normalises with the
statistics of that share, so N processes no longer train the model one process trains.
``torch.nn.SyncBatchNorm`` fixes this on GPUs only. :class:`SyncBatchNorm1d` does the same
with two differentiable all-reduces (``torch.distributed.nn``): the sum and count, then
the sum of squared deviations from the global mean, so mean and biased variance are those
of the global batch and gradients flow back to every rank's inputs. It subclasses
``nn.BatchNorm1d`` (same parameters, buffers and state-dict keys, same eval-mode forward),
so checkpoints, BatchNorm folding and ``isinstance`` checks see an ordinary BatchNorm.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce


class SyncBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose training statistics cover the batches of all ranks.

    Shapes:
        input (B, C) or (B, C, L) -> same shape.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1, *([1] * (x.dim() - 2))]
        n_local = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        total = all_reduce(torch.cat([x.sum(dims), n_local]))
        n, mean = total[-1], total[:-1] / total[-1]
        centred = x - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / n
        self._update_running(mean.detach(), var.detach(), float(n.detach()))
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        if not self.track_running_stats:
            return
        self.num_batches_tracked += 1
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - m).add_(mean, alpha=m)
        self.running_var.mul_(1 - m).add_(var * n / max(n - 1, 1), alpha=m)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm1d`` inside ``module`` by :class:`SyncBatchNorm1d`, in place.

    Parameters and buffers are carried over (the same tensors). Returns ``module`` (or the
    replacement when ``module`` itself is a BatchNorm).
    """
    if type(module) is nn.BatchNorm1d:
        sync = SyncBatchNorm1d(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        sync._parameters, sync._buffers = module._parameters, module._buffers
        sync.train(module.training)
        return sync
    for name, child in module.named_children():
        module.add_module(name, convert_batchnorm(child))
    return module
