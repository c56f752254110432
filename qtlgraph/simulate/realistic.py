"""The ``realistic`` presets' genome: composed background, JASPAR sites, LD-clustered QTLs.

Same chromosomes, links and track model as the other presets (docs/simulation.md), with
four changes that make the task as hard as real data: the background has varying GC,
repeats and hg38 pieces (:mod:`qtlgraph.simulate.background`); motifs are real JASPAR
matrices whose sites are sampled base by base (:mod:`qtlgraph.simulate.pwm`) and whose
roles (local, cell type, distal) are drawn per seed; distal sites are planted sparsely;
and every source bin's QTLs form one LD cluster with exactly one causal SNP
(:mod:`qtlgraph.simulate.ld`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qtlgraph.genome import BinIndex, Genome
from qtlgraph.simulate import pwm as pwms
from qtlgraph.simulate.background import BackgroundParams, Segments, background
from qtlgraph.simulate.ld import LdParams, build_clusters
from qtlgraph.simulate.links import LinkParams, simulate_links
from qtlgraph.simulate.model import BIN_SIZE, CELL_TYPES, RealisticPreset, usable_bins
from qtlgraph.simulate.sequence import gap_mask, make_layout
from qtlgraph.simulate.tables import Catalogue, global_bins

ROLE_NAMES = ("local", "cell", "distal")


class Model(NamedTuple):
    """Everything drawn before the tracks (the fields of :class:`qtlgraph.simulate.model.Model`
    that the writers read, plus the motifs, their roles and the background segments).
    """

    layout: object
    index: BinIndex
    codes: np.ndarray
    gaps: np.ndarray
    links: object
    elements: np.ndarray  # (E,) global 0-based element centres
    occurrences: pwms.Hits
    strength: np.ndarray  # (n_bins,) S(s)
    catalogue: Catalogue
    covered: np.ndarray  # (total,) bool, bases inside an occurrence
    motifs: tuple[pwms.Pwm, ...]
    role: np.ndarray  # (M,) index into ROLE_NAMES
    cell_of: np.ndarray  # (M,) cell type index of a cell motif, -1 otherwise
    weight: np.ndarray  # (M,) u_m, the distal weight (0 unless distal)
    segments: Segments


def draw_roles(rng: np.random.Generator, n_motifs: int, preset: RealisticPreset):
    """Roles per seed: ``n_distal`` distal motifs, one cell motif per cell type, rest local.

    Returns: ``role`` (M,), ``cell_of`` (M,) and ``weight`` (M,) arrays.
    """
    order = rng.permutation(n_motifs)
    role = np.zeros(n_motifs, np.int64)
    cell_of = np.full(n_motifs, -1)
    weight = np.zeros(n_motifs)
    d, c = preset.n_distal, len(CELL_TYPES)
    role[order[:d]] = 2
    weight[order[:d]] = preset.distal_weight[:d]
    role[order[d : d + c]] = 1
    cell_of[order[d : d + c]] = np.arange(c)
    return role, cell_of, weight


def plant_sites(rng, codes: np.ndarray, start: np.ndarray, motif: np.ndarray, motifs) -> None:
    """Write one word sampled from its matrix (either strand) at each start, in place."""
    for i, p in enumerate(motifs):
        at = np.flatnonzero(motif == i)
        words = pwms.sample_sites(rng, p, len(at))
        rev = rng.random(len(at)) < 0.5
        words[rev] = pwms.reverse_complement(words[rev])
        codes[start[at, None] + np.arange(p.width)] = words


def _elements(rng, index, layout, usable, preset, role, motifs):
    """Element centres, and their 1-3 local sites or 1-3 sites of one cell motif."""
    bins = np.flatnonzero(usable)
    owner = np.repeat(bins, rng.poisson(preset.element_rate, len(bins)))
    chrom = index.chrom_of_bins(owner)
    offset = index.starts(owner) + rng.integers(400, index.bin_size - 400, len(owner))
    centre = (layout.offsets[chrom] + offset)[offset < layout.lengths[chrom] - 400]
    local, cell = np.flatnonzero(role == 0), np.flatnonzero(role == 1)
    kind_cell = rng.random(len(centre)) < 0.5
    el = np.repeat(np.arange(len(centre)), 1 + rng.binomial(2, 0.5, len(centre)))
    motif = np.where(kind_cell[el], rng.choice(cell, len(centre))[el], rng.choice(local, len(el)))
    width = np.array([p.width for p in motifs])[motif]
    return centre, centre[el] + rng.integers(-150, 150, len(el)) - width // 2, motif


def _distal_starts(rng, index, layout, bins: np.ndarray, width: int) -> np.ndarray:
    chrom = index.chrom_of_bins(bins)
    return (
        layout.offsets[chrom]
        + index.starts(bins)
        + rng.integers(200, index.bin_size - 200 - width, len(bins))
    )


def _occupancy(hits: pwms.Hits, motifs, total: int) -> np.ndarray:
    width = np.array([p.width for p in motifs])[hits.motif]
    delta = np.zeros(total + 1, np.int64)
    np.add.at(delta, hits.start, 1)
    np.add.at(delta, hits.start + width, -1)
    return np.cumsum(delta[:-1]) > 0


def _plant_decoys(rng, codes, index, layout, usable, sources, distal, motifs, preset) -> None:
    """Further intact distal sites in source bins, and decoys (no effect) in other bins."""
    free = np.flatnonzero(usable & ~np.isin(np.arange(index.n_bins), sources))
    extra = np.repeat(sources, rng.poisson(preset.extra_sites, len(sources)))
    site_bins = np.concatenate([free[rng.random(len(free)) < preset.decoy_fraction], extra])
    site_motif = rng.choice(distal, len(site_bins))
    width = max(motifs[i].width for i in distal)
    start = _distal_starts(rng, index, layout, site_bins, width)
    plant_sites(rng, codes, start, site_motif, motifs)


def build_realistic(
    seed: int, preset: RealisticPreset, pieces: list[np.ndarray], motifs=None
) -> Model:
    """Draw the genome, links, sites and LD clusters of a ``realistic`` preset for a seed.

    Args:
        seed: the seed.
        preset: genome size and planting densities.
        pieces: hg38 pieces as base codes (:func:`qtlgraph.simulate.background.resolve_source`).
        motifs: the matrices; default the shipped JASPAR 2024 ones.
    """
    motifs = pwms.shipped_motifs() if motifs is None else motifs
    seq = np.random.SeedSequence([seed, 7])
    rng = [np.random.default_rng(s) for s in seq.spawn(5)]
    layout = make_layout(preset.chroms, preset.lengths)
    index = BinIndex(Genome("sim", preset.chroms, preset.lengths), BIN_SIZE)
    core = tuple(pwms.best_kmer(m)[0] for m in motifs)
    total = int(layout.offsets[-1])
    codes, seg = background(seq.spawn(1)[0], total, pieces, BackgroundParams(), core)
    gaps = gap_mask(layout, preset.telomere, preset.centromere)
    usable = usable_bins(index, layout, gaps)
    links = simulate_links(rng[0], index, usable, len(CELL_TYPES), LinkParams())
    role, cell_of, weight = draw_roles(rng[1], len(motifs), preset)
    centre, e_start, e_motif = _elements(rng[2], index, layout, usable, preset, role, motifs)
    plant_sites(rng[2], codes, e_start, e_motif, motifs)
    sources, distal = np.unique(links.source), np.flatnonzero(role == 2)
    _plant_decoys(rng[3], codes, index, layout, usable, sources, distal, motifs, preset)
    ld = LdParams(make_fraction=preset.make_fraction)
    plan = plan_causal(rng[4], codes, index, layout, sources, distal, motifs, ld)
    codes[gaps] = 4
    hits = pwms.scan(codes, motifs, layout.offsets)
    covered = _occupancy(hits, motifs, total)
    bins = global_bins(index, layout, hits.start)
    strength = np.bincount(bins, weights=weight[hits.motif], minlength=index.n_bins)
    cat = build_clusters(rng[4], codes, index, layout, plan, covered, weight, motifs, ld)
    drawn = (layout, index, codes, gaps, links, centre, hits, strength, cat, covered)
    return Model(*drawn, motifs, role, cell_of, weight, seg)


class CausalPlan(NamedTuple):
    """One causal SNP per source bin: (Q,) global ``pos``, ``alt`` code, source ``bin``."""

    pos: np.ndarray
    alt: np.ndarray
    bin: np.ndarray


def plan_causal(rng, codes, index, layout, sources, distal, motifs, p: LdParams) -> CausalPlan:
    """Plant one distal site per source bin and place its causal SNP.

    A break SNP turns the site's most conserved base (the largest score drop) into the
    matrix's worst base there; a make SNP (``p.make_fraction``) is planted already broken
    that way and restores the sampled base. Written in place into ``codes``.
    """
    motif = rng.choice(distal, len(sources))
    pos, alt = np.zeros(len(sources), np.int64), np.zeros(len(sources), np.uint8)
    for i in distal:
        at = np.flatnonzero(motif == i)
        pm = motifs[i]
        start = _distal_starts(rng, index, layout, sources[at], pm.width)
        words = pwms.sample_sites(rng, pm, len(at))
        drop = pm.logodds[np.arange(pm.width), words] - pm.logodds.min(axis=1)
        j = drop.argmax(axis=1)
        worst = pm.logodds.argmin(axis=1)[j].astype(np.uint8)
        orig = words[np.arange(len(at)), j]
        make = rng.random(len(at)) < p.make_fraction
        words[make, j[make]] = worst[make]
        snp_alt = np.where(make, orig, worst)
        rev = rng.random(len(at)) < 0.5
        words[rev] = pwms.reverse_complement(words[rev])
        codes[start[:, None] + np.arange(pm.width)] = words
        pos[at] = start + np.where(rev, pm.width - 1 - j, j)
        alt[at] = np.where(rev, 3 - snp_alt, snp_alt)
    return CausalPlan(pos, alt, sources)
