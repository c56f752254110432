import numpy as np
import pytest

from qtlgraph.metrics import bootstrap_ci, paired_bootstrap_diff, pearson, pr_auc, roc_auc, spearman


def test_pr_auc_hand_case():
    # ranks: 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg): AP = (1/1 + 2/3) / 2
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    assert abs(pr_auc(labels, scores) - (1 + 2 / 3) / 2) < 1e-12
    assert abs(roc_auc(labels, scores) - 0.75) < 1e-12


def test_nan_targets_are_masked():
    t = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    p = np.array([1.0, 2.0, -100.0, 4.0, 5.0])
    assert pearson(t, p) == 1.0
    assert spearman(t, p) == 1.0


def test_bootstrap_interval_contains_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = x + rng.normal(size=500)
    ci = bootstrap_ci(pearson, x, y, n_boot=100)
    assert ci.low < ci.value < ci.high
    d = paired_bootstrap_diff(pearson, x, x + 0.1 * rng.normal(size=500), y, n_boot=100)
    assert d.low > 0


def _row_by_row(metric, t, a, b, n_boot, seed, level=0.95):
    """The bootstrap as a plain loop over resamples (what the batched path must equal)."""
    rng = np.random.default_rng(seed)
    draws = []
    for i in rng.integers(0, len(t), size=(n_boot, len(t))):
        d = metric(t[i], a[i]) - (0.0 if b is None else metric(t[i], b[i]))
        draws.append(d)
    draws = np.asarray(draws)
    draws = draws[np.isfinite(draws)]
    q = (1 - level) / 2
    return np.quantile(draws, q), np.quantile(draws, 1 - q)


def test_batched_bootstrap_equals_the_loop_and_ignores_the_block_size(monkeypatch):
    import qtlgraph.metrics as metrics
    from qtlgraph.metrics import mse

    rng = np.random.default_rng(3)
    t = rng.normal(size=57)
    a, b = t + rng.normal(size=57), t + 2 * rng.normal(size=57)
    a[:3] = 1.0  # a few ties; every resample still varies
    for metric in (pearson, mse):
        ci = bootstrap_ci(metric, t, a, n_boot=150, seed=4)
        np.testing.assert_allclose(ci[1:], _row_by_row(metric, t, a, None, 150, 4), atol=1e-12)
        diff = paired_bootstrap_diff(metric, t, a, b, n_boot=150, seed=4)
        np.testing.assert_allclose(diff[1:], _row_by_row(metric, t, a, b, 150, 4), atol=1e-12)
        monkeypatch.setattr(metrics, "BOOT_CHUNK", 57 * 7)  # blocks of 7 resamples
        assert np.allclose(bootstrap_ci(metric, t, a, n_boot=150, seed=4), ci, atol=1e-12)
        monkeypatch.undo()


def test_batched_pearson_is_nan_for_a_constant_resample():
    from qtlgraph.metrics import _pearson_rows

    t = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    p = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.5]])
    r = _pearson_rows(t, p)
    assert np.isnan(r[0]) and r[1] == pytest.approx(pearson(t[1], p[1]))


def test_no_resamples_give_no_interval():
    t = np.arange(10.0)
    ci = bootstrap_ci(pearson, t, t + np.sin(t), n_boot=0)
    assert ci[0] == pytest.approx(pearson(t, t + np.sin(t))) and np.isnan(ci[1]) and np.isnan(ci[2])
