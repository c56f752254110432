"""Simulated QTL SNPs, their true effects and association statistics (BLUEPRINT layout).

Causal SNPs sit in distal-motif instances of linked source bins and break (or, for a
planted broken copy, restore) the motif; tag SNPs share the source bin and follow a
causal SNP through linkage (``r``); null SNPs anywhere within 1 Mb of a peak carry no
effect. For every row the true effect on the phenotype (a target peak) is
``e = kappa_k g_k W_c(source, target) Delta S`` (zero for element peaks), the expected
beta is ``e`` (plus ``r e_lead`` for a tag), and the observed beta adds ``N(0, se^2)``
with ``se = sigma_y / sqrt(2 n f (1 - f))``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import erf, ndtr

from qtlgraph.genome import BinIndex
from qtlgraph.simulate.sequence import MOTIFS, K, SequenceLayout, motif_codes, motif_delta

DISTAL_IDS = np.array([i for i, m in enumerate(MOTIFS) if m.kind == "distal"])


class QtlParams(NamedTuple):
    n_samples: int = 200
    sigma_y: float = 1.5
    restore_fraction: float = 0.25
    extra_instances: float = 0.5
    second_causal: float = 0.3
    tag_p: float = 0.25
    null_ratio: float = 5.0
    target_half_width: int = 1000
    element_half_width: int = 750
    max_distance: int = 1_000_000


class SourcePlan(NamedTuple):
    """Distal-motif instances to plant in source bins and the causal SNPs that hit them.

    Attributes: instance ``start, motif, reverse, broken_at, broken_base`` (P,) and causal
    ``snp_pos, snp_alt`` (Q,) global 0-based positions and alt base codes.
    """

    start: np.ndarray
    motif: np.ndarray
    reverse: np.ndarray
    broken_at: np.ndarray
    broken_base: np.ndarray
    snp_pos: np.ndarray
    snp_alt: np.ndarray


def plan_sources(
    rng: np.random.Generator,
    index: BinIndex,
    layout: SequenceLayout,
    sources: np.ndarray,
    p: QtlParams,
) -> SourcePlan:
    """Intact distal instances in every source bin, plus 1-2 causal SNPs per bin."""
    n = len(sources)
    n_causal = 1 + rng.binomial(1, p.second_causal, n)
    restore = rng.random(n_causal.sum()) < p.restore_fraction
    owner = np.repeat(np.arange(n), n_causal)
    n_break = np.bincount(owner[~restore], minlength=n)
    n_intact = np.maximum(1 + rng.poisson(p.extra_instances, n), n_break)
    inst_owner = np.concatenate([np.repeat(np.arange(n), n_intact), owner[restore]])
    m = len(inst_owner)
    bin_start = layout.offsets[index.chrom_of_bins(sources)] + index.starts(sources)
    start = bin_start[inst_owner] + rng.integers(100, index.bin_size - 100 - K, m)
    motif = rng.choice(DISTAL_IDS, m)
    reverse = rng.random(m) < 0.5
    broken_at = np.full(m, -1)
    n_int = int(n_intact.sum())
    broken_at[n_int:] = rng.integers(0, K, m - n_int)
    fwd, rev = motif_codes()
    word = np.where(reverse[:, None], rev[motif], fwd[motif])
    orig = word[np.arange(m), np.maximum(broken_at, 0)]
    broken_base = ((orig.astype(np.int64) + rng.integers(1, 4, m)) % 4).astype(np.uint8)
    # break SNP j of a bin hits that bin's j-th intact instance
    first = np.concatenate([[0], np.cumsum(n_intact)[:-1]])
    brk_owner = owner[~restore]
    rank = np.arange(len(brk_owner)) - np.searchsorted(brk_owner, brk_owner)
    brk_inst = first[brk_owner] + rank
    brk_pos = start[brk_inst] + rng.integers(0, K, len(brk_inst))
    rst = np.arange(n_int, m)
    snp_pos = np.concatenate([brk_pos, start[rst] + broken_at[rst]])
    brk_alt = (word[brk_inst, brk_pos - start[brk_inst]] + rng.integers(1, 4, len(brk_inst))) % 4
    snp_alt = np.concatenate([brk_alt, orig[rst]]).astype(np.uint8)
    return SourcePlan(start, motif, reverse, broken_at, broken_base, snp_pos, snp_alt)


def formula_alt(ref: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """A fixed alt base per position (tags, nulls): the same SNP in every table."""
    return ((ref.astype(np.int64) + 1 + (pos * 7919) % 3) % 4).astype(np.uint8)


def allele_frequency(pos: np.ndarray) -> np.ndarray:
    """A fixed alt allele frequency in [0.05, 0.5) per position."""
    return 0.05 + 0.45 * np.mod(pos * 0.6180339887498949, 1.0)


class Peaks(NamedTuple):
    """Phenotypes: ``chrom`` code, 0-based ``start``/``end``, ``target_bin`` (-1: element)."""

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    target_bin: np.ndarray


def kernel_mean(sigma: float, half_width: int) -> float:
    """Mean of a peak-1 Gaussian (sd ``sigma``) over ``[-w, w)`` around its centre."""
    return float(
        sigma * np.sqrt(2 * np.pi) * erf(half_width / (sigma * np.sqrt(2))) / (2 * half_width)
    )


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH adjusted p-values (FDR). Shapes: (N,) -> (N,)."""
    n = len(p)
    order = np.argsort(p, kind="stable")
    q = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def association(
    rng: np.random.Generator, mean: np.ndarray, af: np.ndarray, phenotype: np.ndarray, p: QtlParams
) -> pd.DataFrame:
    """Observed beta, se, p, Bonferroni (per phenotype) and BH FDR for each row."""
    se = p.sigma_y / np.sqrt(2 * p.n_samples * af * (1 - af))
    beta = mean + se * rng.standard_normal(len(mean))
    pval = np.maximum(2 * ndtr(-np.abs(beta / se)), 1e-300)
    _, inv, counts = np.unique(phenotype, return_inverse=True, return_counts=True)
    return pd.DataFrame(
        {
            "beta": beta,
            "se": se,
            "pvalue": pval,
            "bonferroni": np.minimum(1.0, pval * counts[inv]),
            "fdr": benjamini_hochberg(pval),
            "af": af,
        }
    )


def null_snps(
    rng: np.random.Generator,
    codes: np.ndarray,
    layout: SequenceLayout,
    covered: np.ndarray,
    peaks: Peaks,
    n: int,
    p: QtlParams,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (or a few fewer) null SNPs, each paired with a random peak within 1 Mb.

    Returns: global 0-based positions and the peak index of each. Positions on N, in a
    motif occurrence or within ``K`` bp of a bin edge are dropped.
    """
    peak = rng.integers(0, len(peaks.chrom), n)
    centre = (peaks.start[peak] + peaks.end[peak]) // 2
    length = layout.lengths[peaks.chrom[peak]]
    lo = np.maximum(K, centre - p.max_distance)
    hi = np.minimum(length - K - 1, centre + p.max_distance)
    pos = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    glob = layout.offsets[peaks.chrom[peak]] + pos
    keep = (codes[glob] < 4) & ~covered[glob] & (pos % 10_000 >= K)
    return glob[keep], peak[keep]


def distal_delta(
    codes: np.ndarray, pos: np.ndarray, alt: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``Delta S`` (weighted distal-motif change) and the count of other-motif changes."""
    delta = motif_delta(codes, pos, alt)
    other = np.abs(delta[:, u == 0]).sum(axis=1)
    return delta @ u, other
