import pandas as pd
import pytest

from qtlgraph.cli import main

MARKS = ["--edge-type", "H3K27ac", "--edge-type", "H3K4me1"]
CELLS = ("mono", "neut", "tcel")


def _run(argv):
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """simulate tiny -> build per cell type -> train-local -> embed -> train (GNN)."""
    root = tmp_path_factory.mktemp("score")
    sim = root / "sim"
    assert _run(["simulate", "--preset", "tiny", "--out", str(sim)]) == 0
    for c in CELLS:
        qtl = [str(sim / "qtl" / f"{c}_{m}.txt.gz") for m in ("H3K27ac", "H3K4me1")]
        assert _run(["build", *qtl, "--genome", str(sim / "genome.chrom.sizes"), *MARKS,
                     "--out", str(root / f"g_{c}")]) == 0
    assert _run(["train-local", "--dataset", str(sim / "dataset.toml"), "--out", str(root / "enc"),
                 "--epochs", "1", "--dim", "8", "--device", "cpu"]) == 0
    assert _run(["embed", "--run", str(root / "enc"), "--out", str(root / "emb"), "--device", "cpu",
                 "--dtype", "float32", "--precision", "fp32"]) == 0
    graphs = [a for c in CELLS for a in ("--graph", f"{c}={root / f'g_{c}'}")]
    assert _run(["train", "--dataset", str(sim / "dataset.toml"), *graphs, "--embeddings", str(root / "emb"),
                 "--epochs", "3", "--hidden", "8", "--bootstrap", "5", "--device", "cpu",
                 "--out", str(root / "gnn")]) == 0
    return root


def _linked_variants(root, n=3):
    """Causal SNPs of the truth whose source bin links to another bin, as a variant TSV."""
    t = pd.read_csv(root / "sim" / "truth" / "variants.tsv.gz", sep="\t")
    t = t[(t["role"] == "causal") & (t["target_bin"] != t["snp_bin"])].drop_duplicates("variant_id").head(n)
    p = t["variant_id"].str.extract(r"(\w+):(\d+)_(\w+)_(\w+)")
    return pd.DataFrame({"chrom": "chr" + p[0], "pos": p[1].astype(int), "ref": p[2], "alt": p[3]}), t


@pytest.mark.slow
def test_score_variants_and_exports_end_to_end(run, tmp_path):
    variants, truth = _linked_variants(run)
    variants.to_csv(tmp_path / "v.tsv", sep="\t", index=False)
    assert _run(["score-variants", "--run", str(run / "gnn"), "--variants", str(tmp_path / "v.tsv"),
                 "--out", str(tmp_path / "s.tsv"), "--device", "cpu"]) == 0
    eff = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert {"delta_H3K27ac", "delta_H3K4me1", "distance_bp", "hops", "path", "top_edge"} <= set(eff.columns)
    assert set(eff["cell_type"]) == set(CELLS)
    own = eff[eff["hops"] == 0]
    assert len(own) == len(variants) * len(CELLS)
    linked = eff[eff["hops"] > 0]
    assert len(linked) and linked["path"].str.contains(">").all()
    edges = pd.read_csv(tmp_path / "s.edges.tsv", sep="\t")
    assert {"source_bin", "target_bin", "carried_H3K27ac"} <= set(edges.columns)
    assert _run(["export-bigwig", "--run", str(run / "gnn"), "--out", str(tmp_path / "bw"), "--device", "cpu"]) == 0
    assert len(list((tmp_path / "bw").glob("*.pred.bw"))) == 6
    assert _run(["export-edges", "--attribution", str(tmp_path / "s.edges.tsv"), "--run", str(run / "gnn"),
                 "--out", str(tmp_path / "learned")]) == 0
    assert (tmp_path / "learned" / "learned.interact.txt").is_file()
    assert _run(["score-variants", "--run", str(run / "gnn"), "--evaluate-qtl", "--out", str(tmp_path / "m.tsv"),
                 "--device", "cpu"]) == 0
    m = pd.read_csv(tmp_path / "m.tsv", sep="\t")
    assert set(m["comparison"]) == {"qtl_beta", "truth"} and (m["n"] > 0).all()


@pytest.mark.slow
def test_ref_mismatch_is_one_line_and_no_output(run, tmp_path, capsys):
    variants, _ = _linked_variants(run, 1)
    wrong = {"A": "C", "C": "G", "G": "T", "T": "A"}
    variants.assign(ref=variants["ref"].map(wrong)).to_csv(tmp_path / "v.tsv", sep="\t", index=False)
    code = _run(["score-variants", "--run", str(run / "gnn"), "--variants", str(tmp_path / "v.tsv"),
                 "--out", str(tmp_path / "s.tsv"), "--device", "cpu"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "ref allele mismatch" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "s.tsv").exists()
