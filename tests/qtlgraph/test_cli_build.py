"""``qtlgraph build`` end to end through the CLI entry point, including every bad input."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from qtlgraph.cli import cli, main

SIZES = "chr1\t100000\nchr2\t50000\n"
ROWS = (
    "1:15000_A_G rs1 1:52000:54000 1e-5 0.5 1 0.01 0.1 0.1\n"
    "chr1:25000_G_A rs3 chr1:52000:54000 1e-3 0.2 1 0.03 0.1 0.1\n"
    "2:5000_A_G rs6 2:41000:42000 1e-8 1.0 1 1e-6 0.1 0.1\n"
)


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "g.sizes").write_text(SIZES)
    (tmp_path / "K27.txt").write_text(ROWS)
    return tmp_path


def _run(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    return exc.value.code, capsys.readouterr().err


def _args(toy, table="K27.txt", *extra):
    return [
        "build",
        str(toy / table),
        "--genome",
        str(toy / "g.sizes"),
        "--out",
        str(toy / "out"),
        "--quiet",
        *extra,
    ]


def test_build_writes_graph_dir(toy):
    result = CliRunner().invoke(cli, _args(toy))
    assert result.exit_code == 0, result.output
    out = toy / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "build.json",
        "degrees.tsv.gz",
        "edges.parquet",
        "graph.pt",
        "summary.tsv",
    ]
    deg = pd.read_csv(out / "degrees.tsv.gz", sep="\t")
    assert deg["connected"].tolist()[5] == 2 and deg["binned"].tolist()[5] == 2
    assert deg["connected"].tolist()[14] == 1
    meta = json.loads((out / "build.json").read_text())
    assert meta["counts"]["kept"] == 3 and meta["inputs"][0]["format"] == "blueprint"
    assert "kept 3" in result.output  # the stderr summary (mixed into output by CliRunner)


def test_edge_types_loops_graphml(toy):
    (toy / "K4.txt").write_text(ROWS)
    (toy / "l.bedpe").write_text("chr1\t10000\t20000\tchr1\t50000\t60000\n")
    args = [
        "build",
        str(toy / "K27.txt"),
        str(toy / "K4.txt"),
        "--genome",
        str(toy / "g.sizes"),
        "--out",
        str(toy / "out"),
        "--edge-type",
        "H3K27ac",
        "--edge-type",
        "H3K4me1",
        "--loops",
        str(toy / "l.bedpe"),
        "--graphml",
        "--quiet",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(toy / "out" / "summary.tsv", sep="\t").set_index("metric")
    assert list(summary.columns) == ["H3K27ac", "H3K4me1", "loop", "all"]
    assert summary.loc["Connected QTLs", "all"] == 6 and summary.loc["QTL bins", "all"] == 3
    assert (toy / "out" / "graph.graphml").is_file()


def test_refuses_non_empty_out_without_force(toy, capsys):
    (toy / "out").mkdir()
    (toy / "out" / "keep.txt").write_text("x")
    code, err = _run(_args(toy), capsys)
    assert code == 2 and "not empty" in err and "Traceback" not in err
    code, _ = _run(_args(toy, "K27.txt", "--force"), capsys)
    assert code == 0 and not (toy / "out" / "keep.txt").exists()


def _bad(toy, capsys, name, content, *extra, gz=False):
    path = toy / name
    if gz:
        path.write_bytes(gzip.compress(content.encode()))
    else:
        path.write_text(content)
    code, err = _run(_args(toy, name, *extra), capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert not (toy / "out").exists()  # no partial output directory
    assert not [p for p in toy.iterdir() if p.name.startswith(".out.tmp")]
    return err


def test_bad_empty_file(toy, capsys):
    assert "empty file" in _bad(toy, capsys, "e.txt", "")


def test_bad_truncated_gzip(toy, capsys):
    data = gzip.compress((ROWS * 3000).encode())
    (toy / "t.txt.gz").write_bytes(data[: len(data) // 2])
    code, err = _run(_args(toy, "t.txt.gz"), capsys)
    assert code == 2 and "truncated or corrupt gzip" in err
    assert not (toy / "out").exists()


def test_bad_non_numeric_pvalue(toy, capsys):
    err = _bad(toy, capsys, "p.txt", ROWS + ROWS.replace("1e-5", "high", 1))
    assert "row 4, column 'pvalue': expected a number, got 'high'" in err


def test_bad_missing_columns(toy, capsys):
    err = _bad(
        toy, capsys, "m.egenes.txt", "gene_id\tgene_chr\tqval\tvariant_pos\nG\tchr1\t0.1\t5\n"
    )
    assert "missing column(s)" in err and "gene_start" in err


def test_bad_unparseable_layout(toy, capsys):
    err = _bad(toy, capsys, "u.txt", "a b c\n1 2 3\n")
    assert "cannot tell the table's layout" in err


def test_bad_wrong_column_count(toy, capsys):
    err = _bad(toy, capsys, "w.txt", "1:1_A_G rs1 1:1:2 0.1\n", "--format", "blueprint")
    assert "expected 9" in err


def test_bad_unknown_format(toy, capsys):
    code, err = _run(_args(toy, "K27.txt", "--format", "vcf"), capsys)
    assert code == 2 and "vcf" in err


def test_bad_no_fdr_column_without_pvalue(toy, capsys):
    nominal = "ENSG1 1 1000 1000 + 10 -500 rs1 1 500 500 0.001 0.3 0.25 0\n"
    err = _bad(toy, capsys, "n.txt", nominal)
    assert "no FDR or q-value column" in err and "--pvalue" in err


def test_row_problems_are_counted(toy):
    rows = (
        ROWS
        + ROWS.splitlines()[0]
        + "\n"  # duplicate
        + "1:15000_A_G rs9 1:52000:54000 NaN 0.5 1 0.01 0.1 0.1\n"  # NaN p-value
        + "1:150000_A_G rs8 1:52000:54000 1e-5 0.5 1 0.01 0.1 0.1\n"
    )  # beyond chr1's end
    (toy / "r.txt").write_text(rows)
    result = CliRunner().invoke(cli, _args(toy, "r.txt"))
    assert result.exit_code == 0, result.output
    meta = json.loads((toy / "out" / "build.json").read_text())
    dropped = meta["counts"]["dropped"]
    assert (dropped["duplicate"], dropped["missing_value"], dropped["off_chrom_end"]) == (1, 1, 1)
    assert meta["counts"]["kept"] == 3
    assert "another genome build" in result.output  # 1 of 5 positions off the ends: warned
    assert "duplicate 1" in result.output


def test_real_gtex_build(real_data, tmp_path):
    path = real_data / "gtex_v8_egenes" / "Cells_EBV-transformed_lymphocytes.v8.egenes.txt.gz"
    result = CliRunner().invoke(
        cli, ["build", str(path), "--genome", "hg38", "--out", str(tmp_path / "g"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "g" / "summary.tsv", sep="\t").set_index("metric")
    raw = pd.read_csv(path, sep="\t", usecols=["qval"])
    assert summary.loc["Connected QTLs", "all"] == int((raw["qval"] < 0.05).sum())
    assert summary.loc["All regions", "all"] == 303_114


def test_name_option_names_the_graph(tmp_path):
    import json

    from click.testing import CliRunner

    from qtlgraph.cli import cli

    table = tmp_path / "mono_K27AC.txt"
    table.write_text("1:15001_A_G rs1 1:35000:36000 1e-8 0.5 1e-6 1e-5 0.2 0.1\n")
    sizes = tmp_path / "g.sizes"
    sizes.write_text("chr1\t100000\n")
    out = tmp_path / "g"
    result = CliRunner().invoke(
        cli,
        [
            "build",
            str(table),
            "--genome",
            str(sizes),
            "--name",
            "mono",
            "--edge-type",
            "H3K27ac",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "build.json").read_text())
    assert meta["name"] == "mono"
    assert meta["edge_types"] == ["H3K27ac"]


def test_wrong_build_stops_unless_allowed(toy, capsys):
    # 12 of 13 rows on chr1 lie past its end (100 kb): a table on another build
    off = "".join(
        f"1:{200_000 + i}_A_G rs{i} 1:52000:54000 1e-5 0.5 1 0.01 0.1 0.1\n" for i in range(12)
    )
    (toy / "w.txt").write_text(ROWS.splitlines(keepends=True)[0] + off)
    code, err = _run(_args(toy, "w.txt"), capsys)
    assert code == 2 and "12 of 13 rows (92.3%) lie past the chromosome ends" in err
    assert "--allow-build-mismatch" in err and not (toy / "out").exists()
    code, err = _run(_args(toy, "w.txt", "--allow-build-mismatch"), capsys)
    assert code == 0 and "another genome build" in err  # warned instead


def test_build_tags_of_another_build_stop(tmp_path, capsys):
    hg19_chr1 = "chr1\t249250621\n"
    (tmp_path / "g.sizes").write_text(hg19_chr1)  # a sizes file with hg19's chr1 is hg19
    header = "gene_id\tvariant_id\tqval\n"
    (tmp_path / "t.txt").write_text(header + "g1\tchr1_1000_A_G_b38\t0.01\n")
    code, err = _run(
        [
            "build",
            str(tmp_path / "t.txt"),
            "--genome",
            str(tmp_path / "g.sizes"),
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == 2 and "end in _b38 (hg38) but --genome is hg19" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_real_gtex_on_hg19_stops(real_data, tmp_path, capsys):
    path = real_data / "gtex_v8_egenes" / "Spleen.v8.egenes.txt.gz"
    code, err = _run(["build", str(path), "--genome", "hg19", "--out", str(tmp_path / "g")], capsys)
    assert code == 2 and "_b38" in err and not (tmp_path / "g").exists()


def test_same_file_twice_and_empty_graph_refused(toy, capsys):
    args = _args(toy)
    code, err = _run([*args[:2], str(toy / "K27.txt"), *args[2:]], capsys)
    assert code == 2 and "given twice" in err and not (toy / "out").exists()
    code, err = _run(_args(toy, "K27.txt", "--fdr", "1e-300"), capsys)
    assert code == 2 and "no edge survived" in err and not (toy / "out").exists()


def test_binary_genome_and_truncated_phenotypes_are_one_line(toy, capsys):
    (toy / "bin.sizes").write_bytes(bytes(range(256)))
    code, err = _run(
        [
            "build",
            str(toy / "K27.txt"),
            "--genome",
            str(toy / "bin.sizes"),
            "--out",
            str(toy / "o"),
        ],
        capsys,
    )
    assert code == 2 and "binary content" in err and len(err.strip().splitlines()) == 1
    text = "".join(f"chr1\t{i}\t{i + 1}\tENSG{i}\n" for i in range(5000)).encode()
    packed = gzip.compress(text)
    (toy / "ph.bed.gz").write_bytes(packed[: len(packed) // 2])
    code, err = _run(_args(toy, "K27.txt", "--phenotypes", str(toy / "ph.bed.gz")), capsys)
    assert code == 2 and "ph.bed.gz: phenotype file: truncated or corrupt gzip" in err
    assert not (toy / "out").exists()


def test_byte_order_mark_before_a_header_is_ignored(real_data, tmp_path):
    path = real_data / "gtex_v8_egenes" / "Spleen.v8.egenes.txt.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)[:400]
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + b"".join(lines))
    (tmp_path / "plain.txt").write_bytes(b"".join(lines))
    kept = []
    for name in ("bom.txt", "plain.txt"):
        out = tmp_path / name.replace(".txt", "")
        res = CliRunner().invoke(
            cli, ["build", str(tmp_path / name), "--genome", "hg38", "--out", str(out), "--quiet"]
        )
        assert res.exit_code == 0, res.output
        kept.append(json.loads((out / "build.json").read_text())["counts"]["kept"])
    assert kept[0] == kept[1] > 0


def test_read_only_output_is_refused_before_reading_naming_the_path(toy, capsys):
    import os

    ro = toy / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that can write anywhere")
        code, err = _run([*_args(toy)[:-3], "--out", str(ro / "g"), "--quiet"], capsys)
        assert code == 2 and f"{ro / 'g'}: cannot write here" in err and ".tmp" not in err
    finally:
        ro.chmod(0o755)
