"""Graph building on a table whose degrees are counted by hand, plus the real GTEx table."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import polars as pl
import pytest

from qtlgraph.errors import InputError
from qtlgraph.graph import (
    build_graph,
    graph_tensors,
    load_graph_dir,
    summary_table,
    write_graph_dir,
)
from qtlgraph.graph_stats import summary_columns, write_summary_tsv

# genome: chr1 100 kb (bins 0-9), chr2 50 kb (bins 10-14); 10 kb bins, 15 bins in all
SIZES = "chr1\t100000\nchr2\t50000\n"
# BLUEPRINT layout. With --max-distance 60000 (target midpoint = 1-based (s + e - 1)//2 + 1):
#  1 snp bin 1 -> target 52999 (bin 5)          kept
#  2 snp bin 1 -> bin 5                          kept  (same edge as row 1)
#  3 snp bin 2 -> bin 5                          kept
#  4 'chr1' prefix, snp bin 5 -> bin 5           kept  (self edge)
#  5 snp bin 4 -> target 2499 (bin 0)            kept
#  6 chr2 snp bin 10 -> target 41499 (bin 14)    kept
#  7 FDR 0.6                                     above_threshold
#  8 chromosome 3                                unknown_chrom
#  9 SNP beyond the end of chr1                  off_chrom_end
# 10 SNP chr1, target chr2                       other_chrom
# 11 exact copy of row 1                         duplicate
# 12 p-value NaN                                 missing_value
# 13 |1100 - 99000| > 60000                      too_far
TABLE = """\
1:15000_A_G rs1 1:52000:54000 1e-5 0.5 1 0.01 0.1 0.1
1:15500_C_T rs2 1:52000:54000 1e-4 -0.3 1 0.02 0.1 0.1
1:25000_G_A rs3 1:52000:54000 1e-3 0.2 1 0.03 0.1 0.1
chr1:55000_A_C rs4 1:52000:54000 1e-6 0.4 1 0.001 0.1 0.1
1:45000_T_G rs5 1:2000:3000 1e-2 0.1 1 0.04 0.1 0.1
2:5000_A_G rs6 2:41000:42000 1e-8 1.0 1 1e-6 0.1 0.1
1:15000_A_G rs7 1:52000:54000 0.5 0.01 1 0.6 0.1 0.1
3:100_A_G rs8 3:200:300 1e-5 0.1 1 0.01 0.1 0.1
1:99999999_A_G rs9 1:52000:54000 1e-5 0.1 1 0.01 0.1 0.1
1:15000_A_G rs10 2:1000:2000 1e-5 0.1 1 0.01 0.1 0.1
1:15000_A_G rs1 1:52000:54000 1e-5 0.5 1 0.01 0.1 0.1
1:15000_A_G rs1 1:52000:54000 NaN 0.5 1 0.01 0.1 0.1
1:99000_A_G rs13 1:1000:1200 1e-5 0.1 1 0.01 0.1 0.1
"""


@pytest.fixture
def case(tmp_path):
    (tmp_path / "g.chrom.sizes").write_text(SIZES)
    with gzip.open(tmp_path / "mono_K27AC.txt.gz", "wt") as fh:
        fh.write(TABLE)
    return tmp_path


def _build(case, **kw):
    kw.setdefault("max_distance", 60_000)
    return build_graph([case / "mono_K27AC.txt.gz"], case / "g.chrom.sizes", progress=False, **kw)


def test_hand_counted_degrees(case):
    built = _build(case)
    connected = built.degrees["connected"].to_numpy()
    binned = built.degrees["binned"].to_numpy()
    expected_connected = np.zeros(15, int)
    expected_connected[[5, 0, 14]] = [4, 1, 1]
    expected_binned = np.zeros(15, int)
    expected_binned[[5, 0, 14]] = [3, 1, 1]  # bin 5 is targeted from bins 1, 2 and 5
    assert connected.tolist() == expected_connected.tolist()
    assert binned.tolist() == expected_binned.tolist()
    counts = built.meta["counts"]
    assert counts["rows_read"] == 13 and counts["kept"] == 6
    assert counts["dropped"] == {
        "missing_value": 1,
        "above_threshold": 1,
        "bad_position": 0,
        "unknown_chrom": 1,
        "off_chrom_end": 1,
        "other_chrom": 1,
        "too_far": 1,
        "duplicate": 1,
    }


def test_edge_attributes(case):
    edges = _build(case).edges
    pairs = list(zip(edges["source_bin"], edges["target_bin"]))
    assert sorted(pairs) == [(1, 5), (2, 5), (4, 0), (5, 5), (10, 14)]
    e = edges.filter((pl.col("source_bin") == 1) & (pl.col("target_bin") == 5)).row(0, named=True)
    assert e["n_qtl"] == 2
    assert e["min_pvalue"] == pytest.approx(1e-5)
    assert e["mean_abs_beta"] == pytest.approx(0.4)
    assert e["max_abs_beta"] == pytest.approx(0.5)
    assert e["mean_distance"] == pytest.approx((53000 - 15000 + 53000 - 15500) / 2)
    far = edges.filter(pl.col("source_bin") == 4).row(0, named=True)
    assert far["mean_distance"] == 2500 - 45000


def test_summary_table(case):
    built = _build(case)
    s = summary_table(built.degrees, built.edge_types).set_index("metric")["all"]
    assert s["Connected QTLs"] == 6 and s["QTL bins"] == 5
    assert s["Connected regions"] == 3 and s["All regions"] == 15
    assert s["Avg QTLs per connected region"] == 2.0
    assert s["Avg QTLs per region"] == 0.4
    assert s["Avg QTL bins per connected region"] == pytest.approx(1.67)


def test_summary_tsv_reads_as_the_table(case, tmp_path):
    # summary.tsv is written without pandas; it reads back as summary_table's rows,
    # with counts as integers and averages as they round
    built = _build(case)
    write_graph_dir(built, tmp_path / "g")
    text = (tmp_path / "g" / "summary.tsv").read_text()
    assert text.splitlines()[1] == "Connected QTLs\t6"
    got = pd.read_csv(tmp_path / "g" / "summary.tsv", sep="\t")
    want = summary_table(built.degrees, built.edge_types)
    assert list(got.columns) == list(want.columns) == ["metric", "all"]
    assert got["metric"].tolist() == want["metric"].tolist()
    assert got["all"].astype(float).tolist() == pytest.approx(want["all"].astype(float).tolist())
    two = pl.DataFrame(
        {
            "connected_a": [2, 0],
            "binned_a": [1, 0],
            "connected_b": [1, 1],
            "binned_b": [1, 1],
            "connected": [3, 1],
            "binned": [2, 1],
        }
    )
    write_summary_tsv(two, ["a", "b"], tmp_path / "two.tsv")
    rows = (tmp_path / "two.tsv").read_text().splitlines()
    assert rows[0] == "metric\ta\tb\tall"
    assert rows[1] == "Connected QTLs\t2\t2\t4"
    assert rows[5] == "Avg QTLs per connected region\t2.0\t1.0\t2.0"
    assert summary_columns(two, ["a", "b"])["b"][2] == 2


def test_chunked_reading_matches_one_chunk(case):
    whole = _build(case)
    tiny = _build(case, block_bytes=64)  # about one row per chunk
    assert whole.edges.equals(tiny.edges)
    assert whole.degrees.equals(tiny.degrees)
    assert whole.meta["counts"] == tiny.meta["counts"]


@pytest.mark.parametrize("target_mode", ["midpoint", "overlap"])
def test_streaming_pass_matches_chunked_reading(case, monkeypatch, target_mode):
    # two files of one edge type: the second repeats the first, so all its rows are duplicates
    kw = {"edge_types": ["mark", "mark"], "target_mode": target_mode, "max_distance": 60_000}
    paths = [case / "mono_K27AC.txt.gz"] * 2
    streamed = build_graph(paths, case / "g.chrom.sizes", progress=False, **kw)

    def fail(source, index, options, on_links, *args):  # a read error after some links
        on_links(streamed_links.clone())
        raise pl.exceptions.ComputeError("cannot stream")

    streamed_links = pl.DataFrame(
        {"source_bin": [3], "target_bin": [4], "pvalue": [0.1], "abs_beta": [1.0]},
        schema_overrides={"abs_beta": pl.Float32},
    ).with_columns(distance=pl.lit(0, pl.Int64), row_hash=pl.lit(99, pl.UInt64))

    monkeypatch.setattr("qtlgraph.graph.stream_links", fail)
    chunked = build_graph(paths, case / "g.chrom.sizes", progress=False, **kw)
    assert streamed.edges.equals(chunked.edges)
    assert streamed.degrees.equals(chunked.degrees)
    assert streamed.meta["counts"] == chunked.meta["counts"]
    # 1 repeat within the first file, and the second file's 7 rows that pass the filters
    assert streamed.meta["counts"]["dropped"]["duplicate"] == 8


def test_pvalue_threshold_and_distance(case):
    built = _build(case, pvalue=1e-4, max_distance=1_000_000)
    # p < 1e-4 and within 1 Mb: rows 1, 4, 6 and 13 kept (8-10 dropped as above, 11 duplicate)
    assert built.meta["counts"]["kept"] == 4
    assert built.degrees["connected"].to_numpy()[[5, 14, 0]].tolist() == [2, 1, 1]


def test_overlap_mode(tmp_path):
    (tmp_path / "g.sizes").write_text(SIZES)
    (tmp_path / "t.txt").write_text("1:15000_A_G rs1 1:8000:31000 1e-5 0.5 1 0.01 0.1 0.1\n")
    mid = build_graph([tmp_path / "t.txt"], tmp_path / "g.sizes", progress=False)
    over = build_graph(
        [tmp_path / "t.txt"], tmp_path / "g.sizes", progress=False, target_mode="overlap"
    )
    assert np.flatnonzero(mid.degrees["connected"].to_numpy()).tolist() == [1]
    assert np.flatnonzero(over.degrees["connected"].to_numpy()).tolist() == [0, 1, 2, 3]


def test_two_marks_and_loops(case):
    (case / "loops.bedpe").write_text(
        "chr1\t10000\t20000\tchr1\t50000\t60000\t5\nchr1\t0\t10000\tchr2\t0\t10000\t1\n"
    )
    built = build_graph(
        [case / "mono_K27AC.txt.gz", case / "mono_K27AC.txt.gz"],
        case / "g.chrom.sizes",
        edge_types=["H3K27ac", "H3K4me1"],
        loops=case / "loops.bedpe",
        max_distance=60_000,
        progress=False,
    )
    assert built.edge_types == ["H3K27ac", "H3K4me1", "loop"]
    d = built.degrees
    assert d["connected"].sum() == 12 and d["connected_H3K27ac"].sum() == 6
    assert d["binned"].to_numpy()[5] == 3  # the same pairs in both marks count once
    assert d["connected_loop"].to_numpy()[[1, 5]].tolist() == [1, 1]  # both directions
    loop_rec = built.meta["inputs"][-1]
    assert loop_rec["dropped"]["other_chrom"] == 1 and loop_rec["kept"] == 1


def test_write_and_load_graph_dir(case, tmp_path):
    built = _build(case)
    out = write_graph_dir(built, tmp_path / "g", graphml=True)
    g = load_graph_dir(out)
    assert g.data.num_nodes == 15
    assert g.data.edge_index.shape == (2, 5)
    assert g.data.edge_attr.shape == (5, 5)
    assert g.data.edge_types == ["mono_K27AC"]
    assert set(g.edges["edge_type"]) == {"mono_K27AC"}
    assert list(g.degrees.columns) == ["chrom", "start", "end", "connected", "binned"]
    assert g.degrees["end"].iloc[-1] == 50000 and g.degrees["chrom"].iloc[10] == "chr2"
    assert g.meta["counts"]["kept"] == 6 and "versions" in g.meta
    summary = pd.read_csv(out / "summary.tsv", sep="\t").set_index("metric")
    assert summary.loc["QTL bins", "all"] == 5
    assert (out / "graph.graphml").stat().st_size > 0
    import torch

    raw = torch.load(out / "graph.pt", weights_only=True)  # plain tensors, no pickled classes
    assert raw["edge_index"].tolist() == g.data.edge_index.tolist()
    expected = graph_tensors(built)  # what torch.save of the tensors would hold
    assert raw.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert raw[key].dtype == value.dtype and torch.equal(raw[key], value), key
        else:
            assert raw[key] == value, key


def test_load_graph_dir_refuses_other_dirs(tmp_path):
    with pytest.raises(InputError, match="not a graph directory"):
        load_graph_dir(tmp_path)


def test_real_gtex_whole_blood(real_data):
    path = real_data / "gtex_v8_egenes" / "Whole_Blood.v8.egenes.txt.gz"
    built = build_graph([path], "hg38", progress=False)
    table = pd.read_csv(path, sep="\t", usecols=["qval", "tss_distance"])
    significant = int(((table["qval"] < 0.05) & (table["tss_distance"].abs() <= 1_000_000)).sum())
    assert built.meta["counts"]["kept"] == significant
    assert built.degrees["connected"].sum() == significant
    assert built.degrees.height == 303_114
    assert built.meta["warnings"] == []
