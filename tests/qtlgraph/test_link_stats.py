"""EdgeStats: folding links in small batches gives the edges of one batch, duplicates too."""

import numpy as np
import polars as pl
import pytest

from qtlgraph.graph import aggregate_edges
from qtlgraph.link_stats import EdgeStats

SCHEMA = {
    "source_bin": pl.Int64,
    "target_bin": pl.Int64,
    "pvalue": pl.Float64,
    "abs_beta": pl.Float32,
    "distance": pl.Int64,
    "row_hash": pl.UInt64,
}


def _links(rows):
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


# (source, target, p, |beta|, distance, hash): rows 4 and 6 repeat rows 1 and 3
ROWS = [
    (1, 5, 0.01, 0.5, 100, 11),
    (1, 5, 0.02, 0.25, -300, 12),
    (2, 5, 0.03, None, 50, 13),
    (1, 5, 0.01, 0.5, 100, 11),
    (2, 7, 0.04, 1.0, 10, 14),
    (2, 5, 0.03, None, 50, 13),
]


def test_edges_by_hand():
    stats = EdgeStats(0, overlap=False, batch_rows=1)
    for row in ROWS:
        stats.add(_links([row]))
    edges, n_dup = stats.finish()
    assert n_dup == 2
    assert edges["target_bin"].to_list() == [5, 5, 7]  # sorted by target, then source
    assert edges["source_bin"].to_list() == [1, 2, 2]
    assert edges["n_qtl"].to_list() == [2, 1, 1]
    assert edges["min_pvalue"].to_list() == [0.01, 0.03, 0.04]
    assert edges["mean_abs_beta"].to_list() == [0.375, None, 1.0]  # null beta stays null
    assert edges["max_abs_beta"].to_list() == [0.5, None, 1.0]
    assert edges["mean_distance"].to_list() == [-100.0, 50.0, 10.0]


@pytest.mark.parametrize("batch_rows", [1, 7, 10_000])
def test_batches_agree_with_one_aggregation(batch_rows):
    rng = np.random.default_rng(0)
    n = 3000
    frame = pl.DataFrame(
        {
            "source_bin": rng.integers(0, 20, n),
            "target_bin": rng.integers(0, 20, n),
            "pvalue": rng.random(n),
            "abs_beta": rng.random(n).astype(np.float32),
            "distance": rng.integers(-1000, 1000, n),
            "row_hash": rng.integers(0, 2000, n).astype(np.uint64),  # many duplicates
        }
    )
    # duplicates share every column, as rows with equal hashes do
    frame = frame.group_by("row_hash", maintain_order=True).first().select(list(SCHEMA))
    frame = pl.concat([frame, frame.sample(500, seed=1)])
    stats = EdgeStats(0, overlap=False, batch_rows=batch_rows)
    for chunk in frame.iter_slices(97):
        stats.add(chunk)
    edges, n_dup = stats.finish()
    assert n_dup == 500
    unique = frame.unique("row_hash", keep="first", maintain_order=True)
    expected = aggregate_edges(unique.drop("row_hash").with_columns(edge_type=pl.lit(0, pl.Int32)))
    assert edges.select("edge_type", "source_bin", "target_bin", "n_qtl").equals(
        expected.select("edge_type", "source_bin", "target_bin", "n_qtl")
    )
    for col in ("min_pvalue", "mean_abs_beta", "max_abs_beta", "mean_distance"):
        np.testing.assert_allclose(edges[col].to_numpy(), expected[col].to_numpy(), rtol=1e-6)


def test_overlap_links_of_one_row_are_not_duplicates():
    stats = EdgeStats(1, overlap=True, batch_rows=1)
    stats.add(_links([(1, 5, 0.01, 0.5, 100, 11), (1, 6, 0.01, 0.5, 100, 11)]))
    stats.add(_links([(1, 5, 0.01, 0.5, 100, 11)]))  # a repeat of the row: dropped
    edges, n_dup = stats.finish()
    assert n_dup == 1 and edges["n_qtl"].to_list() == [1, 1]
    assert edges["edge_type"].to_list() == [1, 1]


def test_rollback_forgets_what_came_after_the_checkpoint():
    stats = EdgeStats(0, overlap=False, batch_rows=2)
    stats.add(_links(ROWS[:2]))
    mark = stats.checkpoint()
    stats.add(_links(ROWS[2:]))  # two repeats among these, one folded already
    stats.rollback(mark)
    stats.add(_links([ROWS[3], ROWS[4]]))  # ROWS[3] repeats ROWS[0]
    edges, n_dup = stats.finish()
    assert n_dup == 1
    assert list(zip(edges["source_bin"], edges["target_bin"], edges["n_qtl"])) == [
        (1, 5, 2),
        (2, 7, 1),
    ]


def test_no_links():
    assert EdgeStats(0, overlap=False).finish() == (None, 0)
