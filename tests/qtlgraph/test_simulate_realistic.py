"""Tests of the ``realistic`` presets (realistic-tiny) and of their matrix, background and
LD kernels."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyfaidx
import pytest

from qtlgraph.errors import InputError
from qtlgraph.simulate import pwm, simulate
from qtlgraph.simulate.background import BackgroundParams, segments
from qtlgraph.simulate.ld import ld_association
from qtlgraph.simulate.qtl import QtlParams
from qtlgraph.simulate.sequence import encode

SEED = 3


@pytest.fixture(scope="module")
def rt(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "rt"
    simulate(out, seed=SEED, preset="realistic-tiny", progress=False)
    return out


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file()
    }


def _genome(root: Path) -> dict[str, np.ndarray]:
    fa = pyfaidx.Fasta(str(root / "genome.fa"), as_raw=True)
    return {c: encode(str(fa[c][:])) for c in fa.keys()}


def _summary(root: Path) -> dict:
    return json.loads((root / "truth" / "model.json").read_text())


def test_same_seed_same_bytes_and_background_choice(rt, tmp_path, run_cli):
    again = tmp_path / "again"
    simulate(again, seed=SEED, preset="realistic-tiny", progress=False)
    assert _hashes(again) == _hashes(rt)
    synth = tmp_path / "synth"
    argv = ["simulate", "--preset", "realistic-tiny", "--seed", str(SEED), "--out", str(synth)]
    assert run_cli([*argv, "--background", "synthetic"]) == 0
    assert _summary(synth)["background_source"] == "synthetic"
    # only the hg38 segments differ between the two sources (none where the files are absent)
    bg = pd.read_csv(rt / "truth" / "background.tsv", sep="\t")
    a = np.concatenate(list(_genome(rt).values()))
    b = np.concatenate(list(_genome(synth).values()))
    real = np.zeros(len(a), bool)
    for s, e in bg.loc[bg["source"] == "hg38", ["global_start", "global_end"]].to_numpy():
        real[s:e] = True
    differ = a != b
    assert not (differ & ~real).any()
    assert (_summary(rt)["background_source"] == "hg38") == bool(real.any())
    with pytest.raises(InputError, match="background"):
        simulate(tmp_path / "x", preset="realistic-tiny", background="hg19", progress=False)


def test_distal_motif_is_not_a_top_100_word(rt):
    from qtlgraph.gnn.kmers import canonical_index, enriched_columns, kmer_spectrum

    ranks = _summary(rt)["distal_kmer8_rank"]
    motifs = pd.read_csv(rt / "truth" / "motifs.tsv", sep="\t")
    distal = motifs[motifs["kind"] == "distal"]
    assert set(ranks) == set(distal["name"]) and len(ranks) == 2
    totals = 0
    for codes in _genome(rt).values():
        rows = np.full(-(-len(codes) // 10_000) * 10_000, 4, np.uint8)
        rows[: len(codes)] = codes
        totals = totals + kmer_spectrum(rows.reshape(-1, 10_000), 8).sum(axis=0, keepdims=True)
    column, n_cols = canonical_index(8)
    order = enriched_columns(totals, 8, n_cols)
    for name, word in zip(distal["name"], distal["best_8mer"]):
        code = int(encode(word).astype(np.int64) @ 4 ** np.arange(7, -1, -1))
        rank = int(np.flatnonzero(order == column[code])[0]) + 1
        assert rank == ranks[name]  # the recorded rank is the GNN features' ranking
        assert rank > 100


def test_planted_sites_follow_their_matrices(rt):
    motifs = {m.name: m for m in pwm.shipped_motifs()}
    genome = _genome(rt)
    inst = pd.read_csv(rt / "truth" / "motif_instances.tsv.gz", sep="\t")
    rng = np.random.default_rng(0)
    for name, g in inst.groupby("motif"):
        m = motifs[name]
        words = np.stack([genome[c][s : s + m.width] for c, s in zip(g["chrom"], g["start"])])
        best = np.maximum(pwm.score(m, words), pwm.score(m, pwm.reverse_complement(words)))
        assert np.allclose(best, g["score"], atol=2e-3)
        assert (best >= m.threshold - 1e-3).all()
        codes = genome["chr3"]
        at = rng.integers(20_000, len(codes) - 100, 2000)
        random = codes[at[:, None] + np.arange(m.width)]
        random = random[(random < 4).all(axis=1)]
        assert best.mean() > pwm.score(m, random).mean() + 10  # bits
        if len(g) >= 20:  # sampled, not one consensus string
            share = pd.Series([w.tobytes() for w in words]).value_counts(normalize=True)
            assert len(share) > 3 and share.iloc[0] < 0.5


def test_sample_sites_match_the_matrix_frequencies():
    m = pwm.shipped_motifs()[0]
    words = pwm.sample_sites(np.random.default_rng(1), m, 4000, tries=1)
    freq = np.stack([np.bincount(words[:, j], minlength=4) / 4000 for j in range(m.width)])
    assert np.abs(freq - m.prob).max() < 0.03


def test_score_threshold_by_hand():
    # two positions, each A with 0.7 and C/G/T with 0.1: scores 2 log2(2.8) (p 1/16),
    # log2(2.8) + log2(0.4) (p 6/16) and 2 log2(0.4) (p 9/16)
    lo = np.log2(np.array([[0.7, 0.1, 0.1, 0.1]] * 2) / 0.25)
    top, mid = 2 * np.log2(2.8), np.log2(2.8) + np.log2(0.4)
    assert pwm.score_threshold(lo, p=0.1, below_top=(0, 10)) == pytest.approx(top, abs=0.02)
    assert pwm.score_threshold(lo, p=0.5, below_top=(0, 10)) == pytest.approx(mid, abs=0.02)
    assert pwm.score_threshold(lo, p=0.1, below_top=(2.5, 10)) == pytest.approx(top - 2.5)
    assert pwm.score_threshold(lo, p=1.0, below_top=(0, 4)) == pytest.approx(top - 4)


def test_scan_and_count_delta_find_a_planted_word():
    m = pwm.shipped_motifs()[3]  # CTCF, 15 positions
    codes = np.full(400, 4, np.uint8)
    consensus = m.prob.argmax(axis=1).astype(np.uint8)
    codes[100 : 100 + m.width] = pwm.reverse_complement(consensus[None])[0]
    hits = pwm.scan(codes, (m,), np.array([0, 400]))
    assert hits.start.tolist() == [100]
    j = int(np.argmax(m.logodds.max(axis=1) - m.logodds.min(axis=1)))
    pos = 100 + m.width - 1 - j  # reverse strand
    worst = 3 - int(m.logodds[j].argmin())
    assert pwm.count_delta(codes, np.array([pos]), np.array([worst], np.uint8), (m,)).tolist() == [
        [-1]
    ]


def test_gc_varies_along_the_genome(rt):
    bg = pd.read_csv(rt / "truth" / "background.tsv", sep="\t")
    assert bg["gc"].max() - bg["gc"].min() > 0.08
    synth = bg[(bg["source"] == "synthetic") & (bg["global_end"] - bg["global_start"] > 50_000)]
    # repeats and planted sites move a segment's GC only a little from its drawn value
    assert np.abs(synth["gc"] - synth["gc_drawn"]).max() < 0.04
    seg = segments(np.random.default_rng(0), 5_000_000, BackgroundParams())
    length = seg.end - seg.start
    assert seg.end[-1] == 5_000_000 and (length[:-1] >= 100_000).all() and length.max() <= 1e6


def test_ld_clusters_have_one_causal_snp(rt):
    v = pd.read_csv(rt / "truth" / "variants.tsv.gz", sep="\t")
    assert set(v["causal"]) == {0, 1} and (v["causal"] == (v["role"] == "causal")).all()
    linked = v[v["role"] != "background"]
    pos = linked["variant_id"].str.extract(r":(\d+)_")[0].astype(int)
    linked = linked.assign(pos=pos)
    sizes = []
    for _, g in linked.groupby(["cell_type", "mark", "phenotype_id", "snp_bin"]):
        assert g["causal"].sum() == 1
        causal = g[g["causal"] == 1].iloc[0]
        assert (np.abs(g["pos"] - causal["pos"]) <= 3000).all()
        assert (g.loc[g["causal"] == 0, "true_effect"] == 0).all()
        assert causal["r2"] == 1 and g.loc[g["causal"] == 0, "r2"].between(0.2, 0.95).all()
        sizes.append(len(g))
    assert max(sizes) <= 8 and np.median(sizes) >= 3
    assert (linked.loc[linked["causal"] == 1, "delta_motif"] != 0).all()


def test_ld_partners_follow_the_causal_z_score():
    n = 4000
    rows = np.arange(2 * n)
    lead = np.where(rows >= n, rows - n, -1)
    r = np.where(rows >= n, np.sqrt(0.64), 0.0)
    mean = np.where(rows < n, 0.3, 0.0)
    af = np.full(2 * n, 0.3)
    out = ld_association(np.random.default_rng(0), mean, af, rows, lead, r, QtlParams())
    z = out["beta"].to_numpy() / out["se"].to_numpy()
    assert np.corrcoef(z[:n], z[n:])[0, 1] == pytest.approx(0.8, abs=0.03)
    assert out["qtl_mean"].to_numpy()[n:] == pytest.approx(0.8 * 0.3)  # equal se here


def test_loads_with_check_dataset_and_builds(rt, tmp_path, run_cli):
    assert run_cli(["check-dataset", str(rt / "dataset.toml")]) == 0
    qtl = [str(rt / "qtl" / f"mono_{m}.txt.gz") for m in ("H3K27ac", "H3K4me1")]
    argv = ["build", *qtl, "--genome", str(rt / "genome.chrom.sizes"), "--out", str(tmp_path / "g")]
    assert run_cli(argv) == 0
    assert any((tmp_path / "g").iterdir())


def test_truth_rows_reads_the_causal_rows(rt):
    from qtlgraph.genome import BinIndex
    from qtlgraph.gnn.score_eval import truth_rows
    from qtlgraph.manifest import load_dataset

    ds = load_dataset(rt / "dataset.toml")
    rows = truth_rows(rt / "truth", ds, BinIndex(ds.genome, 10_000), part="train")
    v = pd.read_csv(rt / "truth" / "variants.tsv.gz", sep="\t")
    assert len(rows) > 0 and set(rows["variant_id"]) <= set(v.loc[v["causal"] == 1, "variant_id"])


def test_pyjaspar_gives_the_shipped_matrices():
    pytest.importorskip("pyjaspar")
    shipped = pwm.shipped_motifs()[:2]
    read = pwm.jaspar_motifs([m.matrix_id for m in shipped])
    for a, b in zip(shipped, read):
        assert a.matrix_id == b.matrix_id and np.allclose(a.prob, b.prob)


def test_distal_term_sits_at_targets_with_strong_sources(rt):
    bins = pd.read_csv(rt / "truth" / "bins.tsv.gz", sep="\t")
    links = pd.read_csv(rt / "truth" / "links.tsv", sep="\t")
    d = np.nan_to_num(bins["distal_mono_H3K27ac"].to_numpy())  # NaN: bins all N
    # the mono drive of each target: sum of w * S over its links acting in mono
    mono = links[links["cell_types"].str.contains("mono")]
    drive = np.bincount(
        mono["target_bin"], weights=mono["weight"] * mono["source_strength"], minlength=len(d)
    )
    assert d.max() > 0.1
    assert d[drive == 0].max() < 0.05 * d.max()  # tails of neighbouring targets only
    on = drive > 0
    assert np.corrcoef(drive[on], d[on])[0, 1] > 0.9


def test_jaspar_option(tmp_path):
    with pytest.raises(InputError, match="only the realistic presets"):
        simulate(tmp_path / "a", preset="tiny", jaspar="MA0080", progress=False)
    with pytest.raises(InputError, match="at least 5"):
        simulate(tmp_path / "a", preset="realistic-tiny", jaspar="MA0080,MA0466", progress=False)
    assert not (tmp_path / "a").exists()
    pytest.importorskip("pyjaspar")
    ids = "MA0080,MA0466,MA0652,MA1929,MA0002,MA0079"  # MA1929: a 31-position CTCF matrix
    with pytest.raises(InputError, match="MA9999"):
        simulate(tmp_path / "a", preset="realistic-tiny", jaspar=ids + ",MA9999", progress=False)
    simulate(tmp_path / "b", seed=1, preset="realistic-tiny", jaspar=ids, progress=False)
    motifs = pd.read_csv(tmp_path / "b" / "truth" / "motifs.tsv", sep="\t")
    assert motifs["matrix_id"].str.split(".").str[0].tolist() == ids.split(",")
    assert motifs.loc[motifs["matrix_id"].str.startswith("MA1929"), "width"].item() == 31


def test_no_distal_changes_only_the_histone_tracks_and_effects(rt, tmp_path):
    null = tmp_path / "null"
    simulate(null, seed=SEED, preset="realistic-tiny", distal=False, progress=False)
    a, b = _hashes(rt), _hashes(null)
    same = [k for k in a if k.startswith("qtl/") or "accessibility" in k or k == "genome.fa"]
    assert len(same) == 10 and all(a[k] == b[k] for k in same)
    assert a["tracks/mono.H3K27ac.bw"] != b["tracks/mono.H3K27ac.bw"]
    v = pd.read_csv(null / "truth" / "variants.tsv.gz", sep="\t")
    assert (v["true_effect"] == 0).all() and (v["qtl_mean"] != 0).any()


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_distal_words_stay_below_the_top_100_across_seeds(seed):
    from qtlgraph.simulate.model import PRESETS
    from qtlgraph.simulate.realistic import build_realistic
    from qtlgraph.simulate.realistic_output import kmer_ranks

    ranks = kmer_ranks(build_realistic(seed, PRESETS["realistic-tiny"], []))
    assert len(ranks) == 2 and min(ranks.values()) > 100
