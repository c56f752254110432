import pytest
import torch
from gnn_helpers import neighbour_copy_graph

from qtlgraph.gnn.models import LAYERS, GraphRegressor, mean_adjacency


@pytest.mark.parametrize("layer", LAYERS)
def test_no_edges_gnn_equals_local_with_same_weights(layer):
    data = neighbour_copy_graph(n=50)
    kw = dict(hidden=8, layers=2, layer=layer, edge_dim=data.edge_attr.shape[1])
    torch.manual_seed(0)
    local = GraphRegressor(data.x.shape[1], 1, message_passing=False, **kw).eval()
    gnn = GraphRegressor(data.x.shape[1], 1, **kw).eval()
    gnn.load_state_dict(local.state_dict())
    empty = data.edge_index[:, :0]
    out_gnn = gnn(data.x, empty, data.edge_attr[:0])
    out_local = local(data.x, data.edge_index, data.edge_attr)  # edges ignored
    assert torch.equal(out_gnn, out_local)
    # and with the edges the GNN's output differs
    assert not torch.allclose(gnn(data.x, data.edge_index, data.edge_attr), out_local)


def test_output_shape_and_unknown_layer():
    m = GraphRegressor(5, 2, hidden=4, layers=3)
    x = torch.randn(7, 5)
    ei = torch.tensor([[0, 1], [2, 3]])
    assert m(x, ei).shape == (7, 2)
    with pytest.raises(ValueError, match="layer"):
        GraphRegressor(5, 2, layer="gcn")


def test_adjacency_values_by_hand():
    # node 2 has sources 0 and 1; node 0 has source 2; node 1 none
    ei = torch.tensor([[0, 1, 2], [2, 2, 0]])
    h = torch.tensor([[1.0], [3.0], [10.0]])
    assert (mean_adjacency(ei, 3, "mean") @ h).flatten().tolist() == [10.0, 0.0, 2.0]
    assert (mean_adjacency(ei, 3, "sum") @ h).flatten().tolist() == [10.0, 0.0, 4.0]
    sqrt = (mean_adjacency(ei, 3, "sqrt") @ h).flatten()
    assert torch.allclose(sqrt, torch.tensor([10.0, 0.0, 4.0 / 2**0.5]))
    with pytest.raises(ValueError, match="aggr"):
        mean_adjacency(ei, 3, "max")


@pytest.mark.parametrize("aggr", ["mean", "sqrt", "sum"])
@pytest.mark.parametrize("layer", ["graphconv", "sage"])
def test_prebuilt_adjacency_equals_edge_index(layer, aggr):
    data = neighbour_copy_graph(n=30)
    torch.manual_seed(0)
    m = GraphRegressor(data.x.shape[1], 1, hidden=8, layer=layer, aggr=aggr).eval()
    adj = mean_adjacency(data.edge_index, data.num_nodes, aggr)
    assert torch.allclose(m(data.x, adj), m(data.x, data.edge_index), atol=1e-6)


def test_no_stale_graph_between_calls():
    """Two different graphs through one model give the answers of two fresh models."""
    torch.manual_seed(0)
    m = GraphRegressor(3, 1, hidden=8).eval()
    x = torch.randn(4, 3)
    ei_a = torch.tensor([[0, 1], [2, 3]])
    ei_b = ei_a.clone()
    ei_b[0] = torch.tensor([3, 2])  # same shape, rewired in place of a copy
    out_a, out_b = m(x, ei_a), m(x, ei_b)
    assert not torch.allclose(out_a[2:], out_b[2:])
    ei_a[0] = torch.tensor([3, 2])  # mutate the first graph in place: now equal to b
    assert torch.equal(m(x, ei_a), out_b)


def test_attention_layer_refuses_adjacency():
    m = GraphRegressor(3, 1, hidden=4, layer="gatv2", edge_dim=2)
    ei = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="edge_index"):
        m(torch.randn(2, 3), mean_adjacency(ei, 2), torch.randn(1, 2))


@pytest.mark.parametrize("layer", ["graphconv", "sage"])
def test_adjacency_conv_equals_the_stock_layer_with_gradients(layer):
    """The fused path (cached transpose, root term in one addmm) gives the stock layer's
    outputs and gradients."""
    from qtlgraph.gnn.models import adjacency_conv, make_conv

    torch.manual_seed(0)
    conv = make_conv(layer, 8, 0)
    ei = torch.randint(0, 40, (2, 150))
    adj = mean_adjacency(ei, 40, "sqrt")
    h = torch.randn(40, 8, requires_grad=True)
    ours = adjacency_conv(conv, h, adj)
    (g_ours,) = torch.autograd.grad(ours.square().sum(), h)
    stock = conv(h, adj)
    (g_stock,) = torch.autograd.grad(stock.square().sum(), h)
    assert torch.allclose(ours, stock, atol=1e-5)
    assert torch.allclose(g_ours, g_stock, atol=1e-5)
    # the cached transpose is the adjacency's transpose
    assert torch.equal(adj.transposed.to_dense(), adj.to_dense().t())


def test_adjacency_matmul_builds_a_missing_transpose():
    from qtlgraph.gnn.models import adjacency_matmul

    dense = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 3.0, 4.0]])
    adj = dense.to_sparse_csr()  # built elsewhere: no transpose attached
    h = torch.randn(3, 2, requires_grad=True)
    adjacency_matmul(adj, h).sum().backward()
    assert torch.allclose(h.grad, dense.t() @ torch.ones(3, 2))


@pytest.mark.parametrize("layer", ["graphconv", "sage"])
def test_model_output_equals_stock_layers_called_directly(layer):
    """The whole regressor, through the fused adjacency path, against the same weights run
    block by block through the stock PyG layers."""
    data = neighbour_copy_graph(n=60)
    torch.manual_seed(1)
    m = GraphRegressor(data.x.shape[1], 1, hidden=8, layers=2, layer=layer).eval()
    adj = mean_adjacency(data.edge_index, data.num_nodes, "sqrt")
    h = m.act(m.inp(data.x))
    for conv in m.convs:
        h = h + m.act(conv(h, adj))
    assert torch.allclose(m(data.x, adj), m.head(h), atol=1e-5)
