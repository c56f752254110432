"""Background DNA with a realistic composition for the ``realistic`` presets.

The genome is cut into isochore-like segments (log-uniform lengths of 100 kb - 1 Mb, each
with its own GC content, uniform in 35-55%). A segment is either synthetic (i.i.d. bases at
its GC, then interspersed repeats: poly-A runs, (CA)n microsatellites and mutated copies of
a ~300 bp Alu-like element drawn per seed) or, with probability ``real_fraction`` and when
the public hg38 pieces are present, filled with real hg38 sequence (50 kb chunks taken at
random N-free places, either strand). Without the hg38 pieces those segments get the
synthetic substitute; every other base is the same, because the segments, their GC and
their kind are drawn first, repeats are drawn everywhere, and the hg38 chunks (written
last, over the real segments) draw from a generator of their own.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qtlgraph.errors import InputError
from qtlgraph.simulate.sequence import encode, to_text

REAL_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
REAL_FILES = ("hg38_chr2_seq/chr2_1-2333275.fa.gz", "hg38_chr1_1mb/hg38_1m.fa.gz")
BACKGROUNDS = ("auto", "hg38", "synthetic")


class BackgroundParams(NamedTuple):
    segment_bp: tuple[int, int] = (100_000, 1_000_000)
    gc: tuple[float, float] = (0.35, 0.55)
    real_fraction: float = 0.3
    real_chunk: int = 50_000
    polya_per_bp: float = 1 / 3000
    polya_bp: tuple[int, int] = (10, 36)
    ca_per_bp: float = 1 / 6000
    ca_units: tuple[int, int] = (8, 26)
    alu_per_bp: float = 1 / 4000
    alu_divergence: tuple[float, float] = (0.03, 0.2)
    alu_min_bp: int = 120


class Segments(NamedTuple):
    """Isochore segments of the concatenated genome: (G,) ``start``, ``end``, ``gc``,
    ``real`` (filled with hg38 when present).
    """

    start: np.ndarray
    end: np.ndarray
    gc: np.ndarray
    real: np.ndarray


def read_real(real_dir: Path = REAL_DIR) -> list[np.ndarray]:
    """The public hg38 pieces as base codes (N = 4), or ``[]`` where they are absent."""
    pieces = []
    for name in REAL_FILES:
        path = Path(real_dir) / name
        if not path.is_file():
            continue
        with gzip.open(path, "rt") as fh:  # BGZF is gzip-compatible
            text = "".join(line.strip() for line in fh if not line.startswith(">"))
        pieces.append(encode(text.upper()))
    return pieces


def resolve_source(background: str, real_dir: Path = REAL_DIR) -> tuple[str, list[np.ndarray]]:
    """``auto`` / ``hg38`` / ``synthetic`` -> the source used and the hg38 pieces.

    Raises:
        InputError: an unknown choice, or ``hg38`` without the files.
    """
    if background not in BACKGROUNDS:
        raise InputError(
            f"--background: expected one of {', '.join(BACKGROUNDS)}, got {background!r}"
        )
    pieces = [] if background == "synthetic" else read_real(real_dir)
    if background == "hg38" and not pieces:
        raise InputError(f"--background hg38: none of {', '.join(REAL_FILES)} under {real_dir}")
    return ("hg38" if pieces else "synthetic"), pieces


def segments(rng: np.random.Generator, total: int, p: BackgroundParams) -> Segments:
    """Log-uniform segment lengths covering ``total`` bases, each with a GC and a kind."""
    lo, hi = np.log(p.segment_bp[0]), np.log(p.segment_bp[1])
    n = int(total / p.segment_bp[0]) + 2
    length = np.exp(rng.uniform(lo, hi, n)).astype(np.int64)
    end = np.minimum(np.cumsum(length), total)
    end = end[: int(np.searchsorted(end, total)) + 1]
    start = np.concatenate([[0], end[:-1]])
    gc = rng.uniform(p.gc[0], p.gc[1], n)[: len(end)]
    real = (rng.random(n) < p.real_fraction)[: len(end)]
    return Segments(start, end, gc, real)


def _bases(rng: np.random.Generator, gc: np.ndarray) -> np.ndarray:
    """One base per entry of ``gc`` (the GC probability at that base). Shapes: (n,) -> (n,)."""
    u = rng.random(len(gc))
    at = (1 - gc) / 2
    return ((u >= at).astype(np.uint8) + (u >= 0.5).astype(np.uint8) + (u >= 0.5 + gc / 2)).astype(
        np.uint8
    )


def alu_consensus(rng: np.random.Generator, avoid: tuple[str, ...] = ()) -> np.ndarray:
    """A dimeric Alu-like element: two GC-rich monomers, an A-rich linker, a poly-A tail.

    Redrawn (up to 1000 times) while it holds a word of ``avoid`` on either strand, so
    that thousands of copies do not lift a motif's core word by accident.
    """
    for _ in range(1000):
        left = _bases(rng, np.full(120, 0.62))
        right = _bases(rng, np.full(135, 0.6))
        alu = np.concatenate([left, np.zeros(6, np.uint8), right, np.zeros(18, np.uint8)])
        text = to_text(alu).decode()
        both = text + "N" + to_text(3 - alu[::-1]).decode()
        if not any(w in both for w in avoid):
            break
    return alu


def _write(codes, start, words, lengths) -> None:
    """Write ``words[i, :lengths[i]]`` at ``start[i]`` (clipped at the end of ``codes``)."""
    idx = start[:, None] + np.arange(words.shape[1])
    ok = (np.arange(words.shape[1]) < lengths[:, None]) & (idx < len(codes))
    codes[idx[ok]] = words[ok]


def _starts(rng, seg: Segments, keep: np.ndarray, rate: float) -> np.ndarray:
    """Poisson starts at ``rate`` per base inside the segments flagged by ``keep``."""
    span = (seg.end - seg.start) * keep
    n = rng.poisson(rate * span.sum())
    at = rng.integers(0, max(int(span.sum()), 1), n)
    which = np.searchsorted(np.cumsum(span), at, side="right")
    return np.sort(seg.start[which] + at - (np.cumsum(span) - span)[which])


def add_repeats(rng, codes, seg: Segments, keep: np.ndarray, p: BackgroundParams, avoid=()):
    """Poly-A runs, (CA)n microsatellites and Alu-like copies in the ``keep`` segments
    (the Alu-like consensus holds no word of ``avoid``).
    """
    alu = alu_consensus(rng, avoid)
    start = _starts(rng, seg, keep, p.alu_per_bp)
    n = len(start)
    length = rng.integers(p.alu_min_bp, len(alu) + 1, n)
    size = len(alu)
    # a 5'-truncated copy (the last ``length`` bases), on either strand, written from its start
    trunc = alu[(np.arange(size) + size - length[:, None]) % size]
    flipped = 3 - np.take_along_axis(trunc, (length[:, None] - 1 - np.arange(size)) % size, 1)
    words = np.where((rng.random(n) < 0.5)[:, None], flipped, trunc).astype(np.uint8)
    mutate = rng.random(words.shape) < rng.uniform(*p.alu_divergence, n)[:, None]
    words[mutate] = (words[mutate] + rng.integers(1, 4, int(mutate.sum()))) % 4
    _write(codes, start, words, length)
    start = _starts(rng, seg, keep, p.polya_per_bp)
    length = rng.integers(*p.polya_bp, len(start))
    base = np.where(rng.random(len(start)) < 0.5, 0, 3).astype(np.uint8)
    _write(codes, start, np.repeat(base[:, None], p.polya_bp[1], 1), length)
    start = _starts(rng, seg, keep, p.ca_per_bp)
    length = 2 * rng.integers(*p.ca_units, len(start))
    unit = np.array([[1, 0], [3, 2]], np.uint8)[rng.integers(0, 2, len(start))]  # CA or TG
    _write(codes, start, np.tile(unit, (1, p.ca_units[1])), length)
    return alu


def _fill_real(rng, codes: np.ndarray, seg: Segments, pieces: list[np.ndarray], chunk: int):
    """Copy N-free ``chunk``-base windows of the hg38 pieces into the real segments."""
    pool = np.concatenate([np.concatenate([p, [4]]) for p in pieces]).astype(np.uint8)
    n_bad = np.concatenate([[0], np.cumsum(pool > 3)])
    valid = np.flatnonzero(n_bad[chunk:] == n_bad[: len(pool) - chunk + 1])
    if len(valid) == 0:
        raise InputError(f"hg38 pieces hold no N-free window of {chunk} bp")
    for s, e in zip(seg.start[seg.real], seg.end[seg.real]):
        for lo in range(int(s), int(e), chunk):
            at = int(valid[rng.integers(0, len(valid))])
            word = pool[at : at + min(chunk, int(e) - lo)]
            codes[lo : lo + len(word)] = 3 - word[::-1] if rng.random() < 0.5 else word


def background(
    seed_seq: np.random.SeedSequence,
    total: int,
    pieces: list[np.ndarray],
    p: BackgroundParams,
    avoid: tuple[str, ...] = (),
) -> tuple[np.ndarray, Segments]:
    """The background genome (before motifs and gaps) and its segments.

    Args:
        seed_seq: the stage's seed sequence (four generators are spawned from it).
        total: genome length.
        pieces: hg38 pieces as base codes (:func:`resolve_source`), or none.
        p: background parameters.
        avoid: words the Alu-like consensus must not hold (the motifs' core 8-mers).

    Shapes: -> codes (total,) uint8.
    """
    rng_seg, rng_base, rng_rep, rng_real = [np.random.default_rng(s) for s in seed_seq.spawn(4)]
    seg = segments(rng_seg, total, p)
    gc = np.repeat(seg.gc, seg.end - seg.start)
    codes = _bases(rng_base, gc)
    real = seg.real & bool(pieces)
    add_repeats(rng_rep, codes, seg, np.ones(len(seg.start), bool), p, avoid)
    if pieces:  # after the repeats, so that all other bases do not depend on the source
        _fill_real(rng_real, codes, seg._replace(real=real), pieces, p.real_chunk)
    return codes, seg._replace(real=real)
