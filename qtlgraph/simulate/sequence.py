"""Simulated DNA: background bases, N gaps, planted motif instances and a k-mer motif scan.

The genome is held as one concatenated ``uint8`` array of base codes (0=A, 1=C, 2=G, 3=T,
4=N) with per-chromosome offsets, so every step is a vectorised NumPy operation. Motifs
are exact 10-mers; an occurrence is a position whose 10-mer equals the consensus on
either strand. Everything downstream (tracks, true effects) is computed from the scan of
the final sequence, so accidental occurrences count exactly like planted ones.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

BASES = b"ACGTN"
K = 10
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


class Motif(NamedTuple):
    name: str
    kind: str  # "local" (every cell type), "cell" (one cell type), "distal" (acts via links)
    consensus: str
    cell_type: str  # the cell type of a "cell" motif; "" otherwise


MOTIFS: tuple[Motif, ...] = (
    Motif("SP1like", "local", "GGGGCGGGGC", ""),
    Motif("AP1like", "local", "TGACTCAGCA", ""),
    Motif("NFYlike", "local", "CCAATCAGAG", ""),
    Motif("PU1like", "cell", "AAAGAGGAAG", "mono"),
    Motif("CEBPlike", "cell", "ATTGCGCAAC", "neut"),
    Motif("RUNXlike", "cell", "TGTGGTTTAC", "tcel"),
    Motif("DIST1", "distal", "ACGTTAACGA", ""),
    Motif("DIST2", "distal", "CGATATCGGA", ""),
)


class SequenceLayout(NamedTuple):
    """Chromosomes laid end to end.

    Attributes:
        chroms: chromosome names.
        lengths: (C,) int64 lengths.
        offsets: (C + 1,) int64 start of each chromosome in the concatenated array.
    """

    chroms: tuple[str, ...]
    lengths: np.ndarray
    offsets: np.ndarray


def make_layout(chroms: tuple[str, ...], lengths: tuple[int, ...]) -> SequenceLayout:
    lengths = np.asarray(lengths, dtype=np.int64)
    return SequenceLayout(chroms, lengths, np.concatenate([[0], np.cumsum(lengths)]))


def encode(seq: str) -> np.ndarray:
    """``'ACGT'`` -> codes. Shapes: (L,) uint8."""
    lut = np.full(256, 4, dtype=np.uint8)
    for i, b in enumerate(b"ACGT"):
        lut[b] = i
    return lut[np.frombuffer(seq.encode(), dtype=np.uint8)]


def motif_codes() -> tuple[np.ndarray, np.ndarray]:
    """Forward and reverse-complement codes of every motif. Shapes: (M, K), (M, K)."""
    fwd = np.stack([encode(m.consensus) for m in MOTIFS])
    return fwd, _COMPLEMENT[fwd[:, ::-1]]


def background(rng: np.random.Generator, n: int, gc: float = 0.41) -> np.ndarray:
    """i.i.d. bases with GC content ``gc``. Shapes: -> (n,) uint8."""
    cum = np.cumsum([(1 - gc) / 2, gc / 2, gc / 2])
    return np.searchsorted(cum, rng.random(n)).astype(np.uint8)


def gap_mask(layout: SequenceLayout, telomere: int, centromere: int) -> np.ndarray:
    """N stretches: the first ``telomere`` bp of every chromosome and one internal gap.

    The internal gap (``centromere`` bp, at 40% of the chromosome) is only placed on
    chromosomes longer than 20 times its size. Shapes: -> (total,) bool.
    """
    mask = np.zeros(int(layout.offsets[-1]), dtype=bool)
    for off, n in zip(layout.offsets[:-1], layout.lengths):
        mask[off : off + min(telomere, n)] = True
        if centromere and n > 20 * centromere:
            mid = off + int(0.4 * n)
            mask[mid : mid + centromere] = True
    return mask


def plant(
    codes: np.ndarray,
    starts: np.ndarray,
    motif_ids: np.ndarray,
    reverse: np.ndarray,
    broken_at: np.ndarray | None = None,
    broken_base: np.ndarray | None = None,
) -> None:
    """Write motif instances into ``codes`` in place (later instances overwrite earlier).

    Args:
        codes: (total,) uint8 genome.
        starts: (P,) global 0-based start of each instance.
        motif_ids: (P,) index into ``MOTIFS``.
        reverse: (P,) bool, plant the reverse complement.
        broken_at: (P,) offset inside the written 10-mer to replace, -1 for intact.
        broken_base: (P,) base code written at ``broken_at``.
    """
    fwd, rev = motif_codes()
    words = np.where(reverse[:, None], rev[motif_ids], fwd[motif_ids])
    if broken_at is not None:
        rows = np.flatnonzero(broken_at >= 0)
        words[rows, broken_at[rows]] = broken_base[rows]
    codes[starts[:, None] + np.arange(K)] = words


def _lookup_table() -> np.ndarray:
    lut = np.full(4**K, -1, dtype=np.int8)
    fwd, rev = motif_codes()
    weights = 4 ** np.arange(K - 1, -1, -1, dtype=np.int64)
    for i in range(len(MOTIFS)):
        lut[int(fwd[i] @ weights)] = i
        lut[int(rev[i] @ weights)] = i
    return lut


def kmer_motif_ids(windows: np.ndarray) -> np.ndarray:
    """Motif id of every 10-mer in each row of ``windows`` (-1: none, or an N inside).

    Shapes:
        windows: (R, W) uint8 -> (R, W - K + 1) int8
    """
    windows = np.atleast_2d(windows)
    n = windows.shape[1] - K + 1
    h = np.zeros((windows.shape[0], n), dtype=np.int64)
    bad = np.zeros((windows.shape[0], n), dtype=bool)
    for j in range(K):
        part = windows[:, j : j + n]
        h = h * 4 + np.minimum(part, 3)
        bad |= part > 3
    ids = _lookup_table()[h]
    ids[bad] = -1
    return ids


class Occurrences(NamedTuple):
    """Motif occurrences found by the scan. Attributes: (O,) global ``start``, ``motif``."""

    start: np.ndarray
    motif: np.ndarray


def scan(codes: np.ndarray, layout: SequenceLayout, chunk: int = 4_000_000) -> Occurrences:
    """Every exact motif occurrence (either strand) that lies inside one chromosome."""
    starts, motifs = [], []
    total = len(codes)
    for lo in range(0, total, chunk):
        hi = min(total, lo + chunk + K - 1)
        ids = kmer_motif_ids(codes[lo:hi][None, :])[0]
        hit = np.flatnonzero(ids >= 0)
        starts.append(hit + lo)
        motifs.append(ids[hit])
    start = np.concatenate(starts).astype(np.int64)
    motif = np.concatenate(motifs).astype(np.int64)
    chrom = np.searchsorted(layout.offsets, start, side="right") - 1
    inside = start + K <= layout.offsets[chrom + 1]
    return Occurrences(start[inside], motif[inside])


def motif_delta(codes: np.ndarray, positions: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """Change in motif counts when the base at each position becomes ``alt``.

    Args:
        codes: (total,) uint8 genome.
        positions: (S,) global 0-based positions (at least ``K`` from either end).
        alt: (S,) uint8 alternative base codes.

    Returns:
        (S, M) int64: occurrences with alt minus occurrences with ref, per motif.
    """
    win = codes[positions[:, None] + np.arange(-(K - 1), K)]
    mutated = win.copy()
    mutated[:, K - 1] = alt
    m = len(MOTIFS)
    delta = np.zeros((len(positions), m), dtype=np.int64)
    for sign, w in ((-1, win), (1, mutated)):
        ids = kmer_motif_ids(w)
        for i in range(m):
            delta[:, i] += sign * (ids == i).sum(axis=1)
    return delta


def to_text(codes: np.ndarray) -> bytes:
    """Codes -> ``b'ACGTN'`` letters. Shapes: (L,) -> L bytes."""
    return np.frombuffer(BASES, dtype=np.uint8)[codes].tobytes()
