"""QTLs in LD clusters for the ``realistic`` presets: one causal SNP and its LD partners.

Every source bin whose causal SNP really changes a distal site (rescanned with the motif
matrices) gets one cluster of ``cluster_size`` SNPs within ``half_width`` bp of it, in the
same bin, on no N and in no occurrence. Only the causal SNP has an effect. A partner ``j``
has an LD correlation ``r_j = sqrt(r2_j)`` with the causal SNP (``r2_j`` drawn uniformly);
its association z-score in a table row is ``z_j = r_j z_causal + sqrt(1 - r2_j) eps`` with
``z_causal`` the causal SNP's z-score against the same peak, so its beta and p-value are
shrunk towards the causal SNP's as in a real cis scan (the correlation of two SNPs'
z-scores is their LD r). Its expected beta is ``r_j (mu_causal / se_causal) se_j``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr

from qtlgraph.simulate import pwm as pwms
from qtlgraph.simulate.links import Links
from qtlgraph.simulate.qtl import (
    Peaks,
    QtlParams,
    allele_frequency,
    benjamini_hochberg,
    formula_alt,
    null_snps,
)
from qtlgraph.simulate.tables import Catalogue, TableSpec, global_bins, link_weight


class LdParams(NamedTuple):
    cluster_size: tuple[int, int] = (3, 8)  # SNPs per cluster, causal included (inclusive)
    half_width: int = 3000
    r2: tuple[float, float] = (0.2, 0.95)
    make_fraction: float = 0.25


def distal_change(codes, pos, alt, weight: np.ndarray, motifs) -> tuple[np.ndarray, np.ndarray]:
    """``Delta S`` (weighted distal-site change) and the count of other-site changes."""
    delta = pwms.count_delta(codes, pos, alt, motifs)
    return delta @ weight, np.abs(delta[:, weight == 0]).sum(axis=1)


def _partners(rng, codes, index, layout, covered, pos, margin: int, p: LdParams):
    """LD partners of each causal SNP: positions and the causal SNP's index."""
    n = rng.integers(p.cluster_size[0] - 1, p.cluster_size[1], len(pos))
    owner = np.repeat(np.arange(len(pos)), n)
    bin_lo = layout.offsets[np.searchsorted(layout.offsets, pos, side="right") - 1]
    bin_lo = bin_lo + (pos - bin_lo) // index.bin_size * index.bin_size
    at = pos[owner] + rng.integers(-p.half_width, p.half_width + 1, len(owner))
    at = np.clip(at, bin_lo[owner] + margin, bin_lo[owner] + index.bin_size - margin)
    ok = (at < len(codes) - margin) & (at != pos[owner])
    at, owner = at[ok], owner[ok]
    ok = (codes[at] < 4) & ~covered[at]
    at, owner = at[ok], owner[ok]
    key, keep = np.unique(owner * len(codes) + at, return_index=True)
    return at[keep], owner[keep]


def build_clusters(
    rng, codes, index, layout, plan, covered, weight, motifs, p: LdParams
) -> Catalogue:
    """Causal SNPs that change a distal site and nothing else, then their LD partners.

    Returns: a :class:`qtlgraph.simulate.tables.Catalogue` with role 0 (causal) or 1
    (partner, ``lead`` its causal SNP, ``r`` the LD correlation, ``delta`` its own change).
    """
    ref = codes[plan.pos]
    ok = (ref < 4) & (plan.alt != ref)
    pos, ref, alt = plan.pos[ok], ref[ok], plan.alt[ok]
    delta, other = distal_change(codes, pos, alt, weight, motifs)
    ok = (delta != 0) & (other == 0)
    pos, ref, alt, delta = pos[ok], ref[ok], alt[ok], delta[ok]
    margin = max(m.width for m in motifs) + 1  # rescans stay inside the bin
    t_pos, t_lead = _partners(rng, codes, index, layout, covered, pos, margin, p)
    t_ref = codes[t_pos]
    t_alt = formula_alt(t_ref, t_pos)
    t_delta, t_other = distal_change(codes, t_pos, t_alt, weight, motifs)
    quiet = (t_delta == 0) & (t_other == 0)  # a partner that made a site would be causal too
    t_pos, t_lead, t_ref, t_alt = t_pos[quiet], t_lead[quiet], t_ref[quiet], t_alt[quiet]
    r = np.sqrt(rng.uniform(p.r2[0], p.r2[1], len(t_pos)))
    n_c, n_t = len(pos), len(t_pos)
    all_pos = np.concatenate([pos, t_pos])
    return Catalogue(
        pos=all_pos,
        bin=global_bins(index, layout, all_pos),
        ref=np.concatenate([ref, t_ref]),
        alt=np.concatenate([alt, t_alt]),
        role=np.repeat([0, 1], [n_c, n_t]),
        lead=np.concatenate([np.full(n_c, -1), t_lead]),
        r=np.concatenate([np.zeros(n_c), r]),
        delta=np.concatenate([delta, np.zeros(n_t)]),
    )


def ld_association(rng, mean, af, phenotype, lead_row, r, p: QtlParams) -> pd.DataFrame:
    """Betas, se, p, Bonferroni and FDR; rows with ``lead_row >= 0`` follow that row in LD.

    Shapes: every argument (N,); ``lead_row`` -1 for rows with their own mean.
    """
    se = p.sigma_y / np.sqrt(2 * p.n_samples * af * (1 - af))
    eps = rng.standard_normal(len(mean))
    z = mean / se + eps
    tag = lead_row >= 0
    lead = lead_row[tag]
    z[tag] = r[tag] * z[lead] + np.sqrt(1 - r[tag] ** 2) * eps[tag]
    expected = mean.copy()
    expected[tag] = r[tag] * mean[lead] / se[lead] * se[tag]
    pval = np.maximum(2 * ndtr(-np.abs(z)), 1e-300)
    _, inv, counts = np.unique(phenotype, return_inverse=True, return_counts=True)
    return pd.DataFrame(
        {
            "qtl_mean": expected,
            "beta": z * se,
            "se": se,
            "pvalue": pval,
            "bonferroni": np.minimum(1.0, pval * counts[inv]),
            "fdr": benjamini_hochberg(pval),
            "af": af,
        }
    )


def _pairs(cat: Catalogue, links: Links, cell: int, peaks: Peaks):
    """(catalogue SNP, link) pairs of the active links, and each pair's lead pair row."""
    active = np.flatnonzero(links.cells[:, cell])
    pair = pd.DataFrame({"snp": np.arange(len(cat.pos)), "bin": cat.bin}).merge(
        pd.DataFrame({"link": active, "bin": links.source[active]}), on="bin"
    )
    snp, link = pair["snp"].to_numpy(), pair["link"].to_numpy()
    key = link * len(cat.pos) + snp
    order = np.argsort(key)
    lead = cat.lead[snp]
    want = link * len(cat.pos) + np.maximum(lead, 0)
    at = order[np.clip(np.searchsorted(key[order], want), 0, len(key) - 1)]
    lead_row = np.where((lead >= 0) & (key[at] == want), at, -1)
    peak_of_target = pd.Series(np.arange(len(peaks.chrom)), index=peaks.target_bin)
    return snp, peak_of_target[links.target[link]].to_numpy(), lead_row


def _background_snps(rng, model, peaks: Peaks, n_linked: int, p: QtlParams):
    """``null_ratio`` times ``n_linked`` background SNPs: position, peak, ref, alt, Delta S."""
    codes = model.codes
    pos, peak = null_snps(
        rng, codes, model.layout, model.covered, peaks, int(p.null_ratio * n_linked), p
    )
    margin = max(m.width for m in model.motifs) + 1  # rescans need the widest matrix around
    inside = (pos >= margin) & (pos < len(codes) - margin)
    pos, peak = pos[inside], peak[inside]
    ref = codes[pos]
    alt = formula_alt(ref, pos)
    delta, _ = distal_change(codes, pos, alt, model.weight, model.motifs)
    return pos, peak, ref, alt, delta


def ld_table_rows(
    rng, cat: Catalogue, links: Links, peaks: Peaks, spec: TableSpec, model, p: QtlParams
) -> pd.DataFrame:
    """One table's rows (cluster SNPs against linked target peaks, plus background rows)."""
    layout, index = model.layout, model.index
    snp, peak, lead_row = _pairs(cat, links, spec.cell, peaks)
    n_pos, n_peak, n_ref, n_alt, n_delta = _background_snps(rng, model, peaks, len(snp), p)
    pos = np.concatenate([cat.pos[snp], n_pos])
    rows = pd.DataFrame(
        {
            "pos": pos,
            "bin": global_bins(index, layout, pos),
            "ref": np.concatenate([cat.ref[snp], n_ref]),
            "alt": np.concatenate([cat.alt[snp], n_alt]),
            "role": np.concatenate([cat.role[snp], np.full(len(n_pos), 2)]),
            "peak": np.concatenate([peak, n_peak]),
            "delta": np.concatenate([cat.delta[snp], n_delta]),
            "r2": np.concatenate(
                [np.where(cat.role[snp] == 0, 1.0, cat.r[snp] ** 2), np.zeros(len(n_pos))]
            ),
        }
    )
    tb = peaks.target_bin[rows["peak"].to_numpy()]
    w = link_weight(links, spec.cell, rows["bin"].to_numpy(), tb, index.n_bins)
    effect = spec.scale * w * rows["delta"].to_numpy()
    rows["link_weight"] = w
    rows["true_effect"] = effect if spec.distal else 0.0 * effect
    lead_all = np.concatenate([lead_row, np.full(len(n_pos), -1)])
    stats = ld_association(
        rng,
        effect,
        allele_frequency(pos),
        rows["peak"].to_numpy(),
        lead_all,
        np.concatenate([cat.r[snp], np.zeros(len(n_pos))]),
        p,
    )
    return pd.concat([rows, stats], axis=1)
