import numpy as np
import pandas as pd
import pytest

CELLS = ("mono", "neut", "tcel")


@pytest.fixture(scope="module")
def run(tiny_pipeline, run_cli, tmp_path_factory):
    """A 3-epoch GNN run on the shared tiny pipeline, in its own folder; its path."""
    out = tmp_path_factory.mktemp("score") / "gnn"
    assert (
        run_cli(
            [
                "train",
                "--dataset",
                str(tiny_pipeline.dataset),
                *tiny_pipeline.graph_args(),
                "--embeddings",
                str(tiny_pipeline.embeddings),
                "--epochs",
                "3",
                "--hidden",
                "8",
                "--bootstrap",
                "5",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def _linked_variants(root, n=3):
    """Causal SNPs of the truth whose source bin links to another bin, as a variant TSV."""
    t = pd.read_csv(root / "sim" / "truth" / "variants.tsv.gz", sep="\t")
    t = (
        t[(t["role"] == "causal") & (t["target_bin"] != t["snp_bin"])]
        .drop_duplicates("variant_id")
        .head(n)
    )
    p = t["variant_id"].str.extract(r"(\w+):(\d+)_(\w+)_(\w+)")
    return pd.DataFrame(
        {"chrom": "chr" + p[0], "pos": p[1].astype(int), "ref": p[2], "alt": p[3]}
    ), t


@pytest.mark.slow
def test_score_variants_and_exports_end_to_end(tiny_pipeline, run_cli, run, tmp_path):
    variants, truth = _linked_variants(tiny_pipeline.root)
    variants.to_csv(tmp_path / "v.tsv", sep="\t", index=False)
    assert (
        run_cli(
            [
                "score-variants",
                "--run",
                str(run),
                "--variants",
                str(tmp_path / "v.tsv"),
                "--out",
                str(tmp_path / "s.tsv"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    eff = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert {"delta_H3K27ac", "delta_H3K4me1", "distance_bp", "hops", "path", "top_edge"} <= set(
        eff.columns
    )
    assert set(eff["cell_type"]) == set(CELLS)
    own = eff[eff["hops"] == 0]
    assert len(own) == len(variants) * len(CELLS)
    linked = eff[eff["hops"] > 0]
    assert len(linked) and linked["path"].str.contains(">").all()
    edges = pd.read_csv(tmp_path / "s.edges.tsv", sep="\t")
    assert {"source_bin", "target_bin", "carried_H3K27ac"} <= set(edges.columns)
    assert (
        run_cli(
            ["export-bigwig", "--run", str(run), "--out", str(tmp_path / "bw"), "--device", "cpu"]
        )
        == 0
    )
    assert len(list((tmp_path / "bw").glob("*.pred.bw"))) == 6
    assert (
        run_cli(
            [
                "export-edges",
                "--attribution",
                str(tmp_path / "s.edges.tsv"),
                "--run",
                str(run),
                "--out",
                str(tmp_path / "learned"),
            ]
        )
        == 0
    )
    assert (tmp_path / "learned" / "learned.interact.txt").is_file()
    assert (
        run_cli(
            [
                "score-variants",
                "--run",
                str(run),
                "--evaluate-qtl",
                "--out",
                str(tmp_path / "m.tsv"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    m = pd.read_csv(tmp_path / "m.tsv", sep="\t")
    assert set(m["comparison"]) == {"qtl_beta", "truth"} and (m["n"] > 0).all()
    # the truth rows are in the model's unit: the change of the target bin's log1p mean
    rows = pd.read_csv(tmp_path / "m.rows.tsv", sep="\t")
    rows = rows[rows["comparison"] == "truth"]
    t = pd.read_csv(tiny_pipeline.root / "sim" / "truth" / "variants.tsv.gz", sep="\t")
    key = ["cell_type", "mark", "variant_id", "target_bin"]
    both = rows.merge(t[key + ["true_target_effect"]], on=key)
    assert len(both) == len(rows) > 0
    np.testing.assert_allclose(both["value"], both["true_target_effect"], rtol=1e-5)


@pytest.mark.slow
def test_ref_mismatch_is_one_line_and_no_output(tiny_pipeline, run_cli, run, tmp_path, capsys):
    variants, _ = _linked_variants(tiny_pipeline.root, 1)
    wrong = {"A": "C", "C": "G", "G": "T", "T": "A"}
    variants.assign(ref=variants["ref"].map(wrong)).to_csv(
        tmp_path / "v.tsv", sep="\t", index=False
    )
    code = run_cli(
        [
            "score-variants",
            "--run",
            str(run),
            "--variants",
            str(tmp_path / "v.tsv"),
            "--out",
            str(tmp_path / "s.tsv"),
            "--device",
            "cpu",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "ref allele mismatch" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "s.tsv").exists()
