"""Mini-batches of target nodes with up to K of their in-neighbours, redrawn every epoch.

:class:`InNeighbourSampler` is a PyG ``BaseSampler``: ``sample_from_nodes`` takes a
``NodeSamplerInput`` (the seed / target nodes of one batch) and returns a
``SamplerOutput`` in PyG's own layout (seed nodes first, then the sampled sources in order
of first use; ``row`` = local source, ``col`` = local target, ``edge`` = edge ids), so PyG's
generic ``torch_geometric.loader.NodeLoader(data, node_sampler=..., input_nodes=...)``
drives it and ``NeighborLoader(data, num_neighbors=[K])`` (one hop, needs pyg-lib) could
stand in for it. Edges follow the graph convention: ``edge_index[0]`` = source bin,
``edge_index[1]`` = target bin; a target draws its K sources among its incoming edges,
without replacement, afresh each epoch, so the model cannot memorise one fixed set of edges
per target. Each edge gets one random key per epoch (generator seeded ``seed + epoch``) and
a target keeps its K smallest, so a target's sample does not depend on the batch it is in.

:class:`BatchShares` orders the target nodes for the training loop: one order per epoch,
the same for every number of processes, cut into global batches, of which each rank takes
its share. Together with the per-edge keys, the ranks of a ``torchrun`` job then see, step
by step, exactly the subgraphs one process sees.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch_geometric.sampler import BaseSampler, NodeSamplerInput, SamplerOutput

from qtlgraph.distributed import DistContext

#: added to ``seed + epoch`` for the order of the targets, so that it and the edge keys
#: come from different generators
ORDER_STREAM = 1_000_003


class InNeighbourSampler(BaseSampler):
    """Up to ``k`` incoming edges per seed node, drawn without replacement.

    Args:
        edge_index: ``(2, E)`` long, row 0 = source node, row 1 = target node.
        num_nodes: number of nodes.
        k: edges kept per target and batch; ``None`` keeps every incoming edge (evaluation).
        seed: the sampling seed; epoch ``e`` draws one key per edge from a generator seeded
            ``seed + e`` (the first time a batch of the epoch needs them).

    Shapes:
        - **input:** ``NodeSamplerInput.node`` ``(T,)`` distinct seed nodes
        - **output:** ``SamplerOutput`` with ``node (T + S,)`` (seeds first), ``row``,
          ``col``, ``edge`` ``(E_b,)``, ``num_sampled_nodes [T, S]``,
          ``num_sampled_edges [E_b]``, ``metadata (input_id, time)``
    """

    def __init__(
        self, edge_index: torch.Tensor, num_nodes: int, k: int | None, seed: int = 0
    ) -> None:
        if k is not None and k < 0:
            raise ValueError(f"k {k}: expected a non-negative number of neighbours or None")
        edge_index = edge_index.long().cpu()
        order = torch.argsort(edge_index[1], stable=True)  # CSC: edges grouped by target
        self.edge_of = order
        self.source = edge_index[0, order]
        counts = torch.bincount(edge_index[1], minlength=num_nodes)
        self.colptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        self.num_nodes, self.k, self.seed = int(num_nodes), k, int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Redraw the edge keys for ``epoch`` (called by the training loop every epoch)."""
        self.epoch = int(epoch)
        self.keys: torch.Tensor | None = None

    def edge_keys(self) -> torch.Tensor:
        """This epoch's random key of every edge, in CSC order. Shapes: ``(E,)``."""
        if self.keys is None:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            self.keys = torch.rand(len(self.source), generator=gen)
        return self.keys

    def pick(self, seeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions into the CSC edge order and the seed (local target) of each kept edge."""
        lo, hi = self.colptr[seeds], self.colptr[seeds + 1]
        deg = hi - lo
        group = torch.repeat_interleave(torch.arange(len(seeds)), deg)
        first = torch.cumsum(deg, 0) - deg
        pos = lo[group] + torch.arange(int(deg.sum())) - first[group]
        if self.k is None or not len(pos):
            return pos, group
        if self.k == 0:
            return pos[:0], group[:0]
        keep = keep_smallest(group, self.edge_keys()[pos], self.k)
        return pos[keep], group[keep]

    def sample_from_nodes(self, inputs: NodeSamplerInput, **kwargs) -> SamplerOutput:
        """One batch: the seeds and up to ``k`` sampled in-edges of each."""
        seeds = inputs.node.long()
        pos, col = self.pick(seeds)
        sources = self.source[pos]
        uniq, inv = torch.unique(sources, return_inverse=True)
        sorted_seeds, seed_order = seeds.sort()
        at = torch.searchsorted(sorted_seeds, uniq).clamp(max=max(len(seeds) - 1, 0))
        hit = sorted_seeds[at] == uniq if len(seeds) else torch.zeros(len(uniq), dtype=torch.bool)
        new = uniq[~hit]
        # sampled sources in order of first use, as PyG lists them
        first_use = torch.full((len(uniq),), len(sources), dtype=torch.long)
        first_use.scatter_reduce_(0, inv, torch.arange(len(sources)), reduce="amin")
        new_order = torch.argsort(first_use[~hit], stable=True)
        new_local = torch.empty(len(new), dtype=torch.long)
        new_local[new_order] = torch.arange(len(new)) + len(seeds)
        local = torch.empty(len(uniq), dtype=torch.long)
        local[hit] = seed_order[at[hit]]
        local[~hit] = new_local
        node = torch.cat([seeds, new[new_order]])
        return SamplerOutput(
            node=node,
            row=local[inv],
            col=col,
            edge=self.edge_of[pos],
            num_sampled_nodes=[len(seeds), len(new)],
            num_sampled_edges=[len(pos)],
            metadata=(inputs.input_id, inputs.time),
        )

    def sample_from_edges(self, inputs, neg_sampling=None):
        raise NotImplementedError("InNeighbourSampler samples around target nodes only")


def keep_smallest(group: torch.Tensor, key: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the up to ``k`` entries of each group with the smallest ``key``, ascending.

    Args:
        group: group of each entry, ascending (e.g. the target of each in-edge).
        key: one value in ``[0, 1)`` per entry (random: a random sample per group).
        k: entries kept per group.

    Shapes: group, key ``(E,)`` -> ``(<= E,)`` long, in the entries' order.
    """
    count = torch.bincount(group)
    order = torch.argsort(group.double() + key.double())  # by group, then by key
    rank = torch.arange(len(group)) - (torch.cumsum(count, 0) - count)[group[order]]
    return order[rank < k].sort().values


class BatchShares:
    """This rank's share of every global batch of one process's order (a batch sampler).

    Epoch ``e``'s order is a permutation of ``range(n)`` drawn from a generator seeded
    ``seed + e + ORDER_STREAM`` (``0 .. n - 1`` without shuffle), whatever the number of
    processes. It is cut into global batches of ``batch_size``; rank ``r`` of ``W`` takes
    positions ``r, r + W, ...`` of each, so every rank takes the same number of steps
    (as DistributedDataParallel needs) and step ``j`` of all ranks together is step ``j``
    of one process. A rank with nothing left of the last batch (fewer than ``W`` items)
    gets the batch's first item as a stand-in; :attr:`real` is False there and the caller
    masks its target, so it weighs nothing in the global batch's loss.

    Args:
        n: items to order (positions into the caller's node list).
        batch_size: the global batch.
        ctx: the process group (:func:`qtlgraph.distributed.init_distributed`); None: one
            process.
        shuffle: a new order every epoch; False keeps ``0 .. n - 1``.
        seed: the run's seed.
    """

    def __init__(
        self, n: int, batch_size: int, ctx: DistContext | None, *, shuffle: bool, seed: int = 0
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size {batch_size}: expected >= 1")
        self.n, self.batch_size, self.shuffle, self.seed = int(n), int(batch_size), shuffle, seed
        self.rank, self.world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Reorder for ``epoch`` (called by the training loop every epoch)."""
        self.epoch = int(epoch)
        order = torch.arange(self.n)
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch + ORDER_STREAM)
            order = torch.randperm(self.n, generator=gen)
        self.shares: list[torch.Tensor] = []  # views into ``order``
        self.real: list[bool] = []
        for batch in order.split(self.batch_size):
            mine = batch[self.rank :: self.world]
            self.real.append(len(mine) > 0)
            self.shares.append(mine if len(mine) else batch[:1])

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        return (share.tolist() for share in self.shares)


def node_loader(data, nodes: torch.Tensor, sampler: InNeighbourSampler, order: BatchShares):
    """PyG's ``NodeLoader`` over ``nodes`` (seed nodes), driven by ``sampler``, batched by
    ``order`` (positions into ``nodes``).
    """
    from torch_geometric.loader import NodeLoader

    return NodeLoader(data, node_sampler=sampler, input_nodes=nodes, batch_sampler=order)


def in_degree(edge_index: torch.Tensor, num_nodes: int) -> np.ndarray:
    """Incoming edges per node (what a full neighbourhood holds). Shapes: ``(num_nodes,)``."""
    return np.bincount(edge_index[1].cpu().numpy(), minlength=num_nodes)
