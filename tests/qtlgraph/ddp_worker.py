"""A tiny training run through ``qtlgraph.encoders.train.fit``, run as one rank of a DDP job.

``python ddp_worker.py OUT`` reads RANK / WORLD_SIZE / MASTER_* from the environment (as
torchrun sets them), trains for two epochs and writes ``OUT/params<rank>.pt``; its run
directory is ``OUT/run<rank>`` so a test can see which ranks wrote a checkpoint.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N_ITEMS, GLOBAL_BATCH, EPOCHS = 32, 8, 2


def dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(N_ITEMS, 6, generator=g)
    y = torch.stack([x[:, 0] - 2 * x[:, 1], x[:, 2] * x[:, 3]], dim=1)
    return TensorDataset(x, y)


def train(out: Path) -> dict:
    """Train the small model; return ``{"params": ..., "history": ...}`` (also saved)."""
    from qtlgraph.encoders.losses import MaskedLoss
    from qtlgraph.encoders.train import fit

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loader = DataLoader(dataset(), batch_size=GLOBAL_BATCH, shuffle=True)
    valid = DataLoader(dataset(), batch_size=16)
    rank = int(os.environ.get("RANK", "0"))
    history = fit(
        model,
        loader,
        optimizer,
        MaskedLoss("mse"),
        epochs=EPOCHS,
        run_dir=out / f"run{rank}",
        device="cpu",
        valid_loader=valid,
        seed=11,
    )
    result = {
        "params": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "history": history,
    }
    torch.save(result, out / f"params{rank}.pt")
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)
    from qtlgraph.distributed import init_distributed, shutdown

    ctx = init_distributed("cpu")
    train(Path(sys.argv[1]))
    shutdown(ctx)
