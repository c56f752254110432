"""Full-graph GNN training step on a genome-sized graph, against stock PyG GraphConv.

Both models see the same random graph (303,114 nodes = hg38 10 kb bins, 1.7 M edges,
64-d features, 2 layers); steps alternate between them so machine noise hits both alike.
Prints the median seconds per step (forward + backward + optimizer step), the ratio
ours / reference, and the peak resident memory while each model ran.

    python benchmarks/bench_gnn.py [--nodes 303114] [--edges 1700000] [--steps 5] [--threads N]
        [--profile]

Launch it the way the project launches training (the Makefile preloads tcmalloc when
present); the ratio compares both models under the same allocator. On a busy shared
machine ``--threads 1`` and the CPU-time ratio give steadier figures (OpenMP threads that
wait on each other slow down more than the work does).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

#: the GNN step target: at most this fraction of stock PyG GraphConv's time
TARGET = 0.7


def random_graph(n: int, e: int, d: int, seed: int = 0):
    """Random features, targets and cis-like edges (sources within 100 bins of targets)."""
    from qtlgraph.gnn.data import edge_features

    rng = np.random.default_rng(seed)
    target = rng.integers(0, n, size=e)
    source = np.clip(target + rng.integers(-100, 101, size=e), 0, n - 1)
    attr = np.column_stack(
        [
            np.log1p(rng.integers(1, 20, e)),
            rng.exponential(5, e),
            rng.random(e),
            rng.random(e),
            (target - source) * 1e4,
        ]
    )
    etype = rng.integers(0, 2, size=e)
    x = torch.from_numpy(rng.normal(size=(n, d)).astype(np.float32))
    y = torch.from_numpy(rng.normal(size=(n, 2)).astype(np.float32))
    edge_index = torch.from_numpy(np.stack([source, target]).astype(np.int64))
    return x, y, edge_index, torch.from_numpy(edge_features(attr, etype, 2))


class StockGraphConv(nn.Module):
    """The reference: two stock GraphConv layers and a linear head."""

    def __init__(self, d: int, hidden: int, out: int) -> None:
        super().__init__()
        from torch_geometric.nn import GraphConv

        self.conv1, self.conv2 = GraphConv(d, hidden), GraphConv(hidden, hidden)
        self.head = nn.Linear(hidden, out)

    def forward(self, x, edge_index, edge_attr=None):
        h = torch.relu(self.conv1(x, edge_index))
        return self.head(torch.relu(self.conv2(h, edge_index)))


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _step(model, opt, x, y, edge_index, edge_attr) -> tuple[float, float]:
    """One training step: (wall seconds, CPU seconds of the whole process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(model(x, edge_index, edge_attr), y)
    loss.backward()
    opt.step()
    return time.perf_counter() - t0, time.process_time() - c0


def _measure(models, graphs, x, y, edge_attr, steps: int) -> tuple[dict, dict, dict]:
    """Median wall and CPU seconds per step and peak RSS per model, steps alternating."""
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    times = {k: [] for k in models}
    peaks = {k: 0.0 for k in models}
    for k in models:  # warm-up
        _step(models[k], opts[k], x, y, graphs[k], edge_attr)
    for _ in range(steps):
        for k in models:
            _reset_peak()
            times[k].append(_step(models[k], opts[k], x, y, graphs[k], edge_attr))
            peaks[k] = max(peaks[k], _peak_mb())
    wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    return wall, cpu, peaks


def profile_step(model, opt, x, y, graph, edge_attr, steps: int = 3) -> dict[str, float]:
    """Self CPU time per step (ms) of ``model``'s training step by kind of work: dense
    matmuls, the sparse aggregation, GELU, everything else (``torch.profiler``).
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            _step(model, opt, x, y, graph, edge_attr)
    out = {"dense matmul": 0.0, "sparse aggregation": 0.0, "gelu": 0.0, "other": 0.0}
    n = x.shape[0]
    for ev in prof.key_averages(group_by_input_shape=True):
        sparse = f"[{n}, {n}]" in str(ev.input_shapes)
        if ev.key in ("aten::mm", "aten::addmm"):
            kind = "sparse aggregation" if sparse else "dense matmul"
        else:
            kind = "gelu" if "gelu" in ev.key else "other"
        out[kind] += ev.self_cpu_time_total / 1e3 / steps
    return out


def main(argv: list[str] | None = None) -> dict:
    from qtlgraph.gnn.models import GraphRegressor, mean_adjacency, uses_adjacency

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=303_114)
    ap.add_argument("--edges", type=int, default=1_700_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--layer", default="graphconv")
    ap.add_argument(
        "--aggr", default="sqrt", help="adjacency normalisation (qtlgraph.gnn.models.AGGRS)"
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--profile", action="store_true", help="also break our step down by kind")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y, ei, ea = random_graph(args.nodes, args.edges, args.dim)
    models = {
        "qtlgraph": GraphRegressor(
            args.dim,
            2,
            hidden=args.dim,
            layers=2,
            layer=args.layer,
            edge_dim=ea.shape[1],
            aggr=args.aggr,
        ),
        "stock GraphConv": StockGraphConv(args.dim, args.dim, 2),
    }
    t0 = time.perf_counter()  # built once per run by qtlgraph.gnn.train.model_inputs, as here
    graph = mean_adjacency(ei, args.nodes, args.aggr) if uses_adjacency(args.layer) else ei
    build_s = time.perf_counter() - t0
    graphs = {"qtlgraph": graph, "stock GraphConv": ei}
    med, cpu, peaks = _measure(models, graphs, x, y, ea, args.steps)
    ratio = med["qtlgraph"] / med["stock GraphConv"]
    cpu_ratio = cpu["qtlgraph"] / cpu["stock GraphConv"]
    print(
        f"graph: {args.nodes:,} nodes, {args.edges:,} edges, {args.dim}-d, 2 layers, "
        f"{torch.get_num_threads()} threads, {args.steps} steps each"
    )
    print(f"adjacency built once per run in {build_s:.3f} s ({args.aggr})")
    for k in models:
        print(
            f"{k:>16}: {med[k]:.3f} s/step (median), {cpu[k]:.3f} CPU s/step, "
            f"peak RSS {peaks[k]:,.0f} MB"
        )
    print(f"ratio of CPU time: {cpu_ratio:.2f} (steadier than wall time on a shared machine)")
    if args.profile:
        opt = torch.optim.Adam(models["qtlgraph"].parameters(), lr=1e-3)
        parts = profile_step(models["qtlgraph"], opt, x, y, graph, ea)
        total = sum(parts.values())
        for k, v in parts.items():
            print(f"  qtlgraph step, {k}: {v:.0f} ms ({100 * v / total:.0f}%, under the profiler)")
    print(f"ratio qtlgraph / stock GraphConv: {ratio:.2f} (target <= {TARGET})")
    return {
        "seconds": med,
        "cpu_seconds": cpu,
        "peak_mb": peaks,
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "adjacency_s": build_s,
    }


if __name__ == "__main__":
    main()
