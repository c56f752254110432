"""What the distal model reads: the graph ``Data``, source sequences on demand, batches.

The graph comes from :func:`qtlgraph.gnn.data.load_graph_data` (node features = cached
embedding and accessibility, no k-mer words by default; ``edge_attr="none"`` cuts edge
features to the edge type) with ``n_in`` added, the full in-degree of every node. Source
sequence is read through the FASTA index bin by bin when a batch needs it
(:class:`BinSequences`, an LRU cache), never as a whole genome. A batch of
:class:`DistalBatches` is ``((x, seq, seq_index, edge_index, edge_attr, n_in), target)``:
the sampled subgraph (seed nodes first), the base codes of its distinct source bins (each
encoded once per step, shared by every cell type) and the target with NaN outside the
seed nodes of the split.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch

from qtlgraph.gnn.data import EDGE_ATTR_MODES  # noqa: F401 (re-exported)


class BinSequences:
    """Base codes of whole bins read on demand and kept in an LRU cache.

    Args:
        sequence: a ``qtlgraph.sequence.GenomeSequence``.
        index: the ``qtlgraph.genome.BinIndex`` of the run.
        capacity: bins kept (``capacity * bin_size`` bytes at most).
    """

    def __init__(self, sequence, index, capacity: int = 4096) -> None:
        self.sequence, self.index, self.capacity = sequence, index, int(capacity)
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def codes(self, bins: np.ndarray) -> np.ndarray:
        """Codes of ``bins`` (0-3 = A, C, G, T, 4 = N). Shapes: ``(n,) -> (n, bin_size)`` uint8."""
        from qtlgraph.encoders.bin_dataset import sequence_codes

        bins = np.asarray(bins, np.int64)
        missing = np.unique([b for b in bins.tolist() if b not in self.cache])
        if len(missing):
            read = sequence_codes(self.sequence, self.index, missing, block=64)
            for b, row in zip(missing.tolist(), read):
                self.cache[b] = row
        out = np.empty((len(bins), self.index.bin_size), np.uint8)
        for i, b in enumerate(bins.tolist()):
            self.cache.move_to_end(b)
            out[i] = self.cache[b]
        while len(self.cache) > self.capacity:
            self.cache.popitem(last=False)
        return out


def prepare_data(data):
    """Add ``n_in``, the full in-degree of every node (incoming edges, all types)."""
    from qtlgraph.gnn.sampler import in_degree

    data.n_in = torch.from_numpy(in_degree(data.edge_index, int(data.num_nodes)))
    return data


def batch_inputs(batch, sequences: BinSequences, mask: torch.Tensor | None) -> tuple:
    """Model inputs and target of one sampled subgraph (a ``NodeLoader`` batch).

    Args:
        batch: the subgraph ``Data`` (``x``, ``y``, ``bin``, ``n_in``, ``edge_index``,
            ``edge_attr``, ``batch_size`` seed nodes first).
        sequences: where source sequence is read.
        mask: the split's node mask of the subgraph, or None (no target needed).

    Returns:
        ``((x, seq, seq_index, edge_index, edge_attr, n_in), target)``.
    """
    n = int(batch.num_nodes)
    src = batch.edge_index[0]
    src_nodes = torch.unique(src)
    bins, inv = torch.unique(batch.bin[src_nodes], return_inverse=True)
    seq = torch.from_numpy(sequences.codes(bins.numpy()))
    seq_index = torch.full((n,), -1, dtype=torch.long)
    seq_index[src_nodes] = inv
    inputs = (batch.x, seq, seq_index, batch.edge_index, batch.edge_attr, batch.n_in)
    if mask is None:
        return inputs, None
    seed = torch.arange(n) < int(batch.batch_size)
    keep = (seed & mask)[:, None]
    return inputs, torch.where(keep, batch.y, torch.full_like(batch.y, float("nan")))


class DistalBatches:
    """Sampled subgraphs of ``nodes`` as ``(inputs, target)`` batches, for the shared loop.

    :meth:`set_epoch` (called by :func:`qtlgraph.distributed.set_loader_epoch`) reorders
    the seed nodes and redraws the neighbours (:class:`qtlgraph.gnn.sampler.BatchShares`,
    :class:`qtlgraph.gnn.sampler.InNeighbourSampler`); both depend on the seed and the
    epoch only. With ``ctx`` under torchrun each rank gets its share of every global batch
    (a stand-in with an all-NaN target where the last batch has none left for it).

    Args:
        data: the prepared graph (:func:`prepare_data`).
        nodes: seed nodes (e.g. the labelled training nodes).
        sequences: source sequence reader.
        k: sources per target and step (None: all).
        batch_size: seed nodes per batch (the global batch under torchrun).
        shuffle: a new order of the seed nodes every epoch.
        part: the split whose mask selects target entries (None: no target).
        seed: the sampling seed.
        ctx: the process group whose rank takes its share of each batch; None: all of it.
        local: a fine-tuned local part's inputs (:class:`qtlgraph.gnn.distal_local.LocalInputs`):
            each batch's inputs then end with the seed nodes' encoder inputs.
    """

    def __init__(
        self,
        data,
        nodes: torch.Tensor,
        sequences: BinSequences,
        *,
        k: int | None,
        batch_size: int,
        shuffle: bool,
        part: str | None,
        seed: int = 0,
        ctx=None,
        local=None,
    ) -> None:
        from qtlgraph.gnn.sampler import BatchShares, InNeighbourSampler, node_loader

        self.neighbours = InNeighbourSampler(data.edge_index, int(data.num_nodes), k, seed)
        self.order = BatchShares(len(nodes), batch_size, ctx, shuffle=shuffle, seed=seed)
        self.loader = node_loader(data, nodes, self.neighbours, self.order)
        self.sequences, self.part, self.local = sequences, part, local
        self.mask_name = None if part is None else f"{part}_mask"

    def set_epoch(self, epoch: int) -> None:
        self.neighbours.set_epoch(epoch)
        self.order.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator:
        for real, batch in zip(self.order.real, self.loader):
            mask = None if self.mask_name is None else batch[self.mask_name]
            if mask is not None and not real:
                mask = torch.zeros_like(mask)
            inputs, target = batch_inputs(batch, self.sequences, mask)
            if self.local is not None:
                inputs = inputs + self.local.inputs(batch.n_id[: int(batch.batch_size)])
            yield inputs, target


def labelled_nodes(data, part: str) -> torch.Tensor:
    """Nodes of ``part`` with at least one finite target. Shapes: ``(n,)`` long."""
    keep = data[f"{part}_mask"] & torch.isfinite(data.y).any(dim=1)
    return torch.nonzero(keep).flatten()
