"""Simulated accessibility and histone tracks at a fixed step (e.g. 20 bp).

For cell type ``c`` and mark ``k`` at step ``x`` (docs/simulation.md has the equations):
accessibility ``a_c = b_a + sum_m A[c,m] (G_{s_a} * o_m)``; histone local term
``L_ck = b_k + sum_m H[k,c,m] (G_{s_k} * o_m) + eta_k (N_{s_k} * (a_c - b_a))``; distal
term ``D_ck = sum_t d_ck(t) G_{s_k}(x - anchor_t)`` with
``d_ck(t) = g_k sum_{l: target t, c in C_l} w_l S(source_l)``; observed = (term) times
mean-one log-normal noise, NaN in gaps. ``o_m`` are motif occurrence counts per step,
``G`` a Gaussian kernel with peak 1, ``N`` the same kernel normalised to sum 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d

from qtlgraph.simulate.sequence import MOTIFS, K, Occurrences

MARKS = ("H3K27ac", "H3K4me1")


class TrackParams(NamedTuple):
    step: int = 20
    base_acc: float = 0.3
    base_mark: tuple[float, ...] = (0.4, 0.5)
    sigma_acc: float = 120.0
    sigma_mark: tuple[float, ...] = (500.0, 1000.0)
    acc_strength: dict = {"local": 2.0, "cell": 3.5}
    mark_strength: tuple[dict, ...] = ({"local": 1.6, "cell": 2.4}, {"local": 0.9, "cell": 1.8})
    off_target_activity: float = 0.1
    eta: tuple[float, ...] = (0.6, 0.4)
    distal_gain: tuple[float, ...] = (3.0, 2.0)
    distal_motif_weight: dict = {"DIST1": 1.0, "DIST2": 0.7}
    noise_sdlog: float = 0.35
    noise_smooth_steps: float = 3.0


def activity(cell_types: tuple[str, ...], strength: dict, off: float) -> np.ndarray:
    """Per-cell motif weights ``A[c, m]``: local motifs everywhere, cell motifs mostly in theirs.

    Shapes: -> (n_cells, n_motifs) float64.
    """
    a = np.zeros((len(cell_types), len(MOTIFS)))
    for j, m in enumerate(MOTIFS):
        if m.kind == "local":
            a[:, j] = strength["local"]
        elif m.kind == "cell":
            a[:, j] = [strength["cell"] * (1.0 if c == m.cell_type else off) for c in cell_types]
    return a


def distal_weights(params: TrackParams) -> np.ndarray:
    """``u_m``: each motif's contribution to a source bin's distal strength. Shapes: (M,)."""
    return np.array([params.distal_motif_weight.get(m.name, 0.0) for m in MOTIFS])


def _peak(x: np.ndarray, sigma_steps: float) -> np.ndarray:
    """Convolve with a Gaussian whose peak is 1 (one instance adds a bump of height 1)."""
    return gaussian_filter1d(x, sigma_steps, mode="constant") * np.sqrt(2 * np.pi) * sigma_steps


class ChromTracks(NamedTuple):
    """Tracks of one chromosome at ``step`` resolution; leading axis cell type, then mark.

    Attributes:
        accessibility: (C, S) observed, NaN in gaps.
        marks: (C, n_marks, S) observed, NaN in gaps.
        local: (C, n_marks, S) noise-free local term.
        distal: (C, n_marks, S) noise-free distal term.
    """

    accessibility: np.ndarray
    marks: np.ndarray
    local: np.ndarray
    distal: np.ndarray


def occurrence_counts(occ: Occurrences, start: int, n_steps: int, step: int) -> np.ndarray:
    """Motif occurrences per step of one chromosome (by motif centre). Shapes: -> (M, S)."""
    sel = (occ.start >= start) & (occ.start < start + n_steps * step)
    where = (occ.start[sel] - start + K // 2) // step
    where = np.minimum(where, n_steps - 1)
    flat = np.bincount(occ.motif[sel] * n_steps + where, minlength=len(MOTIFS) * n_steps)
    return flat.reshape(len(MOTIFS), n_steps).astype(np.float64)


def _noise(rng: np.random.Generator, shape: tuple[int, ...], p: TrackParams) -> np.ndarray:
    z = gaussian_filter1d(rng.standard_normal(shape), p.noise_smooth_steps, axis=-1)
    z /= z.std(axis=-1, keepdims=True)
    return np.exp(p.noise_sdlog * z - p.noise_sdlog**2 / 2)


def chrom_tracks(
    counts: np.ndarray,
    distal_at: np.ndarray,
    nan_steps: np.ndarray,
    acc_w: np.ndarray,
    mark_w: np.ndarray,
    rng: np.random.Generator,
    p: TrackParams,
) -> ChromTracks:
    """All tracks of one chromosome.

    Args:
        counts: (M, S) motif occurrences per step.
        distal_at: (C, n_marks, S) distal amplitudes ``d_ck(t)`` placed at anchor steps.
        nan_steps: (S,) bool, steps without data (N or unmappable).
        acc_w: (C, M) accessibility weights ``A``.
        mark_w: (n_marks, C, M) histone weights ``H``.
        rng: generator for the noise of this chromosome.
        p: track parameters.
    """
    s_acc = p.sigma_acc / p.step
    acc_clean = p.base_acc + _peak(acc_w @ counts, s_acc)
    n_cells, n_marks = acc_w.shape[0], len(p.base_mark)
    local = np.empty((n_cells, n_marks, counts.shape[1]))
    distal = np.empty_like(local)
    for k in range(n_marks):
        s_k = p.sigma_mark[k] / p.step
        spread = gaussian_filter1d(acc_clean - p.base_acc, s_k, axis=-1, mode="constant")
        local[:, k] = p.base_mark[k] + _peak(mark_w[k] @ counts, s_k) + p.eta[k] * spread
        distal[:, k] = _peak(distal_at[:, k], s_k)
    acc = acc_clean * _noise(rng, acc_clean.shape, p)
    marks = (local + distal) * _noise(rng, local.shape, p)
    acc[:, nan_steps] = np.nan
    marks[:, :, nan_steps] = np.nan
    return ChromTracks(acc.astype(np.float32), marks.astype(np.float32), local, distal)


def bin_means(x: np.ndarray, nan_steps: np.ndarray, steps_per_bin: int) -> np.ndarray:
    """Mean over each bin's steps that have data (NaN where none). Shapes: (..., S) -> (..., B)."""
    n = x.shape[-1]
    b = np.arange(n) // steps_per_bin
    n_bins = int(b[-1]) + 1
    keep = ~nan_steps
    flat = x.reshape(-1, n)
    sums = np.stack([np.bincount(b[keep], weights=row[keep], minlength=n_bins) for row in flat])
    cnt = np.bincount(b[keep], minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / cnt
    return out.reshape(*x.shape[:-1], n_bins)
