"""``qtlgraph check-dataset``: summary of a tiny dataset, one clear failure on bad input."""

from __future__ import annotations

from click.testing import CliRunner
from test_manifest import make_dataset  # tests/qtlgraph is on sys.path (rootdir imports)

from qtlgraph.cli import cli
from qtlgraph.cli.check_dataset import _size


def test_summary_of_a_tiny_dataset(tmp_path):
    path = make_dataset(tmp_path)
    qtl_bytes = (tmp_path / "qtl/mono_K27AC.txt").stat().st_size
    result = CliRunner().invoke(cli, ["check-dataset", str(path), "--bin-size", "10"])
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert out[0] == f"dataset toy ({tmp_path})"
    assert out[1].startswith("genome sim: 3 chromosomes, 70 bp (fasta ")
    assert "  chromosomes: chr1, chr2, chr3" in out
    assert "  bins at 10 bp: 7" in out  # 3 + 2 + 2
    assert "cell types (2), marks: H3K27ac" in out
    assert (
        "  mono: assay DNase, marks H3K27ac" in out and "  neut: assay ATAC, marks H3K27ac" in out
    )
    assert f"    qtl H3K27ac: mono_K27AC.txt ({qtl_bytes} B, format blueprint)" in out
    assert out[out.index("split:") + 1 : out.index("split:") + 4] == [
        "  test: chr1",
        "  valid: chr2",
        "  train: chr3",
    ]
    default = CliRunner().invoke(cli, ["check-dataset", str(path)])
    assert "  bins at 10,000 bp: 3" in default.output.splitlines()


def test_missing_file_lists_every_problem_and_exits_2(tmp_path):
    path = make_dataset(tmp_path)
    (tmp_path / "qtl/neut_K27AC.txt").unlink()
    (tmp_path / "tracks/mono.K27.bw").unlink()
    result = CliRunner().invoke(cli, ["check-dataset", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {path}: 2 problem(s) in the dataset manifest:")
    assert "[cell_types.neut] qtl.H3K27ac: file not found" in result.output
    assert "[cell_types.mono] marks.H3K27ac: file not found" in result.output
    assert "dataset toy" not in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(cli, ["check-dataset", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2 and "dataset manifest not found" in missing.output


def test_sizes_by_hand():
    assert [_size(n) for n in (0, 1023, 1024, 1536, 5 * 1024**2, 3 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "1.5 KB",
        "5.0 MB",
        "3.0 GB",
    ]
