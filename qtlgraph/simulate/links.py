"""True distal links of the simulated genome: scale-free in-degree, up to 1 Mb, by cell type.

A small fraction of bins are targets. Each target draws its in-degree from a Pareto law
(so a few hubs collect many sources), then that many distinct source bins on the same
chromosome within ``max_distance`` with probability decaying with distance. Most links
act in every cell type, the rest in one or two.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qtlgraph.genome import BinIndex


class Links(NamedTuple):
    """One row per true link (distinct source, target pair).

    Attributes:
        source, target: (E,) int64 global bin ids.
        cells: (E, n_cells) bool, the cell types the link acts in.
        weight: (E,) float64 link weight ``w_l = omega_l / sqrt(in_degree(target))``.
        anchor: (E,) int64 0-based chromosome coordinate of the target peak centre.
    """

    source: np.ndarray
    target: np.ndarray
    cells: np.ndarray
    weight: np.ndarray
    anchor: np.ndarray


class LinkParams(NamedTuple):
    target_fraction: float = 0.08
    pareto_alpha: float = 1.2
    max_in_degree: int = 120
    max_distance: int = 1_000_000
    decay_bins: float = 5.0
    shared_fraction: float = 0.65
    weight_sdlog: float = 0.4


def _in_degrees(rng: np.random.Generator, n: int, p: LinkParams) -> np.ndarray:
    pareto = (1.0 - rng.random(n)) ** (-1.0 / p.pareto_alpha)
    return np.minimum(np.floor(pareto), p.max_in_degree).astype(np.int64)


def _cell_sets(rng: np.random.Generator, n: int, n_cells: int, shared: float) -> np.ndarray:
    cells = np.ones((n, n_cells), dtype=bool)
    specific = rng.random(n) >= shared
    own = rng.integers(0, n_cells, n)
    second = (own + rng.integers(1, n_cells, n)) % n_cells
    pair = rng.random(n) < 0.25
    cells[specific] = False
    rows = np.flatnonzero(specific)
    cells[rows, own[rows]] = True
    rows = np.flatnonzero(specific & pair)
    cells[rows, second[rows]] = True
    return cells


def _sources_of(rng, target: int, degree: int, candidates: np.ndarray, decay: float) -> np.ndarray:
    distance = np.abs(candidates - target)
    prob = 1.0 / (1.0 + distance / decay)
    prob /= prob.sum()
    return rng.choice(candidates, size=min(degree, len(candidates)), replace=False, p=prob)


def simulate_links(
    rng: np.random.Generator,
    index: BinIndex,
    usable: np.ndarray,
    n_cells: int,
    params: LinkParams = LinkParams(),
) -> Links:
    """Draw targets, their Pareto in-degrees and their sources.

    Args:
        rng: the generator for this stage.
        index: the genome's bins.
        usable: (n_bins,) bool, bins mostly free of N (targets and sources are drawn here).
        n_cells: number of cell types.
        params: the link model's parameters.
    """
    pool = np.flatnonzero(usable)
    n_targets = max(1, int(round(params.target_fraction * len(pool))))
    targets = np.sort(rng.choice(pool, size=n_targets, replace=False))
    degrees = _in_degrees(rng, n_targets, params)
    reach = params.max_distance // index.bin_size
    chrom = index.chrom_of_bins(targets)
    src, tgt = [], []
    for t, d, c in zip(targets, degrees, chrom):
        lo = max(int(index.offsets[c]), t - reach)
        hi = min(int(index.offsets[c + 1]), t + reach + 1)
        cand = np.arange(lo, hi)
        cand = cand[usable[lo:hi] & (cand != t)]
        if len(cand) == 0:
            continue
        s = np.sort(_sources_of(rng, int(t), int(d), cand, params.decay_bins))
        src.append(s)
        tgt.append(np.full(len(s), t, dtype=np.int64))
    source, target = np.concatenate(src), np.concatenate(tgt)
    in_deg = np.bincount(target, minlength=index.n_bins)[target]
    omega = rng.lognormal(0.0, params.weight_sdlog, len(source))
    anchors = rng.integers(3 * index.bin_size // 10, 7 * index.bin_size // 10, index.n_bins)
    anchor = index.starts(target) + anchors[target]
    cells = _cell_sets(rng, len(source), n_cells, params.shared_fraction)
    return Links(source, target, cells, omega / np.sqrt(in_deg), anchor)
