import numpy as np
import pytest
import torch
from torch import nn

from qtlgraph.analysis.graph_reach import (
    analytic_reach,
    bfs_depth,
    graph_reach,
    select_sources,
)
from qtlgraph.errors import InputError

BIN = 10_000
# one cell type: bins 0-3 on chromosome 0 (starts 0, 10k, 20k, 30k), bins 4-5 on chromosome 1
STARTS = np.array([0, 1, 2, 3, 0, 1]) * BIN
CHROMS = np.array([0, 0, 0, 0, 1, 1])
EDGES = [(0, 1), (1, 3), (2, 0), (4, 5)]


def tiny_graph(n_cell_types=2):
    """The same six-bin graph for every cell type, node = cell_type * 6 + bin."""
    e = np.array(EDGES).T
    ei = np.concatenate([e + 6 * c for c in range(n_cell_types)], axis=1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6 * n_cell_types, 3, generator=gen, dtype=torch.float64)
    return dict(
        X=x,
        edge_index=torch.from_numpy(ei),
        bin_start=np.tile(STARTS, n_cell_types),
        chrom=np.tile(CHROMS, n_cell_types),
        cell_type=np.repeat(np.arange(n_cell_types), 6),
    )


class ConvStack(nn.Module):
    """``layers`` GraphConv layers (sum aggregation) with tanh, then a 2-output head."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        from torch_geometric.nn import GraphConv

        torch.manual_seed(layers)
        self.convs = nn.ModuleList(GraphConv(3 if i == 0 else 4, 4) for i in range(layers))
        self.head = nn.Linear(4, 2)
        self.double()

    def forward(self, x, edge_index):
        for conv in self.convs:
            x = torch.tanh(conv(x, edge_index))
        return self.head(x)


def _reach(model, g, sources, **kw):
    return graph_reach(
        model,
        g["X"],
        g["edge_index"],
        sources,
        bin_start=g["bin_start"],
        chrom=g["chrom"],
        cell_type=g["cell_type"],
        bin_size=BIN,
        **kw,
    )


def _pairs(r):
    return {(int(r.sources[k]), int(t)) for k, t in zip(r.pair_source, r.target)}


def test_one_layer_reaches_direct_targets_only():
    g = tiny_graph()
    r = _reach(ConvStack(1), g, [0, 2, 4, 7])
    assert _pairs(r) == {(0, 1), (2, 0), (4, 5), (7, 9)}
    assert r.distance.tolist() == [10_000, 20_000, 10_000, 20_000]
    assert r.hops.tolist() == [1, 1, 1, 1]
    assert r.n_affected.tolist() == [1, 1, 1, 1]
    assert r.source_reach.tolist() == [10_000, 20_000, 10_000, 20_000]
    assert r.max_distance == 20_000
    assert r.n_other_chrom == 0 and r.n_other_cell_type == 0
    assert (r.self_effect > 0).all()


def test_two_layers_reach_two_hops_and_nothing_else_moves():
    g = tiny_graph()
    model = ConvStack(2)
    r = _reach(model, g, [0, 2])
    assert _pairs(r) == {(0, 1), (0, 3), (2, 0), (2, 1)}
    order = np.lexsort((r.target, r.pair_source))
    assert r.distance[order].tolist() == [10_000, 30_000, 20_000, 10_000]
    assert r.hops[order].tolist() == [1, 2, 1, 2]
    assert r.max_distance == 30_000
    # directly: every node outside the 2-hop out-neighbourhood of 0 (incl. chromosome 1 and
    # the other cell type) is bit-identical after the perturbation
    x2 = g["X"].clone()
    x2[0] += 1.0
    with torch.no_grad():
        diff = (model(x2, g["edge_index"]) - model(g["X"], g["edge_index"])).abs().amax(dim=1)
    assert set(np.flatnonzero(diff.numpy() > 0)) == {0, 1, 3}


def test_measured_reach_within_analytic_reach():
    g = tiny_graph(1)
    a = analytic_reach(g["edge_index"], g["bin_start"], g["chrom"], 3)
    assert a.per_node[:, 0].tolist() == [10_000, 20_000, 20_000, 0, 10_000, 0]
    assert a.per_node[:, 1].tolist() == [30_000, 20_000, 20_000, 0, 10_000, 0]
    assert a.max_bp.tolist() == [20_000, 30_000, 30_000]
    assert a.n_cross_chrom == 0
    for layers in (1, 2, 3):
        r = _reach(ConvStack(layers), g, [0, 1, 2, 4])
        assert (r.source_reach <= a.per_node[r.sources, layers - 1]).all()


def test_cross_chromosome_edge_has_no_distance():
    g = tiny_graph(1)
    g["edge_index"] = torch.cat([g["edge_index"], torch.tensor([[3], [4]])], dim=1)
    r = _reach(ConvStack(1), g, [3])
    assert r.target.tolist() == [4] and np.isnan(r.distance[0]) and r.n_other_chrom == 1
    assert r.n_affected.tolist() == [0] and r.max_distance == 0
    assert analytic_reach(g["edge_index"], g["bin_start"], g["chrom"], 1).n_cross_chrom == 1


def test_batch_size_and_swap_mode():
    g = tiny_graph()
    model = ConvStack(2)
    one = _reach(model, g, [0, 2, 4, 8], batch_size=1)
    three = _reach(model, g, [0, 2, 4, 8], batch_size=3)
    for a, b in zip(one, three):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
    swap = _reach(model, g, [0, 2, 4, 8], mode="swap", seed=3)
    assert _pairs(swap) == _pairs(one)
    assert not np.allclose(swap.effect, one.effect)


def test_project_gnn_and_its_local_baseline():
    from qtlgraph.gnn.models import GraphRegressor, mean_adjacency

    g = tiny_graph()
    x = g["X"].float()
    torch.manual_seed(0)
    gnn = GraphRegressor(3, 2, hidden=8, layers=2)
    local = GraphRegressor(3, 2, hidden=8, layers=2, message_passing=False)
    kw = dict(bin_start=g["bin_start"], chrom=g["chrom"], cell_type=g["cell_type"], bin_size=BIN)
    r = graph_reach(gnn, x, g["edge_index"], [0, 6], **kw)
    assert _pairs(r) == {(0, 1), (0, 3), (6, 7), (6, 9)}
    adj = graph_reach(
        gnn,
        x,
        g["edge_index"],
        [0, 6],
        batch_size=2,
        **kw,
        prepare_graph=lambda ei, n: mean_adjacency(ei, n, gnn.aggr),
    )
    assert _pairs(adj) == _pairs(r) and np.allclose(adj.effect, r.effect, rtol=1e-5, atol=1e-7)
    r = graph_reach(local, x, g["edge_index"], [0, 6], **kw)
    assert r.target.size == 0 and r.max_distance == 0 and (r.self_effect > 0).all()


def test_bfs_and_source_selection():
    g = tiny_graph(1)
    assert bfs_depth(g["edge_index"], 6, 2, 5).tolist() == [1, 2, 0, 3, -1, -1]
    assert bfs_depth(g["edge_index"], 6, 2, 1).tolist() == [1, -1, 0, -1, -1, -1]
    assert select_sources(g["edge_index"], 6, 10).tolist() == [0, 1, 2, 4]
    assert select_sources(g["edge_index"], 6, 2, seed=1).size == 2


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(sources=[6]), "sources"),
        (dict(mode="shuffle"), "mode"),
        (dict(delta=0.0), "delta"),
        (dict(edge_index=torch.tensor([[0], [9]])), "edge_index"),
        (dict(bin_start=np.zeros(3)), "bin_start"),
    ],
)
def test_bad_input(kw, match):
    g = tiny_graph(1)
    args = dict(sources=[0], edge_index=g["edge_index"], bin_start=g["bin_start"])
    args.update(kw)
    with pytest.raises(InputError, match=match):
        graph_reach(
            ConvStack(1),
            g["X"],
            args.pop("edge_index"),
            args.pop("sources"),
            chrom=g["chrom"],
            bin_size=BIN,
            **args,
        )
