"""Source-encoder filters started at training QTL SNPs (``--distal-init qtl``)."""

from __future__ import annotations

import json

import numpy as np
import torch
from gnn_helpers import train_distal_cli
from test_distal import ArraySequences

from qtlgraph.gnn.distal import SourceEncoder
from qtlgraph.gnn.distal_aux import AuxRows
from qtlgraph.gnn.distal_init import init_filters_from_snps, snp_windows

COMPLEMENT = np.array([3, 2, 1, 0, 4], np.uint8)


def _rows(bins, offsets, z):
    n = len(bins)
    zeros = torch.zeros(n, dtype=torch.long)
    return AuxRows(
        zeros,
        torch.tensor(bins),
        zeros,
        torch.tensor(offsets),
        torch.zeros(n, dtype=torch.uint8),
        torch.tensor(z, dtype=torch.float32),
    )


def test_windows_are_centred_on_distinct_strong_snps():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (5, 100)).astype(np.uint8)
    seqs = ArraySequences(codes)
    # 8 rows: the first two share one SNP; z decides the strongest quarter (>= n rows)
    rows = _rows(
        [0, 0, 1, 2, 3, 4, 4, 1], [50, 50, 3, 97, 40, 60, 61, 70], [9, 8, 7, 6, 1, 1, 1, 1]
    )
    w = snp_windows(rows, seqs, n=4, width=12, seed=0)
    assert w.shape == (4, 12)
    # the four strongest distinct SNPs: (0, 50), (1, 3), (2, 97), then one of z = 1
    expect = {(0, 50), (1, 3), (2, 97)}
    found = set()
    for win in w.numpy():
        for b, o in [(0, 50), (1, 3), (2, 97), (3, 40), (4, 60), (4, 61), (1, 70)]:
            padded = np.concatenate([np.full(12, 4), codes[b], np.full(12, 4)])
            if np.array_equal(padded[o + 12 - 6 : o + 12 + 6], win):
                found.add((b, o))
    assert expect <= found and len(found) == 4
    # past a bin's end: N (offset 3 reads 3 bases of N on the left, 97 three on the right)
    assert sorted(int((x == 4).sum()) for x in w.numpy())[-2:] == [3, 3]
    torch.testing.assert_close(w, snp_windows(rows, seqs, n=4, width=12, seed=0))  # seeded


def _scores(enc, codes):
    rows, grid = enc.kmer_rows(torch.from_numpy(codes[None]))
    with torch.no_grad():
        pre = enc._lookup(enc.tables(), rows, grid)[0]  # (L, 2 * channels), bias included
    return pre - enc.bias.detach().repeat(2)


def test_a_started_filter_scores_its_site_on_either_strand():
    rng = np.random.default_rng(1)
    site = rng.integers(0, 4, 12).astype(np.uint8)
    enc = SourceEncoder(channels=3, kernel=12, standardize=True, activation="relu")
    init_filters_from_snps(enc, torch.from_numpy(site[None]), seed=0)
    seq = rng.integers(0, 4, 400).astype(np.uint8)
    seq[100:112] = site
    seq[300:312] = COMPLEMENT[site[::-1]]
    top = _scores(enc, seq)[:, [0, 3]].max(dim=1).values  # filter 0, best strand
    # all 12 bases match: 9 / 1.5 = 6 standard deviations of uniform background (1% noise)
    for at in (100, 300):  # the site and its reverse complement
        assert abs(top[at - 10 : at + 20].max().item() - 6.0) < 0.3
    elsewhere = torch.cat([top[:90], top[120:290], top[320:]])
    assert elsewhere.max() < 4.5  # background stays well below
    # filters past the windows keep their random start
    fresh = SourceEncoder(channels=3, kernel=12, standardize=True, activation="relu")
    assert not torch.allclose(enc.weight[0], fresh.weight[0])


def test_raw_filters_keep_the_random_start_norm():
    torch.manual_seed(0)
    enc = SourceEncoder(channels=4, kernel=12)
    before = enc.weight.detach().flatten(1).norm(dim=1).mean()
    sites = torch.randint(0, 4, (4, 12), dtype=torch.uint8)
    init_filters_from_snps(enc, sites, seed=0)
    after = enc.weight.detach().flatten(1).norm(dim=1)
    torch.testing.assert_close(
        after, torch.full((4,), (1 / 48**0.5) * (16**0.5)), atol=1e-5, rtol=0
    )
    assert abs(before - after.mean()) < 0.1


def test_cli_records_the_start_and_refuses_a_bad_threshold(
    run_cli, tiny_pipeline, tmp_path, capsys
):
    out = tmp_path / "run"
    args = ["--epochs", "1", "--distal-init", "qtl-aligned", "--distal-activation", "relu"]
    args += ["--distal-filters", "standardized", "--distal-threshold", "4.5"]
    assert train_distal_cli(run_cli, tiny_pipeline, out, *args) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["options"]["filter_init"] == "qtl-aligned"
    assert cfg["model_config"]["threshold"] == 4.5
    bad = tmp_path / "bad"
    capsys.readouterr()
    code = train_distal_cli(
        run_cli, tiny_pipeline, bad, "--epochs", "1", "--distal-threshold", "-1"
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code != 0 and len(err) == 1 and "--distal-threshold -1" in err[0], err


def test_a_shuffled_control_starts_from_its_models_filters(tiny_pipeline):
    from qtlgraph.gnn.distal import SourceEncoder
    from qtlgraph.gnn.distal_aux import training_rows
    from qtlgraph.gnn.distal_init import init_filters
    from qtlgraph.gnn.distal_train import load_distal_data

    graphs = [f"{c}={g}" for c, g in tiny_pipeline.graphs.items()]
    base = {"dataset": str(tiny_pipeline.dataset), "graphs": graphs}
    base["embeddings"] = str(tiny_pipeline.embeddings)
    weights, linked = [], []
    for shuffle in (False, True):
        inputs, seqs = load_distal_data({**base, "shuffle_edges": shuffle}, seed=0)
        rows = training_rows(base, inputs, seqs)  # rows whose edge the graph keeps
        linked.append(0 if rows is None else len(rows.target))
        enc = SourceEncoder(channels=6, kernel=12, standardize=True)
        every = training_rows(base, inputs, seqs, edges=False)
        assert init_filters(enc, every, seqs, seed=3) == 6
        weights.append(enc.weight.detach().clone())
        assert init_filters(enc, every, seqs, seed=3, align=True) == 6
        weights.append(enc.weight.detach().clone())
        assert not torch.allclose(weights[-1], weights[-2])  # the alignment moved them
    assert linked[1] < linked[0]  # shuffling drops most QTL pairs from the graph ...
    # ... but the filters' rows are the QTL tables' whatever the graph keeps
    for a, b in ((0, 2), (1, 3)):  # one window each, and aligned
        torch.testing.assert_close(weights[a], weights[b], atol=0, rtol=0)


def _planted(rng, n_bins=120, length=300, width=8):
    """Bins of uniform random sequence, each with one site of a degenerate 8-bp motif on a
    random strand; each row's SNP is inside its bin's site. Returns codes, rows, sites."""
    consensus = rng.integers(0, 4, width)
    codes = rng.integers(0, 4, (n_bins, length)).astype(np.uint8)
    starts = rng.integers(20, length - 20 - width, n_bins)
    for b, s in enumerate(starts):
        site = consensus.copy()
        flip = rng.random(width) < 0.1  # 10% of the bases differ from the consensus
        site[flip] = rng.integers(0, 4, flip.sum())
        codes[b, s : s + width] = site if rng.random() < 0.5 else COMPLEMENT[site[::-1]]
    offsets = starts + rng.integers(0, width, n_bins)
    z = np.linspace(5, 1, n_bins)
    return codes, _rows(np.arange(n_bins), offsets, z), starts


def _best_site_score(enc, codes, starts, width=8):
    """Filter 0's best standardised score (either strand) over each bin's site."""
    out = []
    for b, s in enumerate(starts):
        top = _scores(enc, codes[b])[:, [0, enc.channels]].max(dim=1).values
        out.append(top[s - 6 : s + width + 6].max().item())
    return np.array(out)


def test_an_aligned_filter_scores_the_motif_not_its_seeds_flanks():
    from qtlgraph.gnn.distal_init import init_filters

    rng = np.random.default_rng(4)
    codes, rows, starts = _planted(rng)
    seqs = ArraySequences(codes)
    scores = {}
    for align in (False, True):
        enc = SourceEncoder(channels=1, kernel=12, standardize=True, activation="relu")
        assert init_filters(enc, rows, seqs, seed=0, align=align) == 1
        scores[align] = _best_site_score(enc, codes, starts)
        if align:  # 5,000 random positions on both strands stay below most sites
            background = _scores(enc, rng.integers(0, 4, 5000).astype(np.uint8))
            assert background[:, [0, 1]].max() < np.median(scores[align])
    # the seed copies one site and 4 random flank bases: other sites score lower
    assert np.median(scores[True]) > np.median(scores[False]) + 0.5
    assert np.median(scores[True]) > 4.0
    # aligned, the weight moves onto the motif's 8 positions (a seed spreads it evenly over
    # its 12: 8 / 12 of the squared norm)
    share = {}
    for align in (False, True):
        enc = SourceEncoder(channels=1, kernel=12, standardize=True)
        init_filters(enc, rows, seqs, seed=0, align=align)
        per_position = enc.filters()[0].pow(2).sum(dim=0)
        share[align] = (
            per_position.sort(descending=True).values[:8].sum() / per_position.sum()
        ).item()
    assert share[False] < 0.7 and share[True] > 0.75


def test_alignment_keeps_the_best_windows_and_its_seed_with_no_rounds():
    from qtlgraph.gnn.distal_init import align_filters, strand_windows

    rng = np.random.default_rng(5)
    site = torch.from_numpy(rng.integers(0, 4, 12).astype(np.uint8))
    seed = torch.nn.functional.one_hot(site.long(), 4).T.float()[None] - 0.25
    torch.testing.assert_close(
        align_filters(seed, strand_windows(torch.zeros(3, 23, dtype=torch.uint8), 12), 0), seed
    )
    # 30 windows hold the site (one on the minus strand), 270 are random: a round keeps the
    # best 10% = 30, so every count comes from the site
    wide = torch.from_numpy(rng.integers(0, 4, (300, 23)).astype(np.uint8))
    wide[:29, 5:17] = site
    wide[29, 3:15] = torch.from_numpy(COMPLEMENT[site.numpy()[::-1]].copy())
    w = align_filters(seed, strand_windows(wide, 12), rounds=1)
    expect = torch.full((4, 12), float(np.log(0.5 / 32 * 4)))
    expect[site.long(), torch.arange(12)] = float(np.log(30.5 / 32 * 4))
    torch.testing.assert_close(w[0], expect)
