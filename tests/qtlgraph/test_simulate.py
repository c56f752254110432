"""Tests of the simulated dataset (tiny preset) and of the simulator's small kernels."""

from __future__ import annotations

import gzip
import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the declared tomli backport
    import tomli as tomllib

from qtlgraph.errors import InputError
from qtlgraph.simulate import simulate
from qtlgraph.simulate.qtl import benjamini_hochberg, kernel_mean
from qtlgraph.simulate.sequence import MOTIFS, encode, kmer_motif_ids, make_layout, motif_delta
from qtlgraph.simulate.write import write_fasta

SEED = 5
CELLS = ("mono", "neut", "tcel")
MARKS = ("H3K27ac", "H3K4me1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "tiny"
    simulate(out, seed=SEED, preset="tiny", progress=False)
    return out


@pytest.fixture(scope="module")
def tiny_null(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "tiny_null"
    simulate(out, seed=SEED, preset="tiny", distal=False, progress=False)
    return out


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file()
    }


def _blueprint(path: Path) -> pd.DataFrame:
    """A minimal reader of the 9-column BLUEPRINT layout."""
    rows = [line.split(" ") for line in gzip.open(path, "rt").read().splitlines()]
    assert {len(r) for r in rows} == {9}
    df = pd.DataFrame(rows, columns=["snp", "rsid", "peak", "p", "beta", "bonf", "fdr", "af", "se"])
    snp = df["snp"].str.extract(r"^(\w+):(\d+)_([ACGT])_([ACGT])$")
    peak = df["peak"].str.extract(r"^(\w+):(\d+):(\d+)$")
    assert not snp.isna().any().any() and not peak.isna().any().any()
    df[["chrom", "pos", "ref", "alt"]] = snp
    df[["pchrom", "pstart", "pend"]] = peak
    for c in ("pos", "pstart", "pend"):
        df[c] = df[c].astype(int)
    for c in ("p", "beta", "bonf", "fdr", "af", "se"):
        df[c] = df[c].astype(float)
    return df


def test_same_seed_same_bytes(tiny, tmp_path):
    again = tmp_path / "again"
    simulate(again, seed=SEED, preset="tiny", progress=False)
    assert _hashes(again) == _hashes(tiny)
    other = tmp_path / "other"
    simulate(other, seed=SEED + 1, preset="tiny", progress=False)
    assert _hashes(other)["genome.fa"] != _hashes(tiny)["genome.fa"]


# Bytes of the tiny preset, seed 5, as first released: new presets and refactors of the
# simulator must leave the old presets byte for byte as they are.
PINNED = {
    "genome.fa": "49924a51234eefa0f8d1b8c8393386c2f33bb1140ed1c3977bdbca3a0cb373b0",
    "qtl/mono_H3K27ac.txt.gz": "1eddf7812056f1b266dc54ccb49238aa7060120be3242abc0a3d3e0c6f568f5b",
    "truth/links.tsv": "16b626124a6337cc3ccaf36449c893af321b1ced717adbec236949e5176d7a33",
    "truth/model.json": "04022e09441690d36b0b9ecffbb9fc8877a75047534c70608eeb2daa893f1fb4",
    "truth/variants.tsv.gz": "6db2c9285563cb6fbb84d6c1e07947f01355ccf92efc1e158b43f0c95c2ac2c3",
}


def test_tiny_preset_bytes_are_pinned(tiny):
    hashes = _hashes(tiny)
    assert {name: hashes[name] for name in PINNED} == PINNED


def test_refuses_non_empty_output(tiny):
    with pytest.raises(InputError, match="not empty"):
        simulate(tiny, seed=SEED, preset="tiny", progress=False)
    with pytest.raises(InputError, match="preset"):
        simulate(tiny.parent / "x", preset="huge", progress=False)
    assert not (tiny.parent / "x").exists()


def test_manifest_fasta_and_sizes_agree(tiny, tmp_path):
    import pyBigWig
    import pyfaidx

    manifest = tomllib.loads((tiny / "dataset.toml").read_text())
    assert set(manifest["cell_types"]) == set(CELLS)
    sizes = dict(
        line.split("\t") for line in (tiny / "genome.chrom.sizes").read_text().splitlines()
    )
    sizes = {c: int(n) for c, n in sizes.items()}
    assert {"chr1", "chr2", "chr8", "chr21", "chr3", "chr4", "chr5"} == set(sizes)
    assert 2_000_000 <= sum(sizes.values()) <= 3_000_000
    fa = pyfaidx.Fasta(str(tiny / "genome.fa"))
    assert {c: len(fa[c]) for c in fa.keys()} == sizes
    assert set(str(fa["chr1"][:5000])) == {"N"}  # the telomere gap
    copy = tmp_path / "g.fa"
    shutil.copy(tiny / "genome.fa", copy)
    pyfaidx.Faidx(str(copy))  # pyfaidx writes its own index: ours must be identical
    assert Path(f"{copy}.fai").read_text() == (tiny / "genome.fa.fai").read_text()
    for entry in manifest["cell_types"].values():
        for path in [entry["accessibility"], *entry["marks"].values()]:
            bw = pyBigWig.open(str(tiny / path))
            assert bw.chroms() == sizes
            assert np.isnan(bw.values("chr1", 0, 1000)).all()
        for path in entry["qtl"].values():
            assert (tiny / path).is_file()


def test_positive_fraction_is_realistic(tiny):
    import pyBigWig

    for cell in CELLS:
        for mark in MARKS:
            bw = pyBigWig.open(str(tiny / "tracks" / f"{cell}.{mark}.bw"))
            v = np.asarray(bw.values("chr3", 0, bw.chroms("chr3")), dtype=float)
            frac = np.mean(v[~np.isnan(v)] > 2)
            assert 0.02 < frac < 0.2, (cell, mark, frac)


def test_qtl_tables_layout_alleles_and_statistics(tiny):
    import pyfaidx
    from scipy.special import ndtr

    fa = pyfaidx.Fasta(str(tiny / "genome.fa"))
    seq = {c: str(fa[c][:]) for c in fa.keys()}
    for cell in CELLS:
        for mark in MARKS:
            df = _blueprint(tiny / "qtl" / f"{cell}_{mark}.txt.gz")
            assert not df["chrom"].str.startswith("chr").any()
            refs = [seq["chr" + c][p - 1] for c, p in zip(df["chrom"], df["pos"])]
            assert refs == df["ref"].tolist()
            assert (df["ref"] != df["alt"]).all()
            p = 2 * ndtr(-np.abs(df["beta"] / df["se"]))
            # beta and se are printed rounded, so compare log p
            np.testing.assert_allclose(np.log(df["p"]), np.log(p), rtol=1e-2, atol=2e-3)
            assert (df["fdr"] >= df["p"] * 0.999).all() and (df["bonf"] >= df["p"] * 0.999).all()
            np.testing.assert_allclose(df["fdr"], benjamini_hochberg(df["p"].to_numpy()), rtol=2e-3)
            mid = (df["pstart"] + df["pend"]) // 2
            assert (df["chrom"] == df["pchrom"]).all() and (abs(mid - df["pos"]) <= 1_001_000).all()
            sig = (df["fdr"] < 0.05).mean()
            assert 0.02 < sig < 0.5  # filtering matters: most rows are null


def test_truth_links_shape(tiny):
    links = pd.read_csv(tiny / "truth" / "links.tsv", sep="\t")
    bins = pd.read_csv(tiny / "truth" / "bins.tsv.gz", sep="\t")
    assert (links["source_chrom"] == links["target_chrom"]).all()
    assert (links["distance_bp"].abs() <= 1_000_000).all()
    assert (links["source_bin"] != links["target_bin"]).all()
    assert not links.duplicated(["source_bin", "target_bin"]).any()
    without = (bins["in_degree"] == 0).mean()
    assert 0.85 < without < 0.97  # about 90% of bins have no incoming link
    assert bins["in_degree"].max() >= 3  # hubs
    specific = links["cell_types"] != "mono,neut,tcel"
    assert 0 < specific.mean() < 0.7


def test_distal_term_matches_tracks(tiny):
    import pyBigWig

    bins = pd.read_csv(tiny / "truth" / "bins.tsv.gz", sep="\t")
    target = bins["in_degree"] > 0
    for cell in CELLS:
        for mark in MARKS:
            distal = bins[f"distal_{cell}_{mark}"]
            # only the Gaussian tail of a neighbouring target's peak reaches other bins
            assert distal[~target].abs().max() < 0.01 * distal.max()
            assert (distal[target] > 0).mean() > 0.5
            bw = pyBigWig.open(str(tiny / "tracks" / f"{cell}.{mark}.bw"))
            t = bins[target]
            mean = np.array(
                [
                    bw.stats(c, int(s), int(e), type="mean", exact=True)[0] or np.nan
                    for c, s, e in zip(t["chrom"], t["start"], t["end"])
                ],
                dtype=float,
            )
            resid = mean - t[f"local_{cell}_{mark}"].to_numpy()
            ok = ~np.isnan(resid)
            r = np.corrcoef(resid[ok], t[f"distal_{cell}_{mark}"].to_numpy()[ok])[0, 1]
            assert r > 0.7, (cell, mark, r)


def test_no_distal_is_the_same_dataset_without_the_distal_term(tiny, tiny_null):
    a, b = _hashes(tiny), _hashes(tiny_null)
    same = [
        "genome.fa",
        "genome.fa.fai",
        "genome.chrom.sizes",
        "dataset.toml",
        "truth/links.tsv",
        *[f"qtl/{c}_{m}.txt.gz" for c in CELLS for m in MARKS],
    ]
    assert all(a[f] == b[f] for f in same)
    assert a["tracks/mono.H3K27ac.bw"] != b["tracks/mono.H3K27ac.bw"]
    assert a["tracks/mono.accessibility.bw"] == b["tracks/mono.accessibility.bw"]
    bins = pd.read_csv(tiny_null / "truth" / "bins.tsv.gz", sep="\t")
    assert (bins.filter(like="distal_").fillna(0) == 0).all().all()
    var = pd.read_csv(tiny_null / "truth" / "variants.tsv.gz", sep="\t")
    assert (var["true_effect"] == 0).all()


def test_variant_truth_agrees_with_tables(tiny):
    var = pd.read_csv(tiny / "truth" / "variants.tsv.gz", sep="\t")
    causal = var[var["role"] == "causal"]
    assert len(causal) and (causal["true_effect"] != 0).all() and (causal["delta_motif"] != 0).all()
    assert (var.loc[var["role"] != "causal", "true_effect"].abs() < 1e-12).mean() > 0.99
    assert (var["role"] == "background").mean() > 0.7  # many more null rows
    r = np.corrcoef(causal["true_effect"], causal["beta"])[0, 1]
    assert r > 0.7
    table = _blueprint(tiny / "qtl" / "mono_H3K27ac.txt.gz")
    mine = var[(var["cell_type"] == "mono") & (var["mark"] == "H3K27ac")]
    assert mine["variant_id"].tolist() == table["snp"].tolist()
    np.testing.assert_allclose(mine["beta"], table["beta"], rtol=1e-4)


def test_loads_through_project_readers(tiny):
    manifest = pytest.importorskip("qtlgraph.manifest")
    qtl = pytest.importorskip("qtlgraph.qtl")
    ds = manifest.load_dataset(tiny / "dataset.toml")
    assert [c.name for c in ds.cell_types] == list(CELLS) and tuple(ds.marks) == MARKS
    assert ds.genome.chroms[0] == "chr1" and ds.truth_dir == tiny / "truth"
    df = qtl.read_qtl(ds.cell_types[0].qtl["H3K27ac"])
    assert df.height == len(_blueprint(tiny / "qtl" / "mono_H3K27ac.txt.gz"))
    assert (df["target_end"] - df["target_start"]).min() > 0


def test_benjamini_hochberg_by_hand():
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    np.testing.assert_allclose(q, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


def test_kmer_scan_and_motif_delta():
    motif = MOTIFS[0].consensus
    rc = motif[::-1].translate(str.maketrans("ACGT", "TGCA"))
    seq = "TTTTT" + motif + "TTTTT" + rc + "TTTTN"
    ids = kmer_motif_ids(encode(seq)[None, :])[0]
    assert np.flatnonzero(ids >= 0).tolist() == [5, 20] and set(ids[ids >= 0]) == {0}
    codes = encode(seq)
    delta = motif_delta(
        codes, np.array([12, 12]), np.array([codes[12], (codes[12] + 1) % 4], np.uint8)
    )
    assert delta[0].tolist() == [0] * len(MOTIFS)
    assert delta[1, 0] == -1 and np.abs(delta[1, 1:]).sum() == 0


def test_kernel_mean_by_hand():
    assert math.isclose(kernel_mean(1.0, 10_000), math.sqrt(2 * math.pi) / 20_000, rel_tol=1e-9)
    x = np.linspace(-1000, 1000, 200_001)
    assert math.isclose(
        kernel_mean(500.0, 1000), np.exp(-(x**2) / (2 * 500**2)).mean(), rel_tol=1e-4
    )


def test_fasta_writer_line_layout(tmp_path):
    layout = make_layout(("chrA", "chrB"), (7, 61))
    codes = np.concatenate([encode("ACGTNAC"), encode("A" * 61)])
    write_fasta(tmp_path / "x.fa", codes, layout)
    text = (tmp_path / "x.fa").read_text()
    assert text == ">chrA\nACGTNAC\n>chrB\n" + "A" * 60 + "\nA\n"
    assert (tmp_path / "x.fa.fai").read_text() == "chrA\t7\t6\t60\t61\nchrB\t61\t20\t60\t61\n"


def test_cli_one_line_error_and_success(tmp_path, capsys):
    from qtlgraph.cli import main

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "f").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--out", str(tmp_path / "busy"), "--preset", "tiny"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "not empty" in err[-1]


def test_target_effect_is_the_bin_change_of_a_rerun_with_the_edited_source(tiny):
    """``true_target_effect`` against a brute force: redraw the tracks with the causal row's
    source strength changed by its ``delta_motif`` and read the target bin's noise-free mean.
    """
    from qtlgraph.simulate import model as sim
    from qtlgraph.simulate.output import observed_tracks, track_gaps
    from qtlgraph.simulate.tracks import TrackParams

    var = pd.read_csv(tiny / "truth" / "variants.tsv.gz", sep="\t")
    causal = var[(var["role"] == "causal") & (var["target_bin"] >= 0)]
    assert (causal["true_target_effect"] != 0).all()
    assert (var.loc[var["true_effect"] == 0, "true_target_effect"] == 0).all()
    # unit check: a peak-mean change spread over a 10 kb bin, through log1p, is smaller
    assert (causal["true_target_effect"].abs() < causal["true_effect"].abs()).all()
    assert (np.sign(causal["true_target_effect"]) == np.sign(causal["true_effect"])).all()

    p = TrackParams()
    model = sim.build_model(SEED, sim.PRESETS["tiny"])
    nan = track_gaps(np.random.default_rng(0), model, sim.PRESETS["tiny"].unmappable_per_mb)
    _, local, dist, _ = observed_tracks(np.random.default_rng(1), model, p, True, nan, False)
    # one causal row per source bin (its edit changes every target of that bin; the row's
    # own target is read)
    rows = causal.drop_duplicates("snp_bin").head(3)
    for row in rows.itertuples():
        strength = model.strength.copy()
        strength[row.snp_bin] += row.delta_motif
        edited = model._replace(strength=strength)
        _, _, dist2, _ = observed_tracks(np.random.default_rng(1), edited, p, True, nan, False)
        c, k, t = CELLS.index(row.cell_type), MARKS.index(row.mark), row.target_bin
        m = local[c, k, t] + dist[c, k, t]
        want = np.log1p(local[c, k, t] + dist2[c, k, t]) - np.log1p(m)
        assert row.true_target_effect == pytest.approx(want, rel=1e-3), row
