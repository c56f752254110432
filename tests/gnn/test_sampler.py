"""In-neighbour sampling on a graph small enough to count on paper."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.sampler import NodeSamplerInput

from qtlgraph.distributed import DistContext
from qtlgraph.gnn.sampler import BatchShares, InNeighbourSampler, node_loader

# edges (source -> target): 1->0, 2->0, 3->0, 4->0, 0->1, 4->2
EDGES = torch.tensor([[1, 2, 3, 4, 0, 4], [0, 0, 0, 0, 1, 2]])


def _sample(sampler, seeds):
    seeds = torch.as_tensor(seeds)
    return sampler.sample_from_nodes(NodeSamplerInput(torch.arange(len(seeds)), seeds))


def _pairs(out) -> set[tuple[int, int]]:
    return set(zip(out.node[out.row].tolist(), out.node[out.col].tolist()))


def test_all_in_neighbours_in_pyg_order():
    out = _sample(InNeighbourSampler(EDGES, 5, None), [0, 2])
    # seeds first; then sources in order of first use (node 2 is a seed and a source of 0)
    assert out.node.tolist() == [0, 2, 1, 3, 4]
    assert out.row.tolist() == [2, 1, 3, 4, 4]
    assert out.col.tolist() == [0, 0, 0, 0, 1]
    assert out.edge.tolist() == [0, 1, 2, 3, 5]
    assert out.num_sampled_nodes == [2, 3] and out.num_sampled_edges == [5]


def test_cap_keeps_k_distinct_sources_per_target():
    sampler = InNeighbourSampler(EDGES, 5, 2, seed=3)
    seen = set()
    for epoch in range(20):
        sampler.set_epoch(epoch)
        out = _sample(sampler, [0, 2])
        pairs = _pairs(out)
        into0 = {s for s, t in pairs if t == 0}
        assert len(into0) == 2 and into0 <= {1, 2, 3, 4}
        assert {s for s, t in pairs if t == 2} == {4}  # fewer than k: all kept
        assert torch.equal(EDGES[:, out.edge], torch.stack([out.node[out.row], out.node[out.col]]))
        seen |= into0
    assert seen == {1, 2, 3, 4}  # redrawn every epoch, so every edge gets its turn


def test_same_seed_and_epoch_same_sample_other_epoch_differs():
    a, b = InNeighbourSampler(EDGES, 5, 1, seed=7), InNeighbourSampler(EDGES, 5, 1, seed=7)
    draws = []
    for epoch in range(6):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        out_a, out_b = _sample(a, [0]), _sample(b, [0])
        assert torch.equal(out_a.node, out_b.node) and torch.equal(out_a.edge, out_b.edge)
        draws.append(out_a.edge.item())
    assert len(set(draws)) > 1


def test_a_targets_sample_does_not_depend_on_its_batch():
    # what lets each torchrun rank draw its share of a batch as one process draws it
    for epoch in range(5):
        samplers = [InNeighbourSampler(EDGES, 5, 2, seed=5) for _ in range(3)]
        for s in samplers:
            s.set_epoch(epoch)
        together, alone, reordered = (
            _sample(s, seeds) for s, seeds in zip(samplers, ([0, 1, 2], [0], [2, 1, 0]))
        )
        into0 = {p for p in _pairs(together) if p[1] == 0}
        assert len(into0) == 2 and into0 == _pairs(alone)
        assert into0 == {p for p in _pairs(reordered) if p[1] == 0}


def test_k_zero_gives_the_seeds_alone():
    out = _sample(InNeighbourSampler(EDGES, 5, 0), [0, 2])
    assert out.node.tolist() == [0, 2] and out.row.numel() == 0 and out.edge.numel() == 0


def _ctx(rank: int, world: int) -> DistContext:
    return DistContext(rank, world, rank, "cpu", world > 1)


def test_pyg_node_loader_drives_it():
    data = Data(
        x=torch.arange(5.0)[:, None], edge_index=EDGES, edge_attr=torch.arange(6.0)[:, None]
    )
    data.num_nodes = 5
    order = BatchShares(3, 2, None, shuffle=False)
    loader = node_loader(data, torch.tensor([0, 1, 2]), InNeighbourSampler(EDGES, 5, None), order)
    batches = list(loader)
    assert [b.batch_size for b in batches] == [2, 1]
    for b in batches:
        assert torch.equal(b.x[:, 0].long(), b.n_id)  # node features follow the node ids
        assert torch.equal(b.edge_attr[:, 0].long(), b.e_id)  # edge features follow edge ids
        glob = torch.stack([b.n_id[b.edge_index[0]], b.n_id[b.edge_index[1]]])
        assert torch.equal(glob, EDGES[:, b.e_id])
    assert batches[1].n_id.tolist() == [2, 4]


def test_batch_shares_by_hand():
    # 7 items, global batch 4, 3 ranks, no shuffle: batches [0 1 2 3] and [4 5 6]
    shares = [list(BatchShares(7, 4, _ctx(r, 3), shuffle=False)) for r in range(3)]
    assert shares == [[[0, 3], [4]], [[1], [5]], [[2], [6]]]
    # 5 items: the last batch [4] has nothing for ranks 1 and 2, who stand in with item 4
    orders = [BatchShares(5, 4, _ctx(r, 3), shuffle=False) for r in range(3)]
    assert [list(o) for o in orders] == [[[0, 3], [4]], [[1], [4]], [[2], [4]]]
    assert [o.real for o in orders] == [[True, True], [True, False], [True, False]]
    assert list(BatchShares(5, 4, None, shuffle=False)) == [[0, 1, 2, 3], [4]]


@pytest.mark.parametrize("world", [2, 3])
def test_rank_shares_together_are_one_process_batches(world):
    one = BatchShares(23, 6, None, shuffle=True, seed=4)
    ranks = [BatchShares(23, 6, _ctx(r, world), shuffle=True, seed=4) for r in range(world)]
    orders = []
    for epoch in range(3):
        for o in (one, *ranks):
            o.set_epoch(epoch)
        assert all(len(o) == len(one) == 4 for o in ranks)  # every rank: the same steps
        shares = [list(o) for o in ranks]
        for step, batch in enumerate(one):
            mine = [s[step] for s, o in zip(shares, ranks) if o.real[step]]
            assert sorted(sum(mine, [])) == sorted(batch)
        orders.append(sum(list(one), []))
    assert sorted(orders[0]) == list(range(23))
    assert orders[0] != orders[1] != orders[2]  # reshuffled every epoch
    again = BatchShares(23, 6, None, shuffle=True, seed=4)
    again.set_epoch(1)
    assert sum(list(again), []) == orders[1]  # the seed and the epoch fix the order


def test_same_subgraph_as_pyg_neighbor_loader():
    import torch_geometric.typing as pyg_typing

    if not (pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE):
        pytest.skip("pyg-lib / torch-sparse not installed: NeighborLoader cannot sample here")
    from torch_geometric.loader import NeighborLoader

    data = Data(x=torch.arange(5.0)[:, None], edge_index=EDGES, num_nodes=5)
    seeds = torch.tensor([0, 2])
    ref = next(iter(NeighborLoader(data, num_neighbors=[-1], input_nodes=seeds, batch_size=2)))
    ours = next(
        iter(node_loader(data, seeds, InNeighbourSampler(EDGES, 5, None), 2, shuffle=False))
    )
    for b in (ref, ours):
        assert b.n_id[:2].tolist() == [0, 2]

    def glob(b):
        return set(zip(b.n_id[b.edge_index[0]].tolist(), b.n_id[b.edge_index[1]].tolist()))

    assert glob(ref) == glob(ours) and set(ref.n_id.tolist()) == set(ours.n_id.tolist())
