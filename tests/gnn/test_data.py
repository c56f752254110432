import numpy as np
import pytest
import torch

from qtlgraph.errors import InputError
from qtlgraph.gnn.data import (
    N_BASE_FEATURES,
    CellEdges,
    build_data,
    edge_features,
    neighbor_edges,
    qtl_in_degree,
)


def _edges(src, dst, typ):
    n = len(src)
    attr = np.zeros((n, 5))
    attr[:, 4] = 1000.0
    return CellEdges(np.array(src), np.array(dst), np.array(typ), attr)


def test_disjoint_union_offsets_and_masks():
    C, N = 2, 5
    emb = np.arange(C * N * 3, dtype=np.float32).reshape(C, N, 3)
    acc = np.ones((C, N, 1), np.float32)
    y = np.full((C, N, 2), np.nan, np.float32)
    masks = {
        "train": np.array([1, 1, 1, 0, 0], bool),
        "test": np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], bool),
    }
    edges = [_edges([0, 1], [2, 2], [0, 1]), _edges([4], [3], [0])]
    data = build_data(emb, acc, y, masks, edges, edge_types=["H3K27ac", "H3K4me1"])
    assert data.num_nodes == 10
    assert data.x.shape == (10, 4)
    assert data.x[7, :3].tolist() == emb[1, 2].tolist()
    assert data.edge_index.tolist() == [[0, 1, 9], [2, 2, 8]]
    assert data.train_mask.tolist() == [1, 1, 1, 0, 0] * 2
    assert data.test_mask.tolist() == [0, 0, 0, 1, 1] + [0] * 5
    assert data.cell_type.tolist() == [0] * 5 + [1] * 5
    assert data.bin.tolist() == list(range(5)) * 2
    # bin 2 of cell type 0 has two distinct sources; bin 3 of cell type 1 one
    assert data.in_degree.tolist() == [0, 0, 2, 0, 0, 0, 0, 0, 1, 0]
    assert data.edge_attr.shape == (3, N_BASE_FEATURES + 2)


def test_node_features_from_per_cell_arrays_and_shared_columns(tmp_path):
    C, N = 2, 4
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(C, N, 3)).astype(np.float16)
    emb[1, 2, 0] = np.nan  # NaN -> 0, as before
    np.save(tmp_path / "emb.npy", emb)
    mapped = np.load(tmp_path / "emb.npy", mmap_mode="r")
    words = rng.normal(size=(N, 2))
    acc = rng.normal(size=(C, N, 1))
    y = np.zeros((C, N, 1), np.float32)
    masks, edges = {"train": np.ones(N, bool)}, [_edges([0], [1], [0])] * C
    data = build_data(
        [mapped[c] for c in range(C)], acc, y, masks, edges, edge_types=["m"], shared=words
    )
    whole = np.concatenate([emb.astype(np.float32), np.repeat(words[None], C, 0), acc], axis=2)
    expected = np.nan_to_num(whole.reshape(C * N, -1).astype(np.float32))
    assert data.x.dtype == torch.float32 and np.array_equal(data.x.numpy(), expected)


def test_edge_features_hand_case():
    attr = np.array([[np.log1p(3), 8.0, 0.5, np.nan, -1000.0]])
    f = edge_features(attr, np.array([1]), 2)
    assert f[0, 0] == pytest.approx(np.log1p(3))
    assert f[0, 1] == pytest.approx(0.8)
    assert f[0, 2] == pytest.approx(0.5) and f[0, 3] == 0.0  # NaN -> 0
    assert f[0, 4] == -1.0
    # log10(1001) ~ 3: the basis peaks at the centre 3 (column 5 + 2)
    assert np.argmax(f[0, 5:11]) == 2
    assert f[0, -2:].tolist() == [0.0, 1.0]


def test_neighbor_edges_stay_on_chromosome():
    e = neighbor_edges(np.array([0, 0, 0, 1, 1]), type_id=2, bin_size=10)
    pairs = sorted(zip(e.source.tolist(), e.target.tolist()))
    assert pairs == [(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3)]
    assert set(e.type.tolist()) == {2}


def test_in_degree_counts_distinct_sources_of_qtl_types_only():
    e = _edges([0, 0, 1, 3], [2, 2, 2, 2], [0, 1, 1, 2])
    assert qtl_in_degree(e, 4, [0, 1]).tolist() == [0, 0, 2, 0]


def test_bad_shapes_raise():
    with pytest.raises(InputError, match="targets"):
        build_data(
            np.zeros((1, 3, 2)),
            np.zeros((1, 3, 1)),
            np.zeros((1, 4, 1)),
            {},
            [_edges([], [], [])],
            edge_types=["a"],
        )
    with pytest.raises(InputError, match="outside"):
        build_data(
            np.zeros((1, 3, 2)),
            np.zeros((1, 3, 1)),
            np.zeros((1, 3, 1)),
            {},
            [_edges([5], [0], [0])],
            edge_types=["a"],
        )


def test_standardise_uses_training_rows_only():
    from qtlgraph.gnn.data import standardise

    x = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 7.0]])
    out = standardise(x, np.array([True, True, False]))
    # column 0: mean 2, sd 1 over the first two rows; column 1 constant there: centred only
    assert out[:, 0].tolist() == [-1.0, 1.0, 98.0]
    assert out[:, 1].tolist() == [0.0, 0.0, 2.0]
