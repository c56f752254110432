"""QTL table readers: each layout on a small file written here, plus the real files."""

from __future__ import annotations

import gzip

import pandas as pd
import polars as pl
import pytest

from qtlgraph.errors import InputError
from qtlgraph.qtl import detect_format, open_qtl, parse_columns, read_phenotypes, read_qtl

BLUEPRINT = (
    "10:90164_C_G rs141504207 10:1016421:1019322 7.050e-01 0.08241 1.0 6.222e-01 0.08 0.2177\n"
)
QT_NOMINAL = (
    "ENSG1 1 1000 1000 + 10 -500 rs1 1 500 500 0.001 0.3 0.25 0\n"
    "ENSG1 1 1000 1000 + 10 200 rs2 1 1200 1200 0.2 0.01 -0.1 1\n"
)
QT_PERM = (
    "ENSG00000166961.10 11 60524426 60524426 + 3284 74793 11_60599219 11 60599219 "
    "60599219 356 324.381 0.941595 262.531 0.0011151 0.549792 0.417166 0.416138\n"
)


def _write(path, text, gz=False):
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def _row(df: pl.DataFrame, i: int = 0) -> dict:
    return df.row(i, named=True)


def test_blueprint_plain_and_gzip(tmp_path):
    for gz in (False, True):
        path = _write(tmp_path / f"b{gz}.txt{'.gz' if gz else ''}", BLUEPRINT, gz)
        assert detect_format(path) == "blueprint"
        assert open_qtl(path).scan is not None  # read in one streaming pass by build
        r = _row(read_qtl(path))
        assert (r["snp_chrom"], r["snp_pos"]) == ("chr10", 90164)
        assert (r["target_chrom"], r["target_start"], r["target_end"]) == (
            "chr10",
            1016421,
            1019322,
        )
        assert r["pvalue"] == 0.705 and r["fdr"] == 0.6222 and r["beta"] == 0.08241
        assert r["se"] == 0.2177 and r["variant_id"] == "10:90164_C_G"
        assert r["phenotype_id"] == "10:1016421:1019322"


def test_blueprint_reformatted(tmp_path):
    path = _write(
        tmp_path / "r.txt",
        "SNP CHR BP A1 A2 PHENOTYPEID LFDR ALT.AF BETA SE\n"
        "rs1 3 500 A G 3:100:300 0.01 0.2 -0.5 0.1\n",
    )
    assert detect_format(path) == "blueprint-reformatted"
    source = open_qtl(path)
    assert source.provides == frozenset({"fdr", "beta"})
    r = _row(read_qtl(path))
    assert (r["snp_chrom"], r["snp_pos"], r["target_start"], r["target_end"]) == (
        "chr3",
        500,
        100,
        300,
    )
    assert r["fdr"] == 0.01 and r["pvalue"] is None and r["beta"] == -0.5


@pytest.mark.parametrize("header", [False, True])
def test_qtltools_nominal(tmp_path, header):
    head = (
        (
            "phe_id phe_chr phe_from phe_to phe_strd n_var_in_cis dist_phe_var var_id var_chr "
            "var_from var_to nom_pval r_squared slope best_hit\n"
        )
        if header
        else ""
    )
    path = _write(tmp_path / "n.txt", head + QT_NOMINAL)
    assert detect_format(path) == "qtltools-nominal"
    df = read_qtl(path)
    assert df.height == 2
    r = _row(df)
    assert (r["snp_pos"], r["target_start"], r["target_end"]) == (500, 999, 1000)
    assert r["pvalue"] == 0.001 and r["beta"] == 0.25 and r["fdr"] is None
    assert open_qtl(path).provides == frozenset({"pvalue", "beta"})


def test_qtltools_nominal_with_slope_se(tmp_path):
    rows = "".join(line.rsplit(" ", 1)[0] + " 0.05 0\n" for line in QT_NOMINAL.splitlines())
    path = _write(tmp_path / "n16.txt", rows)
    assert _row(read_qtl(path))["se"] == 0.05


def test_qtltools_permutation(tmp_path):
    path = _write(tmp_path / "p.txt.gz", QT_PERM, gz=True)
    assert detect_format(path) == "qtltools-permutation"
    r = _row(read_qtl(path))
    assert (r["snp_chrom"], r["snp_pos"]) == ("chr11", 60599219)
    assert (r["target_start"], r["target_end"]) == (60524425, 60524426)
    assert r["pvalue"] == 0.0011151 and r["beta"] == 0.549792 and r["fdr"] == 0.416138


def test_tensorqtl_parquet(tmp_path):
    df = pd.DataFrame(
        {
            "phenotype_id": ["G1", "G2"],
            "variant_id": ["chr1_5000_A_G_b38", "chr2:70:C:T"],
            "start_distance": [-1000, 30],
            "af": [0.1, 0.2],
            "ma_samples": [5, 6],
            "ma_count": [5, 6],
            "pval_nominal": [1e-5, 0.5],
            "slope": [0.2, -0.1],
            "slope_se": [0.01, 0.02],
        }
    )
    path = tmp_path / "t.cis_qtl_pairs.chr1.parquet"
    df.to_parquet(path)
    assert detect_format(path) == "tensorqtl"
    out = read_qtl(path)
    r0, r1 = _row(out, 0), _row(out, 1)
    assert (r0["snp_chrom"], r0["snp_pos"], r0["target_end"]) == (
        "chr1",
        5000,
        6000,
    )  # TSS = pos - distance
    assert (r1["snp_chrom"], r1["snp_pos"], r1["target_end"]) == ("chr2", 70, 40)
    bed = _write(tmp_path / "ph.bed", "#chr\tstart\tend\tphenotype_id\nchr1\t7000\t7001\tG1\n")
    with_bed = read_qtl(path, phenotypes=bed)
    assert _row(with_bed)["target_start"] == 7000 and _row(with_bed, 1)["target_start"] is None


def test_gtex_egenes_tss_by_strand(tmp_path):
    head = (
        "gene_id\tgene_chr\tgene_start\tgene_end\tstrand\tvariant_id\tchr\tvariant_pos\t"
        "pval_nominal\tslope\tslope_se\tqval\n"
    )
    rows = (
        "G+\tchr1\t1000\t5000\t+\tchr1_800_A_G_b38\tchr1\t800\t1e-9\t0.5\t0.1\t0.001\n"
        "G-\tchr1\t1000\t5000\t-\tchr1_800_A_G_b38\tchr1\t800\t1e-3\t-0.5\t0.1\t0.2\n"
    )
    path = _write(tmp_path / "x.v8.egenes.txt.gz", head + rows, gz=True)
    assert detect_format(path) == "gtex-egenes"
    df = read_qtl(path)
    assert df["target_end"].to_list() == [1000, 5000]  # TSS = gene_start on +, gene_end on -
    assert df["fdr"].to_list() == [0.001, 0.2]


def test_gtex_pairs_from_tss_distance(tmp_path):
    text = (
        "variant_id\tgene_id\ttss_distance\tma_samples\tma_count\tmaf\tpval_nominal\tslope\tslope_se\n"
        "chr5_10000_A_G_b38\tG1\t-2000\t3\t3\t0.1\t1e-6\t0.3\t0.05\n"
    )
    path = _write(tmp_path / "p.signif_variant_gene_pairs.txt", text)
    assert detect_format(path) == "gtex-pairs"
    r = _row(read_qtl(path))
    assert (r["snp_chrom"], r["snp_pos"], r["target_end"]) == ("chr5", 10000, 12000)


def test_eqtlcatalogue_with_metadata(tmp_path):
    text = (
        "molecular_trait_object_id\tmolecular_trait_id\tn_traits\tn_variants\tvariant\t"
        "chromosome\tposition\tpvalue\tbeta\tp_perm\tp_beta\n"
        "G1\tG1\t1\t10\tchr1_100_T_C\t1\t100\t0.01\t-0.2\t0.03\t0.04\n"
        "G2\tG2\t1\t10\tchr1_200_T_C\t1\t200\t0.01\t-0.2\t0.03\t0.04\n"
    )
    meta = (
        "phenotype_id\tgroup_id\tgene_id\tchromosome\tphenotype_pos\tstrand\n"
        "G1\tG1\tG1\t1\t5000\t1\n"
    )
    path = _write(tmp_path / "e.permuted.tsv", text)
    meta_path = _write(tmp_path / "meta.tsv", meta)
    assert detect_format(path) == "eqtlcatalogue"
    df = read_qtl(path, phenotypes=meta_path)
    assert open_qtl(path, phenotypes=meta_path).scan is None  # joined chunk by chunk
    assert _row(df)["target_end"] == 5000 and _row(df)["fdr"] == 0.04
    assert _row(df, 1)["target_end"] is None  # not in the metadata: dropped later as bad_position
    with pytest.raises(InputError, match="--phenotypes"):
        open_qtl(path)


def test_generic_columns(tmp_path):
    text = "Chr\tPos\tID\tBeta\tP.value\tPeak_middle\nchr1\t944956\trs1\t2.0\t3e-18\t945178.5\n"
    path = _write(tmp_path / "g.tsv", text)
    cols = "snp_chrom=Chr,snp_pos=Pos,target_mid=Peak_middle,pvalue=P.value,beta=Beta"
    r = _row(read_qtl(path, columns=cols))
    assert (r["snp_pos"], r["target_start"], r["target_end"]) == (944956, 945177, 945178)
    assert r["target_chrom"] == "chr1" and r["pvalue"] == 3e-18
    with pytest.raises(InputError, match="Nope"):
        open_qtl(path, columns="snp_chrom=Nope,snp_pos=Pos,target_mid=Peak_middle")


def test_parse_columns_rejects_bad_pairs():
    assert parse_columns("a=B, c=D") == {"a": "B", "c": "D"}
    with pytest.raises(InputError, match="KEY=COLUMN"):
        parse_columns("snp_chrom")


def test_read_phenotypes_bed(tmp_path):
    bed = _write(tmp_path / "p.bed", "chr1\t10\t20\tA\nchr1\t30\t40\tB\nchr1\t50\t60\tA\n")
    df = read_phenotypes(bed)
    assert df.rows() == [("A", "chr1", 10, 20), ("B", "chr1", 30, 40)]  # first A kept


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "empty file"),
        ("just some words here\n", "cannot tell the table's layout"),
    ],
)
def test_bad_tables(tmp_path, text, match):
    path = _write(tmp_path / "bad.txt", text)
    with pytest.raises(InputError, match=match):
        open_qtl(path)


def test_non_numeric_pvalue_names_row_and_column(tmp_path):
    text = BLUEPRINT + BLUEPRINT.replace("7.050e-01", "abc")
    path = _write(tmp_path / "b.txt", text)
    with pytest.raises(InputError, match=r"row 2, column 'pvalue': expected a number, got 'abc'"):
        read_qtl(path)


def test_truncated_gzip(tmp_path):
    path = _write(tmp_path / "b.txt.gz", BLUEPRINT * 2000, gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt gzip"):
        read_qtl(path, "blueprint")


def test_wrong_column_count_for_format(tmp_path):
    path = _write(tmp_path / "b.txt", "1:1_A_G rs1 1:1:2 0.1 0.1\n")
    with pytest.raises(InputError, match="expected 9"):
        open_qtl(path, "blueprint")


def test_missing_header_column(tmp_path):
    path = _write(
        tmp_path / "x.egenes.txt", "gene_id\tgene_chr\tqval\tvariant_pos\nG\tchr1\t0.1\t5\n"
    )
    with pytest.raises(InputError, match="missing column"):
        open_qtl(path)


def test_real_qtltools_permutation(real_data):
    path = real_data / "qtltools_geuvadis" / "results.genes.full.txt.gz"
    df = read_qtl(path)
    assert df.height == 22_147
    raw = pd.read_csv(path, sep=" ", header=None)
    assert df["snp_pos"].to_list() == raw[9].tolist()
    assert df["fdr"].to_list() == pytest.approx(raw[18].tolist())


def test_real_eqtlcatalogue(real_data):
    d = real_data / "eqtlcatalogue_geuvadis"
    df = read_qtl(
        d / "GEUVADIS_test_ge.permuted.tsv.gz", phenotypes=d / "GEUVADIS_phenotype_metadata.tsv"
    )
    meta = pd.read_csv(d / "GEUVADIS_phenotype_metadata.tsv", sep="\t").set_index("phenotype_id")
    assert df.height == 80 and df["target_end"].null_count() == 0
    r = _row(df)
    assert r["target_end"] == meta.loc[r["phenotype_id"], "phenotype_pos"]


def test_real_gtex_egenes(real_data):
    path = real_data / "gtex_v8_egenes" / "Spleen.v8.egenes.txt.gz"
    df = read_qtl(path)
    raw = pd.read_csv(path, sep="\t")
    assert df.height == len(raw)
    tss = raw["gene_start"].where(raw["strand"] == "+", raw["gene_end"])
    assert (df["target_end"].to_numpy() == tss.to_numpy()).all()
    assert (
        (df["snp_pos"].to_numpy() - df["target_end"].to_numpy()) == raw["tss_distance"].to_numpy()
    ).all()


def test_phenotype_bed_with_sample_columns(tmp_path):
    bed = _write(
        tmp_path / "p.bed", "#chr\tstart\tend\tphenotype_id\tS1\tS2\nchr1\t99\t100\tG1\t0.5\t0.7\n"
    )
    assert read_phenotypes(bed).rows() == [("G1", "chr1", 99, 100)]


def test_parquet_missing_columns(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame(
        {"phenotype_id": ["G"], "variant_id": ["chr1_1_A_G"], "pval_nominal": [0.1]}
    ).to_parquet(path)
    with pytest.raises(InputError, match="missing column.*slope"):
        open_qtl(path)


def test_bad_value_after_earlier_chunks_names_its_row(tmp_path):
    rows = [BLUEPRINT] * 6
    rows[4] = BLUEPRINT.replace("0.08241", "x1")  # beta on line 5
    path = _write(tmp_path / "b.txt.gz", "".join(rows), gz=True)
    with pytest.raises(InputError, match=r"row 5, column 'beta'"):
        read_qtl(path, block_bytes=128)  # one-row chunks: rows 1-4 pass first


def test_ragged_row_is_read_like_the_others(tmp_path):
    rows = [BLUEPRINT] * 5
    rows[3] = BLUEPRINT.rstrip("\n") + " extra\n"
    path = _write(tmp_path / "b.txt", "".join(rows))
    df = read_qtl(path, block_bytes=128)
    assert df.height == 5 and df["snp_pos"].to_list() == [90164] * 5
