import math

import numpy as np
import pandas as pd
import pytest

from qtlgraph.gnn.evaluate import metrics_table, paired_table, stratum_masks


def test_strata_hand_case():
    m = stratum_masks(np.array([0, 1, 10, 11, 100, 101, 0]))
    assert m["all"].sum() == 7
    assert m["linked"].tolist() == [0, 1, 1, 1, 1, 1, 0]
    assert m["deg0"].tolist() == [1, 0, 0, 0, 0, 0, 1]
    assert m["deg1-10"].tolist() == [0, 1, 1, 0, 0, 0, 0]
    assert m["deg11-100"].tolist() == [0, 0, 0, 1, 1, 0, 0]
    assert m["deg>100"].tolist() == [0, 0, 0, 0, 0, 1, 0]


def _frame():
    # 8 bins of one cell type and mark; target NaN in the last bin
    return pd.DataFrame(
        {
            "cell_type": "mono",
            "mark": "H3K27ac",
            "bin": np.arange(8),
            "target": [0.0, 1.0, 2.0, 3.0, 0.0, 1.5, 2.5, np.nan],
            "pred": [0.0, 1.0, 2.0, 4.0, 1.0, 1.5, 2.0, 9.0],
            "in_degree": [0, 0, 0, 0, 3, 3, 3, 200],
        }
    )


def test_metrics_table_hand_case():
    rows = {r["stratum"]: r for r in metrics_table(_frame(), n_boot=50)}
    assert [rows[s]["n"] for s in ("all", "linked", "deg0", "deg1-10", "deg11-100", "deg>100")] == [
        7,
        3,
        4,
        3,
        0,
        0,
    ]
    # deg0: errors 0, 0, 0, 1 -> MSE 0.25; linked: errors 1, 0, 0.5 -> (1 + 0.25) / 3
    assert rows["deg0"]["mse"] == pytest.approx(0.25)
    assert rows["linked"]["mse"] == pytest.approx(1.25 / 3)
    assert rows["deg0"]["pearson"] == pytest.approx(np.corrcoef([0, 1, 2, 3], [0, 1, 2, 4])[0, 1])
    # binarised at log1p(2) ~ 1.0986: deg0 positives are bins 2, 3, ranked top by pred
    assert rows["deg0"]["pr_auc"] == pytest.approx(1.0)
    assert rows["all"]["pearson_low"] <= rows["all"]["pearson"] <= rows["all"]["pearson_high"]
    assert math.isnan(rows["deg11-100"]["pearson"])


def test_paired_difference_sign():
    a = _frame()
    b = a.assign(pred=-a["pred"])  # anti-correlated, far off
    rows = {r["stratum"]: r for r in paired_table(a, b, n_boot=50)}
    r_a = np.corrcoef(a["target"][:7], a["pred"][:7])[0, 1]
    assert rows["all"]["d_pearson"] == pytest.approx(2 * r_a)
    assert rows["all"]["d_pearson_low"] > 0
    assert rows["all"]["d_mse"] < 0
    same = {r["stratum"]: r for r in paired_table(a, a, n_boot=20)}
    assert same["all"]["d_pearson"] == 0.0 and same["all"]["d_mse_high"] == 0.0
