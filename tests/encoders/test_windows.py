import numpy as np
import pytest

from qtlgraph.encoders.baselines import baseline_spec
from qtlgraph.encoders.windows import (
    QuantileMap,
    RandomWindows,
    TrackReader,
    apply_quantile_map,
    fit_quantile_map,
    mark_targets,
)
from qtlgraph.manifest import load_dataset


def test_quantile_map_by_hand():
    qmap = QuantileMap(xp=[[0.0, 1.0], [0.0, 10.0]], fp=[[0.0, 2.0], [0.0, 2.0]])
    out = apply_quantile_map(qmap, np.array([[0.5, 1.0], [5.0, 10.0]]))
    assert out.tolist() == [[1.0, 2.0], [1.0, 2.0]]


def test_mark_targets():
    x = np.array([0.0, 2.0, 2.5, np.nan, -1.0], np.float32)
    assert np.array_equal(mark_targets(x, "bce"), [0, 0, 1, np.nan, 0], equal_nan=True)
    assert np.array_equal(mark_targets(x, "poisson"), [0, 2, 2.5, np.nan, 0], equal_nan=True)


@pytest.fixture
def reader(tiny_dataset):
    return TrackReader(load_dataset(tiny_dataset))


def test_reader_window_shapes_and_nan(reader):
    w = reader.window("chr3", 0, 512)
    assert (
        w.onehot.shape == (4, 512) and w.access.shape == (2, 512) and w.marks.shape == (2, 2, 512)
    )
    assert np.isnan(w.marks[:, :, 100:300]).all() and np.isfinite(w.marks[:, :, 300:]).all()
    assert np.allclose(w.onehot.sum(axis=0), 1)
    off = reader.window("chr3", 5800, 512)  # runs off the end: N and NaN
    assert off.onehot[:, 200:].sum() == 0 and np.isnan(off.marks[:, :, 200:]).all()


def test_fitted_quantile_map_equalises_cell_types(reader):
    qmap = fit_quantile_map(reader, ["chr3", "chr4"], n_regions=50, seed=0)
    reader.qmap = qmap
    x = np.concatenate([reader.access(c, 0, 6000) for c in ("chr3", "chr4")], axis=1)
    reader.qmap = None
    raw = np.concatenate([reader.access(c, 0, 6000) for c in ("chr3", "chr4")], axis=1)
    assert raw[0].max() == 3 and raw[1].max() == 4
    # quantile normalisation (ties averaged) keeps order and equalises the means
    assert np.all(np.diff(x[0][np.argsort(raw[0], kind="stable")]) >= 0)
    assert abs(x[0].mean() - x[1].mean()) < 0.1 * x.mean()


def test_random_windows_reproducible_and_from_train_chroms(reader):
    ds = RandomWindows(
        reader, baseline_spec("C"), ["chr3", "chr4"], n_windows=6, length=512, seed=1
    )
    x, y = ds[3]
    assert x.shape == (6, 512) and y.shape == (4, 512)
    assert np.array_equal(ds[3][1].numpy(), y.numpy(), equal_nan=True)
    draws = [ds.draw(i) for i in range(6)]
    assert all(c in ("chr3", "chr4") and 0 <= s <= 6000 - 512 for c, s, _ in draws)
    ds.set_epoch(2)
    assert [ds.draw(i) for i in range(6)] != draws


def test_scale_augment_scales_the_own_accessibility_channel_only(reader):
    from qtlgraph.encoders.windows import SCALE_RANGE

    common = dict(chroms=["chr3", "chr4"], n_windows=6, length=512, seed=1)
    plain = RandomWindows(reader, baseline_spec("B"), **common)
    scaled = RandomWindows(reader, baseline_spec("B"), scale_augment=True, **common)
    factors = [scaled.scale(i) for i in range(6)]
    assert all(SCALE_RANGE[0] <= f <= SCALE_RANGE[1] for f in factors) and len(set(factors)) == 6
    for i in range(6):
        (x0, y0), (x1, y1) = plain[i], scaled[i]
        np.testing.assert_allclose(x1[4].numpy(), x0[4].numpy() * factors[i], rtol=1e-6)
        assert np.array_equal(x1[[0, 1, 2, 3, 5]].numpy(), x0[[0, 1, 2, 3, 5]].numpy())
        assert np.array_equal(y1.numpy(), y0.numpy(), equal_nan=True)
    a = RandomWindows(reader, baseline_spec("A"), scale_augment=True, **common)
    assert a.scale(0) == 1.0  # no accessibility input: nothing to scale
