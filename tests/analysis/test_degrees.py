"""Degree analysis on hand-counted degree tables and seeded power-law samples."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from qtlgraph.analysis import degrees as dg
from qtlgraph.analysis.degree_report import HubRule, analyse_degrees
from qtlgraph.analysis.powerlaw_fit import fit_power_law, fit_record
from qtlgraph.errors import InputError

# six 10 kb bins; bin 4 is a hub (120 distinct source bins, 150 QTL rows)
CONNECTED = [0, 3, 3, 0, 150, 1]
BINNED = [0, 1, 2, 0, 120, 1]


def write_graph(path, name="g", connected=CONNECTED, binned=BINNED, extra=None, drop=None):
    path.mkdir(parents=True)
    n = len(connected)
    frame = pd.DataFrame(
        {
            "chrom": ["chr1"] * n,
            "start": np.arange(n) * 10_000,
            "end": np.arange(1, n + 1) * 10_000,
            "connected": connected,
            "binned": binned,
        }
    )
    for column, values in (extra or {}).items():
        frame[column] = values
    if drop:
        frame = frame.drop(columns=[drop])
    frame.to_csv(path / "degrees.tsv.gz", sep="\t", index=False)
    if name is not None:
        (path / "build.json").write_text(json.dumps({"name": name, "bin_size": 10_000}))
    return path


def test_read_degrees_name_types_and_fallback(tmp_path):
    extra = {
        "connected_K27ac": [0, 3, 0, 0, 100, 1],
        "binned_K27ac": [0, 1, 0, 0, 90, 1],
        "connected_loop": [0, 0, 3, 0, 50, 0],
        "binned_loop": [0, 0, 2, 0, 30, 0],
    }
    table = dg.read_degrees(write_graph(tmp_path / "a", name="mono K27ac", extra=extra))
    assert table.name == "mono K27ac"
    assert table.edge_types == ("K27ac", "loop")
    assert table.frame["binned"].tolist() == BINNED
    assert dg.read_degrees(write_graph(tmp_path / "dirname", name=None)).name == "dirname"


def test_read_degrees_missing_file_and_column(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="degrees.tsv.gz: file not found"):
        dg.read_degrees(tmp_path / "empty")
    with pytest.raises(InputError, match="missing column 'binned'"):
        dg.read_degrees(write_graph(tmp_path / "nobinned", drop="binned"))


def test_read_degrees_negative_count_names_row(tmp_path):
    with pytest.raises(InputError, match="column 'connected' row 2"):
        dg.read_degrees(write_graph(tmp_path / "neg", connected=[0, -1, 3, 0, 150, 1]))


def test_histogram_counts_by_hand():
    hist = dg.degree_histogram(np.array(CONNECTED))
    assert hist["links"].tolist() == [0, 1, 3, 150]
    assert hist["regions"].tolist() == [2, 1, 2, 1]
    frame = pd.DataFrame({"connected": CONNECTED, "binned": BINNED})
    table = dg.histogram_table(frame)
    assert table["links"].tolist() == [0, 1, 2, 3, 120, 150]
    assert table["connected"].tolist() == [2, 1, 0, 2, 0, 1]
    assert table["binned"].tolist() == [2, 2, 1, 0, 1, 0]


def test_fractions_by_hand():
    frac = dg.degree_fractions(np.array(BINNED), threshold=100)
    assert (frac.n_regions, frac.n_none, frac.n_over) == (6, 2, 1)
    assert frac.fraction_none == pytest.approx(2 / 6)
    assert frac.fraction_over == pytest.approx(1 / 6)
    assert dg.degree_fractions(np.array(BINNED), threshold=1).n_over == 2  # 2 and 120, not the 1s


def test_hubs_bed_by_hand():
    frame = pd.DataFrame(
        {
            "chrom": ["chr1"] * 6,
            "start": np.arange(6) * 10,
            "end": np.arange(1, 7) * 10,
            "connected": CONNECTED,
            "binned": BINNED,
        }
    )
    hubs = dg.hub_regions(frame, "binned", 100)
    assert hubs.values.tolist() == [["chr1", 40, 50, "hub1", 120, "."]]
    assert dg.hub_regions(frame, "connected", 2)["start"].tolist() == [10, 20, 40]
    # quantile rule: the 0.5-quantile of the non-zero binned degrees (1, 1, 2, 120) is 1.5
    assert dg.hub_threshold(np.array(BINNED), quantile=0.5) == pytest.approx(1.5)


def test_summary_column_by_hand():
    frame = pd.DataFrame({"connected": CONNECTED, "binned": BINNED})
    rows = dg.summary_column(frame, {})
    assert rows["Connected QTLs"] == 157 and rows["QTL bins"] == 124
    assert rows["Connected regions"] == 4 and rows["All regions"] == 6
    assert rows["Avg QTLs per connected region"] == pytest.approx(157 / 4)
    assert rows["Avg QTL bins per region"] == pytest.approx(124 / 6)
    assert rows["Fraction with no link"] == pytest.approx(2 / 6)
    assert rows["Fraction > 100 connected QTLs"] == pytest.approx(1 / 6)
    md = dg.summary_markdown(dg.summary_table({"a": rows, "b": rows}))
    assert "| Connected QTLs | 157 | 157 |" in md


@pytest.mark.parametrize(
    "alpha, alternatives",
    [(2.5, ("lognormal", "exponential", "truncated_power_law")), (2.0, ("exponential",))],
)
def test_power_law_recovers_alpha(alpha, alternatives):
    sample = np.random.default_rng(7).zipf(alpha, 20_000)
    fit = fit_power_law(np.concatenate([np.zeros(5_000, int), sample]), alternatives=alternatives)
    assert set(fit.comparisons) == set(alternatives)
    assert fit.ok
    assert abs(fit.alpha - alpha) < 0.1
    assert fit.xmin >= 1 and fit.n_tail <= 20_000
    assert 0 <= fit.ks_distance < 0.05
    # data drawn from a power law: the exponential is clearly worse
    assert fit.comparisons["exponential"].ratio > 0 and fit.comparisons["exponential"].p < 0.05


def test_power_law_steep_alpha_not_clipped_at_3():
    # powerlaw's default alpha bound is [0, 3]; nearly-all-ones degree data sit above it
    fit = fit_power_law(np.random.default_rng(11).zipf(4.0, 20_000), alternatives=())
    assert abs(fit.alpha - 4.0) < 0.15


def test_power_law_on_exponential_data_prefers_exponential():
    sample = np.random.default_rng(3).geometric(0.2, 5_000)
    fit = fit_power_law(sample, xmin_range=(1, 2))  # xmin fixed at 1: the whole body
    assert fit.comparisons["exponential"].ratio < 0


@pytest.mark.parametrize("degrees", [np.zeros(50, int), np.array([0, 1, 1, 1]), np.array([], int)])
def test_power_law_not_possible_is_reported(degrees):
    fit = fit_power_law(degrees)
    assert not fit.ok and math.isnan(fit.alpha)
    record = fit_record(fit)
    assert record["note"] and math.isnan(record["lr_lognormal"])


def test_analyse_degrees_writes_everything(tmp_path):
    extra = {
        "connected_K27ac": CONNECTED,
        "binned_K27ac": BINNED,
        "connected_loop": [0] * 6,
        "binned_loop": [0] * 6,
    }
    a = write_graph(tmp_path / "a", name="mono K27ac", extra=extra)
    b = write_graph(tmp_path / "b", name="zero", connected=[0] * 6, binned=[0] * 6)
    report = analyse_degrees(
        [a, b], tmp_path / "out", per_type=True, hubs=HubRule(threshold=100), progress=False
    )
    out = tmp_path / "out"
    assert list(report.summary.columns) == [
        "mono_K27ac",
        "mono_K27ac:K27ac",
        "mono_K27ac:loop",
        "zero",
    ]
    for folder in ("mono_K27ac", "mono_K27ac/K27ac", "mono_K27ac/loop", "zero"):
        for name in ("histogram.tsv", "histogram.png", "powerlaw.tsv", "powerlaw.json", "hubs.bed"):
            assert (out / folder / name).is_file(), f"{folder}/{name}"
    assert (out / "mono_K27ac" / "hubs.bed").read_text() == "chr1\t40000\t50000\thub1\t120\t.\n"
    assert (out / "zero" / "hubs.bed").read_text() == ""
    zero_fit = json.loads((out / "zero" / "powerlaw.json").read_text())
    assert zero_fit["binned"]["alpha"] is None and "no region" in zero_fit["binned"]["note"]
    assert report.summary.loc["Connected QTLs", "mono_K27ac"] == 157
    assert (out / "summary.tsv").is_file() and "n/a" in (out / "summary.md").read_text()


@pytest.mark.real_data
def test_real_gtex_egenes_degrees(real_data, tmp_path):
    """Degrees of GTEx v8 lead eQTLs (three tissues, qval < 0.05) over all hg38 bins."""
    from qtlgraph.genome import BinIndex, load_genome

    rows = pd.concat(
        [
            pd.read_csv(
                p,
                sep="\t",
                usecols=[
                    "gene_chr",
                    "gene_start",
                    "gene_end",
                    "strand",
                    "chr",
                    "variant_pos",
                    "qval",
                ],
            )
            for p in sorted((real_data / "gtex_v8_egenes").glob("*.egenes.txt.gz"))
        ]
    )
    rows = rows[rows["qval"] < 0.05]
    index = BinIndex(load_genome("hg38"), 10_000)
    chroms = index.to_frame()["chrom"].unique()
    rows = rows[rows["gene_chr"].isin(chroms) & rows["chr"].isin(chroms)]
    tss = np.where(rows["strand"] == "+", rows["gene_start"], rows["gene_end"]).astype(np.int64)
    target = index.bin_of(index.chrom_codes(rows["gene_chr"].to_numpy()), tss, one_based=True)
    source = index.bin_of(
        index.chrom_codes(rows["chr"].to_numpy()), rows["variant_pos"].to_numpy(), one_based=True
    )
    n_bins = len(index.to_frame())
    connected = np.bincount(target, minlength=n_bins)
    pairs = np.unique(np.stack([target, source]), axis=1)
    binned = np.bincount(pairs[0], minlength=n_bins)
    frame = index.to_frame()[["chrom", "start", "end"]].assign(connected=connected, binned=binned)
    (tmp_path / "gtex").mkdir()
    frame.to_csv(tmp_path / "gtex" / "degrees.tsv.gz", sep="\t", index=False)

    report = analyse_degrees(
        [tmp_path / "gtex"], tmp_path / "out", alternatives=("exponential",), progress=False
    )
    column = report.summary["gtex"]
    assert column["All regions"] == n_bins == 303_114
    assert column["Connected QTLs"] == len(rows)
    assert column["QTL bins"] == pairs.shape[1] <= len(rows)
    hist = pd.read_csv(tmp_path / "out" / "gtex" / "histogram.tsv", sep="\t")
    assert hist["connected"].sum() == hist["binned"].sum() == n_bins
    fit = report.fits["gtex"]["connected"]
    assert fit.ok and 1.0 < fit.alpha < 10.0


def test_alpha_at_the_search_bound_is_no_fit_with_a_note():
    fit = fit_power_law(np.array([1] * 2000 + [2, 2]))  # all but two degrees equal xmin
    assert not fit.ok and math.isnan(fit.alpha) and fit.n_tail == 2002
    assert "reached the bound 8" in fit.note and "2 of 2002 tail degrees above xmin" in fit.note
