"""The simulated QTL tables: SNP catalogue, one table per cell type and mark, BLUEPRINT text.

Each table lists, for every link active in the cell type, every causal and tag SNP of the
link's source bin against the target peak, plus ``null_ratio`` times as many null rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from qtlgraph.genome import BinIndex
from qtlgraph.simulate.links import Links
from qtlgraph.simulate.qtl import (
    Peaks,
    QtlParams,
    SourcePlan,
    allele_frequency,
    association,
    distal_delta,
    formula_alt,
    null_snps,
)
from qtlgraph.simulate.sequence import K, SequenceLayout

ROLES = ("causal", "tag", "background")  # "null" would read as NaN in pandas


class Catalogue(NamedTuple):
    """Causal and tag SNPs (S,): global 0-based ``pos``, ``bin``, ``ref``/``alt`` codes,
    ``role`` (index into ROLES), ``lead`` (catalogue index of a tag's causal SNP, -1),
    ``r`` (linkage with the lead), ``delta`` (Delta S, weighted distal-motif change).
    """

    pos: np.ndarray
    bin: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    role: np.ndarray
    lead: np.ndarray
    r: np.ndarray
    delta: np.ndarray


def global_bins(index: BinIndex, layout: SequenceLayout, pos: np.ndarray) -> np.ndarray:
    chrom = np.searchsorted(layout.offsets, pos, side="right") - 1
    return index.bin_of(chrom, pos - layout.offsets[chrom], one_based=False)


def _causal(codes, index, layout, plan: SourcePlan, u):
    pos, alt = plan.snp_pos, plan.snp_alt
    ref = codes[pos]
    pos, keep = np.unique(pos, return_index=True)
    alt, ref = alt[keep], ref[keep]
    ok = (ref < 4) & (alt != ref)
    pos, ref, alt = pos[ok], ref[ok], alt[ok]
    delta, other = distal_delta(codes, pos, alt, u)
    ok = (delta != 0) & (other == 0)
    return pos[ok], ref[ok], alt[ok], delta[ok]


def _tags(rng, codes, index, layout, covered, c_pos, c_bin, p: QtlParams):
    bins, first = np.unique(c_bin, return_index=True)
    n_tag = rng.geometric(p.tag_p, len(bins)) - 1
    owner = np.repeat(np.arange(len(bins)), n_tag)
    starts = layout.offsets[index.chrom_of_bins(bins)] + index.starts(bins)
    chrom_end = layout.offsets[index.chrom_of_bins(bins) + 1]
    pos = starts[owner] + rng.integers(K, index.bin_size, len(owner))
    ok = pos < chrom_end[owner] - K
    pos, owner = pos[ok], owner[ok]
    ok = (codes[pos] < 4) & ~covered[pos] & ~np.isin(pos, c_pos)
    pos, owner = pos[ok], owner[ok]
    n_lead = np.bincount(c_bin, minlength=index.n_bins)[bins[owner]]
    lead = first[owner] + rng.integers(0, 1 << 30, len(owner)) % n_lead
    pos, keep = np.unique(pos, return_index=True)
    return pos, lead[keep], rng.uniform(0.5, 1.0, len(owner))[keep]


def build_catalogue(
    rng: np.random.Generator,
    codes: np.ndarray,
    index: BinIndex,
    layout: SequenceLayout,
    plan: SourcePlan,
    covered: np.ndarray,
    u: np.ndarray,
    p: QtlParams,
) -> Catalogue:
    """Causal SNPs that really change a distal motif, and their tag SNPs."""
    c_pos, c_ref, c_alt, c_delta = _causal(codes, index, layout, plan, u)
    order = np.argsort(global_bins(index, layout, c_pos), kind="stable")
    c_pos, c_ref, c_alt, c_delta = c_pos[order], c_ref[order], c_alt[order], c_delta[order]
    c_bin = global_bins(index, layout, c_pos)
    t_pos, t_lead, t_r = _tags(rng, codes, index, layout, covered, c_pos, c_bin, p)
    t_ref = codes[t_pos]
    t_alt = formula_alt(t_ref, t_pos)
    t_delta, _ = distal_delta(codes, t_pos, t_alt, u)
    n_c, n_t = len(c_pos), len(t_pos)
    return Catalogue(
        pos=np.concatenate([c_pos, t_pos]),
        bin=np.concatenate([c_bin, global_bins(index, layout, t_pos)]),
        ref=np.concatenate([c_ref, t_ref]),
        alt=np.concatenate([c_alt, t_alt]),
        role=np.repeat([0, 1], [n_c, n_t]),
        lead=np.concatenate([np.full(n_c, -1), t_lead]),
        r=np.concatenate([np.zeros(n_c), t_r]),
        delta=np.concatenate([c_delta, t_delta]),
    )


def link_weight(
    links: Links, cell: int, snp_bin: np.ndarray, target_bin: np.ndarray, n_bins: int
) -> np.ndarray:
    """``W_c(s, t)``: the weight of link s -> t where it acts in cell ``cell``, else 0."""
    key = links.source * n_bins + links.target
    order = np.argsort(key)
    want = snp_bin * n_bins + target_bin
    at = np.clip(np.searchsorted(key[order], want), 0, len(key) - 1)
    hit = (key[order][at] == want) & (target_bin >= 0)
    link = order[at]
    return np.where(hit & links.cells[link, cell], links.weight[link], 0.0)


class TableSpec(NamedTuple):
    cell: int
    scale: float  # kappa_k * g_k: motif change -> phenotype mean change
    distal: bool


def table_rows(
    rng: np.random.Generator,
    cat: Catalogue,
    links: Links,
    peaks: Peaks,
    spec: TableSpec,
    codes: np.ndarray,
    index: BinIndex,
    layout: SequenceLayout,
    covered: np.ndarray,
    u: np.ndarray,
    p: QtlParams,
) -> pd.DataFrame:
    """One table's rows with true effects and association statistics (unsorted)."""
    active = np.flatnonzero(links.cells[:, spec.cell])
    pair = pd.DataFrame({"snp": np.arange(len(cat.pos)), "bin": cat.bin}).merge(
        pd.DataFrame({"link": active, "bin": links.source[active]}), on="bin"
    )
    peak_of_target = pd.Series(np.arange(len(peaks.chrom)), index=peaks.target_bin)
    snp, peak = pair["snp"].to_numpy(), peak_of_target[links.target[pair["link"]]].to_numpy()
    n_null = int(p.null_ratio * len(snp))
    n_pos, n_peak = null_snps(rng, codes, layout, covered, peaks, n_null, p)
    n_ref = codes[n_pos]
    n_alt = formula_alt(n_ref, n_pos)
    n_delta, _ = distal_delta(codes, n_pos, n_alt, u)
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
        }
    )
    tb = peaks.target_bin[rows["peak"].to_numpy()]
    w = link_weight(links, spec.cell, rows["bin"].to_numpy(), tb, index.n_bins)
    effect = spec.scale * w * rows["delta"].to_numpy()
    # a tag shares its lead's source bin, so the lead acts on this peak with the same W
    lead_idx = np.concatenate([cat.lead[snp], np.full(len(n_pos), -1)])
    lead_delta = np.where(lead_idx >= 0, cat.delta[np.maximum(lead_idx, 0)], 0.0)
    r = np.concatenate([cat.r[snp], np.zeros(len(n_pos))])
    rows["link_weight"] = w
    rows["qtl_mean"] = effect + r * spec.scale * w * lead_delta
    rows["true_effect"] = effect if spec.distal else 0.0 * effect
    stats = association(
        rng, rows["qtl_mean"].to_numpy(), allele_frequency(pos), rows["peak"].to_numpy(), p
    )
    return pd.concat([rows, stats], axis=1)


def blueprint_text(
    rows: pd.DataFrame, layout: SequenceLayout, peaks: Peaks
) -> tuple[pd.DataFrame, bytes]:
    """Sort rows by SNP then peak and render the 9-column BLUEPRINT layout (no ``chr``).

    Returns the sorted rows (with ``variant_id``, ``rsid``, ``phenotype_id`` added) and
    the text. The peak is written ``chr:start:end`` as a BED interval (0-based start, as
    :mod:`qtlgraph.qtl` reads it); the SNP position is 1-based.
    """
    rows = rows.sort_values(["pos", "peak"], kind="stable").reset_index(drop=True)
    pos = rows["pos"].to_numpy()
    chrom = np.searchsorted(layout.offsets, pos, side="right") - 1
    names = np.array([c.removeprefix("chr") for c in layout.chroms], dtype=object)
    letters = np.array(list("ACGTN"), dtype=object)
    local = pos - layout.offsets[chrom] + 1
    pk = rows["peak"].to_numpy()
    rows["variant_id"] = (
        names[chrom]
        + ":"
        + local.astype(str).astype(object)
        + "_"
        + letters[rows["ref"].to_numpy()]
        + "_"
        + letters[rows["alt"].to_numpy()]
    )
    rows["rsid"] = "rs" + (pos + 1).astype(str).astype(object)
    rows["phenotype_id"] = (
        names[peaks.chrom[pk]]
        + ":"
        + peaks.start[pk].astype(str).astype(object)
        + ":"
        + peaks.end[pk].astype(str).astype(object)
    )
    lines = [
        f"{v} {r} {ph} {pv:.3e} {b:.5g} {bf:.4g} {q:.3e} {af:.3f} {se:.4g}\n"
        for v, r, ph, pv, b, bf, q, af, se in zip(
            rows["variant_id"],
            rows["rsid"],
            rows["phenotype_id"],
            rows["pvalue"],
            rows["beta"],
            rows["bonferroni"],
            rows["fdr"],
            rows["af"],
            rows["se"],
        )
    ]
    return rows, "".join(lines).encode()
