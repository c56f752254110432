import numpy as np

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
