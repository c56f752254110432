"""Filter steps on canonical frames built by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from qtlgraph.errors import InputError
from qtlgraph.filters import (
    ABOVE,
    MISSING,
    PASSED,
    FilterOptions,
    check_options,
    chrom_codes,
    filter_chunk,
    row_status,
    status_counts,
)
from qtlgraph.genome import BinIndex, Genome

INDEX = BinIndex(Genome("toy", ("chr1", "chr2"), (100_000, 50_000)), 10_000)
ALL = frozenset({"pvalue", "fdr", "beta"})


def _frame(rows: list[tuple]) -> pl.LazyFrame:
    cols = [
        "snp_chrom",
        "snp_pos",
        "target_chrom",
        "target_start",
        "target_end",
        "pvalue",
        "fdr",
        "beta",
    ]
    df = pl.DataFrame(rows, schema=cols, orient="row")
    return df.with_columns(
        pl.lit(None, pl.Float64).alias("se"),
        pl.lit("v").alias("variant_id"),
        pl.lit("p").alias("phenotype_id"),
    ).lazy()


def test_each_reason_counted_once():
    rows = [
        ("1", 15_000, "chr1", 52_000, 54_000, 1e-5, 0.01, 0.5),  # kept: bin 1 -> bin 5
        ("1", 15_000, "1", 52_000, 54_000, 1e-5, None, 0.5),  # missing_value
        ("1", 15_000, "1", 52_000, 54_000, 1e-5, float("nan"), 0.5),  # missing_value
        ("1", 15_000, "1", 52_000, 54_000, 0.5, 0.5, 0.5),  # above_threshold
        ("1", None, "1", 52_000, 54_000, 1e-5, 0.01, 0.5),  # bad_position
        ("chrUn", 15_000, "1", 52_000, 54_000, 1e-5, 0.01, 0.5),  # unknown_chrom
        ("1", 0, "1", 52_000, 54_000, 1e-5, 0.01, 0.5),  # off_chrom_end (pos 0)
        ("2", 5_000, "1", 52_000, 54_000, 1e-5, 0.01, 0.5),  # other_chrom
        ("1", 95_000, "1", 1_000, 2_000, 1e-5, 0.01, 0.5),  # too_far (> 50 kb)
    ]
    links = filter_chunk(_frame(rows), INDEX, FilterOptions(max_distance=50_000), ALL)
    assert links.rows == 9
    assert links.counts == {
        "missing_value": 2,
        "above_threshold": 1,
        "bad_position": 1,
        "unknown_chrom": 1,
        "off_chrom_end": 1,
        "other_chrom": 1,
        "too_far": 1,
    }
    assert links.frame["source_bin"].to_list() == [1]
    assert links.frame["target_bin"].to_list() == [5]
    assert links.frame["distance"].to_list() == [53_000 - 15_000]


def test_bin_edges_one_based():
    # 1-based position 10000 is the last base of bin 0; 10001 the first of bin 1
    rows = [
        ("1", 10_000, "1", 9_999, 10_000, 1e-5, 0.01, 0.1),
        ("1", 10_001, "1", 10_000, 10_001, 1e-5, 0.01, 0.1),
    ]
    links = filter_chunk(_frame(rows), INDEX, FilterOptions(), ALL)
    assert links.frame["source_bin"].to_list() == [0, 1]
    assert links.frame["target_bin"].to_list() == [0, 1]
    assert links.frame["distance"].to_list() == [0, 0]


def test_chrom_codes_mixed_prefixes():
    codes = chrom_codes(pl.Series(["1", "chr1", "CHR2", "chrX", "2"]), INDEX)
    assert codes.tolist() == [0, 0, 1, -1, 1]


def test_chrom_codes_of_categorical_names_match_strings():
    names = pl.Series(["2", None, "chr1", "chrUn", "2", "CHR1", None])
    expected = [1, -1, 0, -1, 1, 0, -1]
    assert chrom_codes(names, INDEX).tolist() == expected
    assert chrom_codes(names.cast(pl.Categorical), INDEX).tolist() == expected
    assert chrom_codes(names.head(0).cast(pl.Categorical), INDEX).tolist() == []


def test_row_status_orders_missing_before_above():
    rows = [
        ("1", 15_000, "1", 52_000, 54_000, 1e-5, 0.01, 0.5),  # passed
        ("1", 15_000, "1", 52_000, 54_000, 1e-5, 0.5, 0.5),  # above
        ("1", 15_000, "1", 52_000, 54_000, float("nan"), 0.5, 0.5),  # NaN p, above: missing
        ("1", 15_000, "1", 52_000, 54_000, 1e-5, 0.01, None),  # missing beta
        ("1", 15_000, "1", 52_000, 54_000, 1e-5, 1.0, 0.5),  # FDR 1 is valid, not below
    ]
    status = _frame(rows).select(row_status(ALL, FilterOptions())).collect()["status"]
    assert status.to_list() == [PASSED, ABOVE, MISSING, MISSING, ABOVE]
    assert status_counts(status) == {"missing_value": 2, "above_threshold": 2}


def test_check_options():
    with pytest.raises(InputError, match="--pvalue"):
        check_options(FilterOptions(), frozenset({"pvalue", "beta"}), "x.txt")
    with pytest.raises(InputError, match="no p-values"):
        check_options(FilterOptions(pvalue=0.01), frozenset({"fdr"}), "x.txt")
    with pytest.raises(InputError, match="--target-mode"):
        check_options(FilterOptions(target_mode="nearest"), ALL, "x.txt")
    check_options(FilterOptions(pvalue=1e-5), frozenset({"pvalue"}), "x.txt")


def test_impossible_statistics_and_positions_are_dropped_under_their_reason():
    good = ("1", 15_000, "1", 52_000, 54_000, 1e-5, 0.01, 0.5)
    rows = [
        good,
        ("1", 15_000, "1", 52_000, 54_000, 1e-5, 0.01, float("inf")),  # beta inf
        ("1", 15_000, "1", 52_000, 54_000, 1e-5, float("-inf"), 0.5),  # FDR -inf
        ("1", 15_000, "1", 52_000, 54_000, -0.5, 0.01, 0.5),  # p < 0
        ("1", 15_000, "1", 52_000, 54_000, 1.5, 0.01, 0.5),  # p > 1
        ("1", -15_000, "1", 52_000, 54_000, 1e-5, 0.01, 0.5),  # negative SNP position
        ("1", 15_000, "1", -2_000, 54_000, 1e-5, 0.01, 0.5),  # negative target start
        ("1", 15_000, "1", 54_000, 52_000, 1e-5, 0.01, 0.5),  # end before start
    ]
    links = filter_chunk(_frame(rows), INDEX, FilterOptions(), ALL)
    assert links.counts["missing_value"] == 4
    assert links.counts["bad_position"] == 3
    assert links.counts["off_chrom_end"] == 0
    assert links.frame.height == 1 and np.isfinite(links.frame["abs_beta"].to_numpy()).all()


def test_negative_or_nan_se_is_dropped_but_absent_se_is_not():
    rows = [("1", 15_000, "1", 52_000, 54_000, 1e-5, 0.01, 0.5)] * 3
    frame = _frame(rows).with_columns(pl.Series("se", [None, -1.0, float("nan")]))
    links = filter_chunk(frame, INDEX, FilterOptions(), ALL)
    assert links.counts["missing_value"] == 2 and links.frame.height == 1
