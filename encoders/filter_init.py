"""Start a U-Net's first filters at the k-mers most enriched in labelled positives.

A sequence-only model has to discover its motifs from random filters. With the signal
averaged over a peak, a random filter's gradient is close to the peak's base
composition repeated at every offset, so a motif is found only where a filter already
half matches it, and training sits at the label frequency for hundreds of steps (the
demo's baselines A and D; README, "What the demo shows"). Seeding, as motif finders do (MEME,
HOMER), breaks that symmetry: count every k-mer (either strand) at the training windows'
positions, rank them by how far the count at positive positions lies above what the
positive fraction predicts (a binomial z-score), keep the best that do not overlap one
already kept, and make each one filter of the stem's first convolution. Only the
training windows' own labels are read; the filters go on training as any other.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from qtlgraph.kmer_words import MAX_K, canonical_index, canonical_words, decode, word_codes

#: family-wise error of the seeds: a k-mer is a seed only where its z-score passes the
#: one-sided Bonferroni bound over the canonical k-mers (z about 4.7 for k = 7), so that
#: labels unrelated to sequence seed nothing; the other filters keep their random start
ALPHA = 0.01
#: training windows read for the seeds
SEED_WINDOWS = 256


class Seed(NamedTuple):
    """One seeded filter: the k-mer, its z-score, its count at positive and at all positions."""

    kmer: str
    z: float
    positive: int
    total: int


def kmer_codes(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical (strand-free) k-mer code at every start, and whether it holds an N.

    Shapes:
        codes: (n, L) int, 0-3 for ACGT and 4 for N -> two (n, L - k + 1) arrays
    """
    word, bad = word_codes(codes, k)
    return canonical_words(k)[canonical_index(k)[0][word]], bad


def reverse_complement(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGT", "TGCA"))


def min_z(k: int) -> float:
    """The z-score a k-mer needs: one-sided p below :data:`ALPHA` / canonical k-mers."""
    from scipy.stats import norm

    return float(norm.isf(ALPHA / canonical_index(k)[1]))


def enriched_kmers(codes: np.ndarray, positive: np.ndarray, k: int, n: int) -> list[Seed]:
    """Up to ``n`` k-mers most enriched at positive positions, no two overlapping.

    A k-mer counts at the position of its centre base. Two seeds overlap when they share
    a (k - 2)-mer on either strand (the same motif at another offset). A k-mer whose
    z-score does not pass :func:`min_z` is no seed.

    Shapes:
        codes: (n_windows, L) int (0-3 ACGT, 4 N); positive: (n_windows, L) bool
    """
    index, bad = kmer_codes(codes, k)
    centre = positive[:, k // 2 : codes.shape[1] - k + 1 + k // 2]
    keep = ~bad
    total = np.bincount(index[keep], minlength=4**k).astype(np.float64)
    pos = np.bincount(index[keep & centre], minlength=4**k).astype(np.float64)
    frac = centre[keep].mean() if keep.any() else 0.0
    z = (pos - frac * total) / np.sqrt(frac * (1 - frac) * total + 1.0)
    part, bound = max(k - 2, 1), min_z(k)
    seeds: list[Seed] = []
    for i in np.argsort(-z, kind="stable"):
        if len(seeds) == n or z[i] < bound:
            break
        s = decode(int(i), k)
        words = {s[a : a + part] for a in range(k - part + 1)}
        if any(w in t.kmer or w in reverse_complement(t.kmer) for t in seeds for w in words):
            continue
        seeds.append(Seed(s, round(float(z[i]), 2), int(pos[i]), int(total[i])))
    return seeds


def seed_conv(conv: nn.Conv1d, seeds: list[Seed]) -> None:
    """Filter j of ``conv`` scores seed j on the sequence channels (0-3).

    Weights ``one-hot - 1/4`` centred in the kernel (a base's score minus the mean over
    the four), bias so that the filter is above zero at up to one mismatch; other input
    channels keep their weights.
    """
    kernel = conv.kernel_size[0]
    with torch.no_grad():
        for j, seed in enumerate(seeds):
            k = len(seed.kmer)
            w = torch.zeros(4, kernel)
            lo = (kernel - k) // 2
            w[:, lo : lo + k] = -0.25
            for i, base in enumerate(seed.kmer):
                w["ACGT".index(base), lo + i] = 0.75
            conv.weight[j, :4] = w.to(conv.weight)
            if conv.bias is not None:
                conv.bias[j] = -(0.75 * k - 1.5)


def first_conv(net: nn.Module) -> nn.Conv1d:
    return next(m for m in net.modules() if isinstance(m, nn.Conv1d))


def seed_from_windows(
    net: nn.Module, windows, threshold: float, n_windows: int = SEED_WINDOWS
) -> list[Seed]:
    """Seed ``net``'s first convolution from the first ``n_windows`` items of ``windows``.

    ``windows`` yields ``(inputs, target)`` with the one-hot sequence in input channels
    0-3; a position is positive where any target channel exceeds ``threshold``. Every
    filter is seeded where the layer reads sequence only, half of them where it also reads
    other channels. Returns the seeds used (possibly fewer, or none).
    """
    conv = first_conv(net)
    k = min(conv.kernel_size[0], MAX_K)
    if k < 4:
        return []
    items = [windows[i] for i in range(min(n_windows, len(windows)))]
    x = np.stack([a[:4].numpy() for a, _ in items])
    y = np.stack([b.numpy() for _, b in items])
    codes = np.where(x.max(1) > 0.5, x.argmax(1), 4)
    with np.errstate(invalid="ignore"):
        positive = (np.nan_to_num(y, nan=-np.inf) > threshold).any(1)
    # where other inputs (accessibility) enter the same layer, half the filters stay random:
    # a seeded filter is below zero away from its k-mer and would block them
    n = conv.out_channels if conv.in_channels == 4 else conv.out_channels // 2
    seeds = enriched_kmers(codes, positive, k, n)
    seed_conv(conv, seeds)
    return seeds
