"""``qtlgraph degrees`` end to end through click's CliRunner on small graph directories."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from click.testing import CliRunner

from qtlgraph.cli import cli


def write_graph(path, name, connected, binned, drop=None):
    path.mkdir(parents=True)
    n = len(connected)
    frame = pd.DataFrame(
        {
            "chrom": ["chr2"] * n,
            "start": np.arange(n) * 10_000,
            "end": np.arange(1, n + 1) * 10_000,
            "connected": connected,
            "binned": binned,
        }
    )
    frame.drop(columns=[drop] if drop else []).to_csv(
        path / "degrees.tsv.gz", sep="\t", index=False
    )
    (path / "build.json").write_text(json.dumps({"name": name, "bin_size": 10_000}))
    return path


def two_graphs(tmp_path):
    rng = np.random.default_rng(0)
    binned = np.concatenate([np.zeros(300, int), rng.zipf(2.3, 200)])
    a = write_graph(tmp_path / "a", "mono_K27ac", binned * 2, binned)
    b = write_graph(tmp_path / "b", "neut_K27ac", [0, 5, 0, 101], [0, 2, 0, 101])
    return a, b, binned


def test_degrees_end_to_end(tmp_path):
    a, b, binned = two_graphs(tmp_path)
    out = tmp_path / "out"
    # the truncated power law (seconds per fit) is covered in tests/analysis/test_degrees.py
    args = [
        "degrees",
        str(a),
        str(b),
        "--out",
        str(out),
        "--compare",
        "lognormal",
        "--compare",
        "exponential",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.tsv", sep="\t", index_col=0)
    assert list(summary.columns) == ["mono_K27ac", "neut_K27ac"]
    assert summary.loc["QTL bins", "mono_K27ac"] == binned.sum()
    assert summary.loc["Connected regions", "neut_K27ac"] == 2
    assert summary.loc["Fraction > 100 QTL bins", "neut_K27ac"] == 0.25
    assert np.isnan(summary.loc["alpha (binned)", "neut_K27ac"])  # 2 positive degrees: no fit
    assert 1.5 < summary.loc["alpha (binned)", "mono_K27ac"] < 3.5
    assert "| statistic | mono_K27ac | neut_K27ac |" in (out / "summary.md").read_text()
    fits = pd.read_csv(out / "mono_K27ac" / "powerlaw.tsv", sep="\t")
    assert fits["degree"].tolist() == ["connected", "binned"]
    assert "p_exponential" in fits.columns and "p_truncated_power_law" not in fits.columns
    hist = pd.read_csv(out / "neut_K27ac" / "histogram.tsv", sep="\t")
    assert hist.values.tolist() == [[0, 2, 2], [2, 0, 1], [5, 1, 0], [101, 1, 1]]
    assert (out / "neut_K27ac" / "hubs.bed").read_text() == "chr2\t30000\t40000\thub1\t101\t.\n"
    assert (out / "mono_K27ac" / "histogram.png").stat().st_size > 1000


def test_degrees_refuses_non_empty_out_unless_force(tmp_path):
    a, b, _ = two_graphs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = CliRunner().invoke(cli, ["degrees", str(b), "--out", str(out)])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (out / "keep.txt").is_file()
    result = CliRunner().invoke(cli, ["degrees", str(b), "--out", str(out), "--force"])
    assert result.exit_code == 0 and not (out / "keep.txt").exists()


def test_degrees_missing_file_or_column_one_line_exit_2(tmp_path):
    a, _, _ = two_graphs(tmp_path)
    (tmp_path / "nograph").mkdir()
    bad = write_graph(tmp_path / "bad", "bad", [0, 1], [0, 1], drop="binned")
    for graph, expected in (
        (tmp_path / "nograph", "nograph/degrees.tsv.gz"),
        (bad, "bad/degrees.tsv.gz"),
    ):
        out = tmp_path / f"out_{graph.name}"
        result = CliRunner().invoke(cli, ["degrees", str(a), str(graph), "--out", str(out)])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.output
        assert not out.exists()  # no partial output
