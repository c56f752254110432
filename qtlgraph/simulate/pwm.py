"""Position weight matrices: JASPAR counts, log-odds, score thresholds, sampled sites, scans.

The ``realistic`` presets plant transcription-factor sites drawn from real JASPAR 2024
matrices (shipped in ``qtlgraph/data/jaspar2024_motifs.tsv``, CC BY 4.0; or read through
the optional ``pyjaspar`` package) instead of one consensus word. A site is an occurrence
when its log-odds score (bits, against a uniform background) on either strand reaches the
motif's threshold: the score whose background p-value is ``P_SITE`` (computed exactly on a
0.01-bit grid), kept between ``BELOW_TOP[1]`` and ``BELOW_TOP[0]`` bits under the best
possible score, so that short matrices keep a handful of words and one mismatch at a
conserved position of a long matrix ends the site (as a causal SNP must).

Scores of a whole genome are computed from 4-mer codes (alphabet ACGTN): a matrix of width
``L`` is summed from ``ceil(L / 4)`` lookups into 625-entry tables in which any N scores
``NO_SITE``, so a scan is a few gathers per motif and strand.
"""

from __future__ import annotations

import warnings
from importlib import resources
from typing import NamedTuple

import numpy as np
import pandas as pd

from qtlgraph.errors import InputError

MOTIF_FILE = "jaspar2024_motifs.tsv"
P_SITE = 2e-5
BELOW_TOP = (2.0, 6.0)  # the threshold lies this many bits under the best score (min, max)
MIX = 0.02  # probabilities are (1 - MIX) * counts / sites + MIX / 4
BLOCK = 4  # bases per lookup table in the scan
NO_SITE = -1e6  # the score of a word with an N


class Pwm(NamedTuple):
    """One matrix.

    Attributes:
        matrix_id: JASPAR ID with version (``MA0080.7``).
        name: the TF name in JASPAR.
        prob: (L, 4) base probabilities (counts plus pseudocount, rows sum to 1).
        logodds: (L, 4) ``log2(prob / 0.25)``.
        threshold: score (bits) from which a word is an occurrence.
    """

    matrix_id: str
    name: str
    prob: np.ndarray
    logodds: np.ndarray
    threshold: float

    @property
    def width(self) -> int:
        return int(self.prob.shape[0])


def _from_counts(matrix_id: str, name: str, counts: np.ndarray) -> Pwm:
    counts = np.asarray(counts, dtype=np.float64)
    prob = (1 - MIX) * counts / counts.sum(axis=1, keepdims=True) + MIX / 4
    logodds = np.log2(prob / 0.25)
    return Pwm(matrix_id, name, prob, logodds, score_threshold(logodds))


def shipped_motifs() -> tuple[Pwm, ...]:
    """The matrices shipped with qtlgraph (JASPAR 2024), in file order."""
    text = resources.files("qtlgraph").joinpath("data", MOTIF_FILE).open()
    frame = pd.read_csv(text, sep="\t", comment="#")
    out = []
    for mid, g in frame.groupby("matrix_id", sort=False):
        g = g.sort_values("position")
        out.append(_from_counts(mid, g["name"].iloc[0], g[["A", "C", "G", "T"]].to_numpy()))
    return tuple(out)


def jaspar_motifs(matrix_ids: list[str], release: str = "JASPAR2024") -> tuple[Pwm, ...]:
    """The same kind of matrices read from the JASPAR database that ``pyjaspar`` ships.

    Raises:
        InputError: pyjaspar is not installed, or an ID is not in the release.
    """
    try:
        from pyjaspar import jaspardb
    except ImportError as exc:
        raise InputError(
            "pyjaspar is not installed (pip install 'qtlgraph[jaspar]'); "
            "the shipped matrices need no extra"
        ) from exc
    db = jaspardb(release=release)
    out = []
    for mid in matrix_ids:
        with warnings.catch_warnings():  # an unknown ID warns, then returns None
            warnings.simplefilter("ignore")
            m = db.fetch_motif_by_id(mid.split(".")[0])
        if m is None:
            raise InputError(f"{mid}: not a matrix of {release}")
        counts = np.array([m.counts[b] for b in "ACGT"]).T
        out.append(_from_counts(m.matrix_id, m.name, counts))
    return tuple(out)


def score_threshold(logodds: np.ndarray, p: float = P_SITE, below_top=BELOW_TOP) -> float:
    """The smallest score whose background (uniform) p-value is at most ``p``, clipped to
    ``[top - below_top[1], top - below_top[0]]`` (``top`` the best possible score).

    The score distribution of a random word is convolved position by position on a
    0.01-bit grid.

    Shapes: logodds (L, 4).
    """
    grid = np.round(logodds * 100).astype(np.int64)
    lo = grid.min(axis=1)
    dist = np.ones(1)
    for row, low in zip(grid, lo):
        step = np.zeros(int(row.max() - low) + 1)
        np.add.at(step, row - low, 0.25)
        dist = np.convolve(dist, step)
    tail = np.cumsum(dist[::-1])[::-1]  # tail[i] = P(score >= lo.sum() + i)
    ok = np.flatnonzero((tail <= p) & (dist > 0))  # the lowest attainable such score
    at = int(ok[0]) if len(ok) else len(tail) - 1
    top = logodds.max(axis=1).sum()
    return float(np.clip((lo.sum() + at) / 100.0, top - below_top[1], top - below_top[0]))


def score(pwm: Pwm, words: np.ndarray) -> np.ndarray:
    """Forward-strand score of each word. Shapes: (N, L) uint8 codes 0-3 -> (N,)."""
    return pwm.logodds[np.arange(pwm.width), words].sum(axis=1)


def sample_sites(rng: np.random.Generator, pwm: Pwm, n: int, tries: int = 40) -> np.ndarray:
    """``n`` words drawn from the matrix, each the first of ``tries`` draws that scores at
    least the threshold (the best draw when none does). Shapes: -> (n, L) uint8.
    """
    cum = np.cumsum(pwm.prob, axis=1)
    u = rng.random((n, tries, pwm.width))
    words = (u[..., None] > cum[None, None]).sum(axis=-1).astype(np.uint8)
    s = pwm.logodds[np.arange(pwm.width), words].sum(axis=-1)
    ok = s >= pwm.threshold
    pick = np.where(ok.any(axis=1), ok.argmax(axis=1), s.argmax(axis=1))
    return words[np.arange(n), pick]


def reverse_complement(words: np.ndarray) -> np.ndarray:
    """Shapes: (N, L) -> (N, L) codes 0-3."""
    return (3 - words[:, ::-1]).astype(np.uint8)


def _block_codes(codes: np.ndarray) -> np.ndarray:
    """Base-5 code (A, C, G, T, N) of the ``BLOCK``-mer starting at every position; bases
    past the end read as N.
    """
    c = np.concatenate([np.minimum(codes, 4), np.full(BLOCK - 1, 4, np.uint8)]).astype(np.int16)
    n = len(codes)
    out = c[:n] * 5 ** (BLOCK - 1)
    for j in range(1, BLOCK):
        out += c[j : n + j] * 5 ** (BLOCK - 1 - j)
    return out.astype(np.intp)  # np.take is fastest with intp indices


def _tables(logodds: np.ndarray) -> list[np.ndarray]:
    """One 625-entry score table per block of ``BLOCK`` positions: padding positions score
    0, an N inside the matrix ``NO_SITE``.
    """
    width = logodds.shape[0]
    pad = np.zeros((-(-width // BLOCK) * BLOCK, 5))
    pad[:width, :4] = logodds
    pad[:width, 4] = NO_SITE
    digits = (np.arange(5**BLOCK)[:, None] // 5 ** np.arange(BLOCK - 1, -1, -1)) % 5
    return [
        pad[b + np.arange(BLOCK), digits].sum(axis=1).astype(np.float32)
        for b in range(0, len(pad), BLOCK)
    ]


class Hits(NamedTuple):
    """Occurrences: (O,) global ``start``, ``motif`` index, ``score`` (best strand)."""

    start: np.ndarray
    motif: np.ndarray
    score: np.ndarray


def scan_scores(codes: np.ndarray, pwm: Pwm, blocks: np.ndarray | None = None) -> np.ndarray:
    """Best-strand score of the word starting at every position (``NO_SITE`` or less where
    the word holds an N or runs off the end). Shapes: (T,) uint8 -> (T,) float32.
    """
    blocks = _block_codes(codes) if blocks is None else blocks
    n = len(codes)
    best = np.full(n, NO_SITE, dtype=np.float32)
    for lo in (pwm.logodds, pwm.logodds[::-1, ::-1]):  # forward, reverse complement
        tables = _tables(lo)
        s = np.take(tables[0], blocks)
        for b, table in enumerate(tables[1:], start=1):
            s[: n - b * BLOCK] += np.take(table, blocks[b * BLOCK :])
            s[n - b * BLOCK :] += NO_SITE  # runs off the end
        np.maximum(best, s, out=best)
    return best


def scan(codes: np.ndarray, motifs: tuple[Pwm, ...], offsets: np.ndarray) -> Hits:
    """Every occurrence of every motif that lies inside one chromosome (``offsets`` (C+1,))."""
    blocks = _block_codes(codes)
    starts, ids, scores = [], [], []
    for i, pwm in enumerate(motifs):
        s = scan_scores(codes, pwm, blocks)
        hit = np.flatnonzero(s >= pwm.threshold - 1e-4)
        chrom = np.searchsorted(offsets, hit, side="right") - 1
        hit = hit[hit + pwm.width <= offsets[chrom + 1]]
        starts.append(hit)
        ids.append(np.full(len(hit), i))
        scores.append(s[hit])
    start = np.concatenate(starts).astype(np.int64)
    order = np.argsort(start, kind="stable")
    return Hits(start[order], np.concatenate(ids)[order], np.concatenate(scores)[order])


def window_counts(windows: np.ndarray, motifs: tuple[Pwm, ...]) -> np.ndarray:
    """Occurrences of each motif inside each row of ``windows`` (N rows are allowed).

    Shapes: (R, W) uint8 -> (R, M) int64.
    """
    r, w = windows.shape
    flat = np.concatenate([windows, np.full((r, 1), 4, np.uint8)], axis=1).reshape(-1)
    out = np.zeros((r, len(motifs)), dtype=np.int64)
    for i, pwm in enumerate(motifs):
        s = scan_scores(flat, pwm).reshape(r, w + 1)
        out[:, i] = (s >= pwm.threshold - 1e-4).sum(axis=1)
    return out


def count_delta(
    codes: np.ndarray, positions: np.ndarray, alt: np.ndarray, motifs: tuple[Pwm, ...]
) -> np.ndarray:
    """Change in occurrence counts when the base at each position becomes ``alt``.

    Args:
        codes: (T,) uint8 genome.
        positions: (S,) global 0-based positions, at least the widest motif from either end.
        alt: (S,) uint8 alternative bases.
        motifs: the motif set.

    Returns:
        (S, M) int64, occurrences with alt minus occurrences with ref.
    """
    k = max(p.width for p in motifs)
    win = codes[positions[:, None] + np.arange(-(k - 1), k)]
    mutated = win.copy()
    mutated[:, k - 1] = alt
    return window_counts(mutated, motifs) - window_counts(win, motifs)


def best_kmer(pwm: Pwm, k: int = 8) -> tuple[str, int]:
    """The most informative ``k`` consecutive positions and their consensus word.

    Returns:
        ``(word, offset)``: the consensus letters and the first position of the window.
    """
    if pwm.width < k:
        raise InputError(f"{pwm.matrix_id}: {pwm.width} positions, fewer than k = {k}")
    ic = 2 + (pwm.prob * np.log2(pwm.prob)).sum(axis=1)
    at = int(np.argmax(np.convolve(ic, np.ones(k), mode="valid")))
    word = "".join("ACGT"[i] for i in pwm.prob[at : at + k].argmax(axis=1))
    return word, at
