"""The built-in simulated dataset: a genome with known distal effects, in real file formats.

``simulate(out, seed, preset)`` writes FASTA (+ .fai), per cell type an accessibility
bigWig and H3K27ac / H3K4me1 bigWigs, one BLUEPRINT-layout QTL table per cell type and
mark, ``dataset.toml``, ``genome.chrom.sizes`` and the ground truth under ``truth/``.
The generative model is described with its equations in docs/simulation.md. Stages draw
from independent generators spawned from the seed, so ``distal=False`` gives the same
sequence, links, noise and QTL tables with the distal term switched off.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qtlgraph.genome import BinIndex, Genome
from qtlgraph.simulate.links import LinkParams, simulate_links
from qtlgraph.simulate.qtl import QtlParams, kernel_mean, plan_sources
from qtlgraph.simulate.sequence import (
    MOTIFS,
    K,
    background,
    gap_mask,
    make_layout,
    plant,
    scan,
)
from qtlgraph.simulate.tables import build_catalogue, global_bins
from qtlgraph.simulate.tracks import TrackParams, distal_weights

CELL_TYPES = ("mono", "neut", "tcel")
BIN_SIZE = 10_000
CHROMS = ("chr1", "chr2", "chr3", "chr4", "chr5", "chr8", "chr21")


class Preset(NamedTuple):
    """Genome size and the few knobs that differ between presets."""

    name: str
    lengths: tuple[int, ...]
    telomere: int
    centromere: int
    element_rate: float = 1.0  # regulatory elements per 10 kb bin (Poisson mean)
    decoy_fraction: float = 0.1  # non-source bins given one distal motif instance
    unmappable_per_mb: float = 3.0
    chroms: tuple[str, ...] = CHROMS
    host: str | None = None  # place the blocks into this build (qtlgraph.simulate.large)


def large_preset(fraction: float = 0.03) -> Preset:
    """hg38 chr1-22, X; each chromosome simulated on a block of ``fraction`` of its length."""
    from qtlgraph.genome import load_genome

    hg38 = load_genome("hg38")
    blocks = tuple(int(fraction * n) // BIN_SIZE * BIN_SIZE for n in hg38.lengths)
    return Preset(
        "large", blocks, telomere=10_000, centromere=100_000, chroms=hg38.chroms, host="hg38"
    )


class RealisticPreset(NamedTuple):
    """Genome size and planting densities of a ``realistic`` preset (docs/simulation.md:
    JASPAR sites, composed background, sparse distal sites, LD-clustered QTLs).
    """

    name: str
    lengths: tuple[int, ...]
    telomere: int
    centromere: int
    element_rate: float = 1.0  # regulatory elements per 10 kb bin (Poisson mean)
    unmappable_per_mb: float = 3.0
    chroms: tuple[str, ...] = CHROMS
    n_distal: int = 2  # motifs drawn into the distal role
    distal_weight: tuple[float, ...] = (1.0, 0.7)  # u_m of the distal motifs, in draw order
    extra_sites: float = 0.3  # further intact distal sites per source bin (Poisson mean)
    decoy_fraction: float = 0.03  # other bins given one distal site with no effect
    make_fraction: float = 0.25  # causal SNPs that create a site instead of breaking one


PRESETS = {
    "tiny": Preset(
        "tiny",
        (520_013, 410_007, 395_011, 380_017, 300_019, 290_023, 205_031),
        telomere=10_000,
        centromere=20_000,
    ),
    "demo": Preset(
        "demo",
        (3_000_017, 2_600_021, 2_400_029, 2_300_011, 2_200_013, 2_000_003, 1_500_007),
        telomere=10_000,
        centromere=50_000,
    ),
    "large": large_preset(),
    "small": Preset(
        "small",
        (20_000_017, 18_000_021, 15_000_029, 14_000_011, 13_000_013, 12_000_003, 8_000_007),
        telomere=10_000,
        centromere=300_000,
    ),
}
PRESETS["realistic"] = RealisticPreset(
    "realistic", PRESETS["demo"].lengths, telomere=10_000, centromere=50_000
)
PRESETS["realistic-tiny"] = RealisticPreset(
    "realistic-tiny", PRESETS["tiny"].lengths, telomere=10_000, centromere=20_000
)


class Model(NamedTuple):
    """Everything drawn before the tracks: the sequence, links and QTL SNP catalogue."""

    layout: object
    index: BinIndex
    codes: np.ndarray
    gaps: np.ndarray
    links: object
    elements: np.ndarray  # (E,) global 0-based element centres
    occurrences: object
    strength: np.ndarray  # (n_bins,) S(s): weighted distal motifs per bin
    catalogue: object
    covered: np.ndarray  # (total,) bool, bases inside a motif occurrence


def usable_bins(index: BinIndex, layout, gaps: np.ndarray) -> np.ndarray:
    """Full-width bins less than half N."""
    n_gap = np.zeros(index.n_bins)
    for i, off in enumerate(layout.offsets[:-1]):
        sl = index.chrom_slice(layout.chroms[i])
        starts = np.arange(sl.stop - sl.start) * index.bin_size
        n_gap[sl] = np.add.reduceat(gaps[off : off + layout.lengths[i]].astype(np.int64), starts)
    width = np.minimum(
        index.bin_size,
        layout.lengths[index.chrom_of_bins(np.arange(index.n_bins))] - index.starts(),
    )
    return (n_gap < 0.5 * width) & (width == index.bin_size)


def _elements(rng, index: BinIndex, layout, usable: np.ndarray, preset: Preset):
    """Regulatory elements: centres and the motif instances planted around them."""
    bins = np.flatnonzero(usable)
    n = rng.poisson(preset.element_rate, len(bins))
    owner = np.repeat(bins, n)
    chrom = index.chrom_of_bins(owner)
    offset = index.starts(owner) + rng.integers(400, index.bin_size - 400, len(owner))
    keep = offset < layout.lengths[chrom] - 400
    centre = (layout.offsets[chrom] + offset)[keep]
    local = [i for i, m in enumerate(MOTIFS) if m.kind == "local"]
    cell = [i for i, m in enumerate(MOTIFS) if m.kind == "cell"]
    kind_cell = rng.random(len(centre)) < 0.5
    n_inst = 1 + rng.binomial(2, 0.5, len(centre))
    el = np.repeat(np.arange(len(centre)), n_inst)
    motif = np.where(kind_cell[el], rng.choice(cell, len(centre))[el], rng.choice(local, len(el)))
    start = centre[el] + rng.integers(-150, 150, len(el)) - K // 2
    return centre, start, motif


def _decoys(rng, index: BinIndex, layout, usable: np.ndarray, sources: np.ndarray, p: float):
    free = np.flatnonzero(usable & ~np.isin(np.arange(index.n_bins), sources))
    bins = free[rng.random(len(free)) < p]
    start = (
        layout.offsets[index.chrom_of_bins(bins)]
        + index.starts(bins)
        + rng.integers(100, index.bin_size - 100 - K, len(bins))
    )
    distal = [i for i, m in enumerate(MOTIFS) if m.kind == "distal"]
    return start, rng.choice(distal, len(bins))


def build_model(seed: int, preset: Preset) -> Model:
    """Draw the sequence, links, planted motifs and the QTL SNP catalogue for a seed."""
    rng = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    layout = make_layout(preset.chroms, preset.lengths)
    index = BinIndex(Genome("sim", preset.chroms, preset.lengths), BIN_SIZE)
    codes = background(rng[0], int(layout.offsets[-1]))
    gaps = gap_mask(layout, preset.telomere, preset.centromere)
    usable = usable_bins(index, layout, gaps)
    links = simulate_links(rng[1], index, usable, len(CELL_TYPES), LinkParams())
    centre, e_start, e_motif = _elements(rng[2], index, layout, usable, preset)
    plant(codes, e_start, e_motif, rng[2].random(len(e_start)) < 0.5)
    sources = np.unique(links.source)
    d_start, d_motif = _decoys(rng[2], index, layout, usable, sources, preset.decoy_fraction)
    plant(codes, d_start, d_motif, rng[2].random(len(d_start)) < 0.5)
    plan = plan_sources(rng[2], index, layout, sources, QtlParams())
    plant(codes, plan.start, plan.motif, plan.reverse, plan.broken_at, plan.broken_base)
    codes[gaps] = 4
    occ = scan(codes, layout)
    covered = np.zeros(len(codes), dtype=bool)
    covered[occ.start[:, None] + np.arange(K)] = True
    u = distal_weights(TrackParams())
    strength = np.bincount(
        global_bins(index, layout, occ.start), weights=u[occ.motif], minlength=index.n_bins
    )
    cat = build_catalogue(rng[3], codes, index, layout, plan, covered, u, QtlParams())
    return Model(layout, index, codes, gaps, links, centre, occ, strength, cat, covered)


def distal_scale(params: TrackParams, q: QtlParams) -> np.ndarray:
    """``kappa_k g_k`` per mark: a unit change of S(source) -> change of the peak mean."""
    return np.array(
        [
            kernel_mean(s, q.target_half_width) * g
            for s, g in zip(params.sigma_mark, params.distal_gain)
        ]
    )
