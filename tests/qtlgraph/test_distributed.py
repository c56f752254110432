"""DDP plumbing: sharded loaders, a real 2-process gloo run, and sharded full-graph loss."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from qtlgraph.distributed import (
    DistContext,
    per_rank_batch,
    scaled_loss,
    shard_loader,
    shard_node_targets,
)
from qtlgraph.errors import InputError

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _ctx(rank: int, world: int) -> DistContext:
    return DistContext(rank, world, 0, torch.device("cpu"), world > 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_module():
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_per_rank_batch_splits_or_refuses():
    assert per_rank_batch(8, _ctx(0, 2)) == 4
    assert per_rank_batch(8, _ctx(0, 1)) == 8
    with pytest.raises(InputError, match="not divisible by the 3 processes"):
        per_rank_batch(8, _ctx(0, 3))


def _batches(loader, epoch):
    loader.sampler.set_epoch(epoch) if hasattr(
        loader.sampler, "set_epoch"
    ) else loader.sampler.sampler.set_epoch(epoch)
    return [np.asarray(b[0] if isinstance(b, list) else b).ravel().tolist() for b in loader]


@pytest.mark.parametrize("shape", ["auto", "batch_sampler"])
def test_rank_batches_together_are_the_single_process_batches(shape):
    ds = TensorDataset(torch.arange(24))
    if shape == "auto":
        base = DataLoader(ds, batch_size=6, shuffle=True)
    else:
        # index-array datasets: a BatchSampler as the sampler, as in qtlgraph.encoders.bin_dataset
        base = DataLoader(
            torch.arange(24), sampler=BatchSampler(RandomSampler(ds), 6, False), batch_size=None
        )
    single = _batches(shard_loader(base, _ctx(0, 1), seed=4), epoch=2)
    ranks = [_batches(shard_loader(base, _ctx(r, 3), seed=4), epoch=2) for r in range(3)]
    assert len(single) == 4 and all(len(b) == 2 for r in ranks for b in r)
    for j, batch in enumerate(single):
        assert sorted(batch) == sorted(sum((r[j] for r in ranks), []))
    assert sorted(sum(single, [])) == list(range(24))  # a permutation: every item once
    assert single != _batches(
        shard_loader(base, _ctx(0, 1), seed=4), epoch=3
    )  # reshuffled per epoch


@pytest.mark.slow
def test_two_process_gloo_run_equals_one_process(tmp_path):
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": "2",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(tmp_path)],
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in range(2)
    ]
    logs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    (tmp_path / "single").mkdir()
    single = _worker_module().train(tmp_path / "single")
    ddp = [torch.load(tmp_path / f"params{r}.pt") for r in range(2)]
    for key, value in single["params"].items():
        for rank in range(2):
            torch.testing.assert_close(ddp[rank]["params"][key], value, rtol=1e-5, atol=1e-6)
    for a, b in zip(single["history"], ddp[1]["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-5)  # rank 0's, broadcast
    assert (tmp_path / "run0" / "checkpoint.pt").is_file()
    assert not (tmp_path / "run1").exists()  # only rank 0 writes


def _graph():
    g = torch.Generator().manual_seed(3)
    n = 11
    edge_index = torch.randint(0, n, (2, 30), generator=g)
    x = torch.randn(n, 4, generator=g)
    y = torch.randn(n, 2, generator=g)
    y[[1, 4, 9]] = float("nan")  # unlabelled nodes
    y[6, 1] = float("nan")  # one missing mark
    return x, edge_index, y


def _grads(model, x, edge_index, target, loss_fn):
    model.zero_grad()
    loss_fn(model(x, edge_index), target).backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("world", [2, 3])
def test_sharded_full_graph_gradient_equals_unsharded(world):
    from torch_geometric.nn import GraphConv

    from qtlgraph.encoders.losses import masked_loss

    x, edge_index, y = _graph()
    torch.manual_seed(0)
    model = GraphConv(4, 2)
    mse = lambda p, t: masked_loss(p, t, "mse")  # noqa: E731
    full = _grads(model, x, edge_index, y, mse)
    shards = [shard_node_targets(y, _ctx(r, world)) for r in range(world)]
    assert sum(s.n_rank for s in shards) == shards[0].n_total == 15  # 8 nodes x 2 marks - 1
    owned = torch.stack([torch.isfinite(s.target).any(1) for s in shards])
    assert owned.sum(0).max() == 1  # every labelled node on exactly one rank
    per_rank = [_grads(model, x, edge_index, s.target, scaled_loss(mse, s.scale)) for s in shards]
    for i, g in enumerate(full):
        torch.testing.assert_close(sum(r[i] for r in per_rank) / world, g, rtol=1e-5, atol=1e-6)


def test_shard_node_targets_hand_counted():
    y = torch.tensor([[1.0], [float("nan")], [2.0], [3.0], [4.0]])
    s0, s1 = (shard_node_targets(y, _ctx(r, 2)) for r in range(2))
    # labelled nodes 0, 2, 3, 4 -> rank 0 gets 0 and 3, rank 1 gets 2 and 4
    assert torch.isfinite(s0.target).flatten().tolist() == [True, False, False, True, False]
    assert torch.isfinite(s1.target).flatten().tolist() == [False, False, True, False, True]
    assert (s0.scale, s1.scale, s0.n_total) == (1.0, 1.0, 4)
