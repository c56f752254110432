"""Node statistics (the local-stats model's extra inputs) and withheld edge attributes."""

import numpy as np
import pytest
import torch

from qtlgraph.gnn.data import CellEdges, build_data, node_stats

TYPES = ["H3K27ac", "H3K4me1"]
STATS = [
    "in_degree",
    "out_degree",
    "n_qtl",
    "max_abs_beta",
    "mean_abs_beta",
    "max_neglog10_p",
    "mean_log10_distance",
]


def _five_edges() -> CellEdges:
    """4 bins, 5 edges; attr = log1p(n_qtl), -log10 p, mean |beta|, max |beta|, distance."""
    nan = np.nan
    rows = [  # source, target, type, n_qtl, -log10 p, mean |b|, max |b|, distance
        (0, 2, 0, 3, 4.0, 0.2, 0.5, 999.0),
        (1, 2, 0, 1, 2.0, 0.4, 0.4, -99.0),
        (3, 2, 1, 2, 6.0, 0.1, 0.3, 9.0),
        (2, 0, 0, 1, nan, nan, nan, 0.0),
        (0, 3, 1, 4, 1.0, 0.6, 0.9, 99_999.0),
    ]
    r = np.array(rows, dtype=float)
    attr = np.column_stack([np.log1p(r[:, 3]), r[:, 4:]])
    return CellEdges(r[:, 0].astype(int), r[:, 1].astype(int), r[:, 2].astype(int), attr)


def _by_hand() -> np.ndarray:
    """Rows = bins 0-3; columns = STATS for H3K27ac, then STATS for H3K4me1."""
    l1 = np.log1p
    k27 = [
        [l1(1), l1(1), l1(1), 0.0, 0.0, 0.0, 0.0],  # in: 2->0 (NaN betas, p; distance 0)
        [0.0, l1(1), 0.0, 0.0, 0.0, 0.0, 0.0],  # only a source
        [l1(2), l1(1), l1(4), 0.5, 0.3, 4.0, 2.5],  # in: 0->2, 1->2; log10 1000, 100
        [0.0] * 7,
    ]
    k4 = [
        [0.0, l1(1), 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0] * 7,
        [l1(1), 0.0, l1(2), 0.3, 0.1, 6.0, 1.0],
        [l1(1), l1(1), l1(4), 0.9, 0.6, 1.0, 5.0],
    ]
    return np.concatenate([np.array(k27), np.array(k4)], axis=1)


def _data(**kw):
    n = 4
    emb = np.arange(n * 2, dtype=np.float32).reshape(1, n, 2)
    acc = np.ones((1, n, 1), np.float32)
    y = np.zeros((1, n, 1), np.float32)
    masks = {"train": np.ones(n, bool)}
    return build_data(emb, acc, y, masks, [_five_edges()], edge_types=TYPES, **kw)


def test_node_stats_by_hand():
    found = node_stats(_five_edges(), 4, TYPES)
    assert found.names == [f"{s}:{t}" for t in TYPES for s in STATS]
    np.testing.assert_allclose(found.values, _by_hand(), rtol=1e-6, atol=1e-6)


def test_local_stats_model_receives_exactly_the_named_columns():
    data = _data(stats=True)
    assert data.node_stat_names == [f"{s}:{t}" for t in TYPES for s in STATS]
    # embedding (2) + accessibility (1) first, then the statistics in the named order
    assert data.x.shape == (4, 3 + 14)
    np.testing.assert_allclose(data.x[:, 3:].numpy(), _by_hand(), rtol=1e-6, atol=1e-6)
    assert torch.equal(data.x[:, :3], _data().x)  # the other columns are untouched
    assert _data().node_stat_names == []


def test_edge_attr_none_keeps_type_only_and_degrees_only():
    data = _data(edge_attr="none", stats=True)
    # edges carry their existence and type: the one-hot type is all that is left
    assert data.edge_attr.tolist() == [[1, 0], [1, 0], [0, 1], [1, 0], [0, 1]]
    assert data.node_stat_names == [f"{s}:{t}" for t in TYPES for s in STATS[:2]]
    hand = _by_hand()[:, [0, 1, 7, 8]]
    np.testing.assert_allclose(data.x[:, 3:].numpy(), hand, rtol=1e-6)
    assert torch.equal(data.edge_index, _data().edge_index)
    assert torch.equal(data.in_degree, _data().in_degree)


@pytest.mark.parametrize("layer", ["graphconv", "gatv2", "transformer"])
def test_models_run_without_edge_attributes(layer):
    from qtlgraph.gnn.models import GraphRegressor

    data = _data(edge_attr="none")
    torch.manual_seed(0)
    m = GraphRegressor(3, 1, hidden=4, layer=layer, edge_dim=data.edge_attr.shape[1]).eval()
    out = m(data.x, data.edge_index, data.edge_attr)
    assert out.shape == (4, 1) and torch.isfinite(out).all()


def test_bad_edge_attr_mode():
    from qtlgraph.errors import InputError

    with pytest.raises(InputError, match="edge-attr"):
        _data(edge_attr="some")
