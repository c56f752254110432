import pytest
import torch

from gnn.models import LAYERS, GraphRegressor
from gnn_helpers import neighbour_copy_graph


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
