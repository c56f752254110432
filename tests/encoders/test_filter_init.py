"""Filters started at enriched k-mers: counting, ranking, the seeded weights, the run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_unet_run import MOTIF, SMALL, write_motif_dataset
from torch import nn

from qtlgraph.encoders.filter_init import (
    decode,
    enriched_kmers,
    kmer_codes,
    min_z,
    reverse_complement,
    seed_conv,
    seed_from_windows,
)


def _codes(s: str) -> np.ndarray:
    return np.array(["ACGTN".index(b) for b in s])[None]


def test_kmer_codes_are_strand_free_and_flag_n():
    index, bad = kmer_codes(_codes("AACGTNA"), 3)
    assert index.shape == (1, 5)
    # AAC and its reverse complement GTT share one index, the smaller (AAC)
    assert decode(int(index[0, 0]), 3) == "AAC"
    assert index[0, 0] == kmer_codes(_codes("GTT"), 3)[0][0, 0]
    assert decode(int(index[0, 1]), 3) == "ACG"  # ACG against its reverse complement CGT
    assert bad[0].tolist() == [False, False, False, True, True]  # GTN and TNA


def _planted(kmer: str, n: int = 40, length: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    positive = np.zeros((n, length), bool)
    for w in range(n):
        for start in range(100, length - 100, 300):
            codes[w, start : start + len(kmer)] = ["ACGT".index(b) for b in kmer]
            positive[w, start - 50 : start + 60] = True
    return codes, positive


def test_the_planted_kmer_is_the_first_seed_and_its_shifts_are_left_out():
    codes, positive = _planted("GATTACA")
    seeds = enriched_kmers(codes, positive, 7, 4)
    assert seeds[0].kmer in ("GATTACA", reverse_complement("GATTACA"))
    assert seeds[0].z > min_z(7) and seeds[0].positive >= 40 * 6
    for s in seeds[1:]:  # a shifted copy would share a 5-mer with the first
        both = seeds[0].kmer + "|" + reverse_complement(seeds[0].kmer)
        assert not any(s.kmer[a : a + 5] in both for a in range(3))


def test_labels_unrelated_to_sequence_seed_nothing():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, (40, 2000))
    positive = rng.random((40, 2000)) < 0.1
    assert enriched_kmers(codes, positive, 7, 8) == []


def test_a_seeded_filter_fires_at_up_to_one_mismatch_and_keeps_other_channels():
    conv = nn.Conv1d(6, 2, 9)
    other = conv.weight[:, 4:].detach().clone()
    codes, positive = _planted("GATTACA")
    seeds = enriched_kmers(codes, positive, 7, 1)
    seed_conv(conv, seeds)
    assert torch.equal(conv.weight[:, 4:], other)
    kmer = seeds[0].kmer

    def score(s):
        x = torch.zeros(1, 6, 9)
        for i, b in enumerate(s):
            x[0, "ACGT".index(b), i] = 1.0
        return conv(x)[0, 0, 0].item()  # channels 4-5 are zero here

    flank = "A" + kmer + "A"  # the 7-mer centred in the 9-bp kernel
    mismatch = flank[:3] + ("C" if flank[3] != "C" else "G") + flank[4:]
    assert score(flank) == pytest.approx(1.5, abs=1e-5)
    assert score(mismatch) == pytest.approx(0.5, abs=1e-5)
    assert score("A" + reverse_complement(kmer) + "A") < 0.5  # one strand per filter


def test_train_unet_enriched_seeds_the_planted_motif(tmp_path, run_cli):
    manifest = write_motif_dataset(tmp_path / "data")
    args = ["train-unet", "--dataset", str(manifest), "--model", "A", "--out"]
    args += [str(tmp_path / "run"), "--epochs", "1", "--filter-init", "enriched"]
    for key in ("windows", "batch_size", "base_filters", "depth", "length", "valid_windows"):
        args += [f"--{key.replace('_', '-')}", str(SMALL[key])]
    assert run_cli([*args, "--device", "cpu", "--no-evaluate"]) == 0
    table = (tmp_path / "run" / "filter_seeds.tsv").read_text().splitlines()
    assert table[0] == "filter\tkmer\tz\tpositive\ttotal"
    first = table[1].split("\t")[1]
    assert first in MOTIF or reverse_complement(first) in MOTIF


def test_seed_from_windows_reads_the_sequence_channels():
    codes, positive = _planted("GATTACA", n=8)
    x = torch.from_numpy(np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1).copy())
    y = torch.from_numpy(positive[:, None].astype(np.float32))
    conv = nn.Sequential(nn.Conv1d(4, 3, 7))
    seeds = seed_from_windows(conv, list(zip(x, y)), threshold=0.5)
    assert seeds and seeds[0].kmer in ("GATTACA", reverse_complement("GATTACA"))
    assert conv[0].weight[0, :, 0].argmax().item() == "ACGT".index(seeds[0].kmer[0])


def test_half_the_filters_stay_random_where_accessibility_enters_the_layer():
    codes, positive = _planted("GATTACA", n=8)
    for shift, kmer in ((120, "CTGCAGT"), (200, "TTAGGCC")):  # two more motifs to seed
        for start in range(100 + shift, 2000 - 100, 300):
            codes[:, start : start + 7] = ["ACGT".index(b) for b in kmer]
            positive[:, start - 20 : start + 27] = True
    assert len(enriched_kmers(codes, positive, 7, 4)) >= 3  # more seeds than half of 4
    onehot = np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1)
    x = torch.from_numpy(np.concatenate([onehot, np.zeros_like(onehot[:, :2])], axis=1))
    y = torch.from_numpy(positive[:, None].astype(np.float32))
    torch.manual_seed(0)
    conv = nn.Conv1d(6, 4, 7)
    before = conv.weight.detach().clone()
    seeds = seed_from_windows(conv, list(zip(x, y)), threshold=0.5)
    assert len(seeds) == 2
    assert torch.equal(conv.weight[2:], before[2:])  # filters 2-3 keep their random start
