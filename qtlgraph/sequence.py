"""Reference sequence: one-hot encoding, windows by coordinates, variant substitution.

One-hot rows are ``A, C, G, T`` in that order; ``N`` and every other letter (IUPAC codes,
gaps) encode as an all-zero column, as in the report; lower case (soft-masked repeats)
encodes like upper case. Coordinates are 0-based half-open; windows running off either
end of a chromosome are padded with ``N`` (all-zero).

Two genome forms are read: a FASTA file, plain or bgzip-compressed, read by pyfaidx
(biopython supplies the BGZF reader), and four bigWigs ``A, C, G, T`` holding 0/1
values. pyfaidx needs a ``.fai`` (and for bgzip a ``.gzi``); missing or stale ones are
built beside the FASTA when that folder is writable, else in a per-user cache
(:func:`index_cache_dir`), so read-only reference folders work unchanged. A plain-gzip
FASTA cannot be read at random positions; it is refused with an InputError telling the
user to recompress it with ``bgzip`` (decompressing a 3 GB genome to a hidden temporary
file on every run would be worse).

Sequence is read as one string per chromosome stretch and turned into base codes with
``np.frombuffer`` and a lookup table; :meth:`GenomeSequence.one_hot_many` reads nearby
windows as one stretch. Readers reopen their files in a forked process (DataLoader
workers) and pickle without open handles.

Code that needs whole bins at random (training the bin encoder, the distal model reading
source bins) calls :func:`open_codes`: every bin's codes as a ``(n_bins, bin_size)`` uint8
array-like read from a cache file written once per genome (:mod:`qtlgraph.bin_codes`), so
memory does not grow with the genome.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyfaidx

from qtlgraph.bin_codes import BinCodes as BinCodes  # re-exported: the bin code cache
from qtlgraph.bin_codes import open_codes as open_codes
from qtlgraph.errors import InputError
from qtlgraph.genome import canonical_chrom

BASES = "ACGT"
_LUT = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(BASES):
    _LUT[ord(_b)] = _i
    _LUT[ord(_b.lower())] = _i
_EYE = np.eye(5, 4, dtype=np.float32)  # row 4 (N) is all zero
_MAX_GAP = 32_768  # one_hot_many: windows closer than this are read as one stretch
_MAX_SPAN = 8_000_000  # ... of at most about this many bases
# pyfaidx reports a malformed FASTA or index with any of these
_PYFAIDX_ERRORS = (pyfaidx.FastaIndexingError, OSError, ValueError, IndexError, KeyError)


def codes(seq: str | bytes | np.ndarray) -> np.ndarray:
    """Base codes 0-3 for A, C, G, T (any case) and 4 for anything else. Shapes: (L,) uint8."""
    if isinstance(seq, str):
        seq = seq.encode("ascii", errors="replace")
    raw = (
        np.frombuffer(seq, dtype=np.uint8) if isinstance(seq, bytes) else np.asarray(seq, np.uint8)
    )
    return _LUT[raw]


def one_hot(seq: str | bytes) -> np.ndarray:
    """One-hot encode a sequence.

    Shapes:
        seq of length L -> (4, L) float32, rows A, C, G, T; N and other letters all-zero.
    """
    return np.ascontiguousarray(_EYE[codes(seq)].T)


def decode(onehot: np.ndarray) -> str:
    """The sequence of a (4, L) one-hot array; all-zero columns read as ``N``."""
    x = np.asarray(onehot)
    idx = np.where(x.max(axis=0) > 0, x.argmax(axis=0), 4)
    return np.frombuffer(b"ACGTN", dtype=np.uint8)[idx].tobytes().decode()


def substitute(onehot: np.ndarray, offset: int, ref: str, alt: str, where: str = "") -> np.ndarray:
    """Replace ``ref`` at ``offset`` of a one-hot window by ``alt``, checking ``ref`` first.

    Equal lengths substitute in place. For indels the window keeps its length: bases after
    the variant shift, cut at the right end or padded there with ``N``.

    Args:
        onehot: (4, L) window.
        offset: 0-based position of the variant's first base inside the window.
        ref: the reference allele (A/C/G/T/N letters), checked against the window.
        alt: the alternative allele.
        where: how to name the variant in errors, e.g. ``"chr2:1860161"``.

    Returns:
        a new (4, L) float32 array.
    """
    length = onehot.shape[1]
    name = where or f"offset {offset}"
    if offset < 0 or offset + len(ref) > length:
        raise InputError(
            f"variant {name}: ref allele {ref!r} does not fit in a window of {length} bp"
        )
    found = decode(onehot[:, offset : offset + len(ref)])
    if found != ref.upper():
        raise InputError(
            f"variant {name}: ref allele mismatch: expected {ref.upper()!r} (from the variant), "
            f"found {found!r} in the genome"
        )
    out = np.concatenate([onehot[:, :offset], one_hot(alt), onehot[:, offset + len(ref) :]], axis=1)
    if out.shape[1] >= length:
        return np.ascontiguousarray(out[:, :length], dtype=np.float32)
    pad = np.zeros((4, length - out.shape[1]), dtype=np.float32)
    return np.concatenate([out, pad], axis=1).astype(np.float32, copy=False)


def index_cache_dir() -> Path:
    """Where FASTA indexes go when the FASTA's own folder is read-only.

    ``$QTLGRAPH_CACHE_DIR/faidx``, else ``$XDG_CACHE_HOME/qtlgraph/faidx``, else
    ``~/.cache/qtlgraph/faidx`` (one folder per FASTA, keyed by its absolute path, size and
    modification time, so a replaced FASTA never meets a stale index).
    """
    root = os.environ.get("QTLGRAPH_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(xdg) / "qtlgraph"
    return Path(root) / "faidx"


def _compression(path: Path) -> str:
    """``"plain"``, ``"bgzf"`` or ``"gzip"`` from the first bytes (BGZF: gzip with a BC field)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    return "bgzf" if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC" else "gzip"


def _fresh(fasta: Path, index_files) -> bool:
    """Every index file exists and is not older than the FASTA (pyfaidx's own rule)."""
    mtime = fasta.stat().st_mtime
    return all(p.is_file() and p.stat().st_mtime >= mtime for p in index_files if p is not None)


def _writable(folder: Path) -> bool:
    """We may write in ``folder``; a folder without write bits counts as read-only even for root."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _index_paths(path: Path, bgzf: bool) -> tuple[Path, Path | None]:
    """The ``.fai`` (and ``.gzi`` for bgzip) to use: beside the FASTA, else in the cache.

    Indexes beside the FASTA are used when current, and written there when the folder is
    writable (as ``samtools faidx`` would); a read-only folder without current indexes
    gets them in :func:`index_cache_dir`.
    """
    beside = (Path(f"{path}.fai"), Path(f"{path}.gzi") if bgzf else None)
    if _fresh(path, beside) or _writable(path.parent):
        return beside
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[
        :16
    ]
    folder = index_cache_dir() / key
    return folder / f"{path.name}.fai", (folder / f"{path.name}.gzi" if bgzf else None)


def _faidx(path: Path, fai: Path, gzi: Path | None):
    """A pyfaidx reader returning plain strings, never writing an index."""
    try:
        return pyfaidx.Faidx(
            str(path),
            indexname=str(fai),
            gzi_indexname=gzi and str(gzi),
            as_raw=True,
            rebuild=False,
            build_index=False,
        )
    except _PYFAIDX_ERRORS as err:
        raise InputError(f"{path}: cannot read FASTA index {fai}: {err}") from None


def _build_index(path: Path, fai: Path, gzi: Path | None) -> None:
    """Index with pyfaidx into a temporary folder beside the target, then rename into place."""
    fai.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".faidx-", dir=fai.parent))
    try:
        tmp_fai, tmp_gzi = tmp / fai.name, (tmp / gzi.name if gzi else None)
        try:
            pyfaidx.Faidx(
                str(path), indexname=str(tmp_fai), gzi_indexname=tmp_gzi and str(tmp_gzi)
            ).close()
        except _PYFAIDX_ERRORS as err:
            raise InputError(f"{path}: cannot index FASTA: {err}") from None
        if gzi is not None:  # .gzi first: a reader seeing a current .fai finds its .gzi too
            os.replace(tmp_gzi, gzi)
        os.replace(tmp_fai, fai)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prepare(path: Path) -> tuple[Path, Path | None]:
    """Check a FASTA at the door and make sure its index exists; returns (fai, gzi)."""
    if not path.is_file():
        raise InputError(f"{path}: FASTA file not found")
    kind = _compression(path)
    if kind == "gzip":
        raise InputError(
            f"{path}: plain gzip FASTA cannot be read at random positions; recompress it with "
            f"bgzip and index it: zcat {path.name} | bgzip > {path.stem}.bgz.fa.gz && "
            f"samtools faidx {path.stem}.bgz.fa.gz (or decompress it)"
        )
    gz_name = path.name.lower().endswith((".gz", ".bgz"))
    if gz_name != (kind == "bgzf"):  # pyfaidx picks its reader by the file name
        want = "end in .gz or .bgz" if kind == "bgzf" else "not end in .gz (it is not compressed)"
        raise InputError(f"{path}: the file name should {want}")
    fai, gzi = _index_paths(path, kind == "bgzf")
    if not _fresh(path, (fai, gzi)):
        _build_index(path, fai, gzi)
    return fai, gzi


def fasta_index(path: str | Path) -> dict[str, tuple[int, int, int, int]]:
    """The ``.fai`` of a FASTA: ``{name: (length, offset, line_bases, line_width)}``.

    The index is built with pyfaidx when missing or older than the FASTA: beside the FASTA
    when its folder is writable, else in :func:`index_cache_dir`. For bgzip FASTA the
    ``.gzi`` block index is handled the same way. Plain-gzip FASTA is refused.
    """
    path = Path(path)
    faidx = _faidx(path, *_prepare(path))
    try:
        return {k: (r.rlen, r.offset, r.lenc, r.lenb) for k, r in faidx.index.items()}
    finally:
        faidx.close()


def fasta_sizes(path: str | Path) -> dict[str, int]:
    """Chromosome lengths of a FASTA, canonical (``chr``) names, file order."""
    return {canonical_chrom(k): v[0] for k, v in fasta_index(path).items()}


class GenomeSequence:
    """Windows of a reference genome by coordinates (0-based half-open, N-padded).

    Build it with :func:`open_fasta`, :func:`open_onehot_bigwigs` or :func:`open_sequence`.
    ``sizes`` maps canonical chromosome names to lengths.
    """

    sizes: dict[str, int]

    def _codes(self, chrom: str, start: int, end: int) -> np.ndarray:
        raise NotImplementedError

    def _check(self, chrom: str, start: int, end: int) -> str:
        c = canonical_chrom(chrom)
        if c not in self.sizes:
            raise InputError(
                f"{self.source}: no chromosome {chrom!r} (has {list(self.sizes)[:5]}...)"
            )
        if end < start:
            raise InputError(f"{chrom}:{start}-{end}: end before start")
        return c

    def codes(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Base codes (0-3 = A, C, G, T; 4 = N or off the chromosome).

        Shapes:
            -> (end - start,) uint8.
        """
        c = self._check(chrom, start, end)
        out = np.full(end - start, 4, dtype=np.uint8)
        lo, hi = max(start, 0), min(end, self.sizes[c])
        if hi > lo:
            out[lo - start : hi - start] = self._codes(c, lo, hi)
        return out

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """The sequence as upper-case text (``N`` for unknown bases and off the ends)."""
        return np.frombuffer(b"ACGTN", np.uint8)[self.codes(chrom, start, end)].tobytes().decode()

    def one_hot(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Shapes: -> (4, end - start) float32, rows A, C, G, T."""
        return np.ascontiguousarray(_EYE[self.codes(chrom, start, end)].T)

    def one_hot_many(self, chroms, starts, length: int) -> np.ndarray:
        """Many windows of one length at once; nearby windows are read as one stretch.

        Shapes:
            chroms, starts: (B,) -> (B, 4, length) float32.
        """
        return np.ascontiguousarray(
            _EYE[self._codes_many(chroms, starts, length)].transpose(0, 2, 1)
        )

    def _codes_many(self, chroms, starts, length: int) -> np.ndarray:
        """Shapes: chroms, starts: (B,) -> (B, length) uint8 base codes."""
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), length), dtype=np.uint8)
        names = np.asarray(chroms, dtype=object)
        offsets = np.arange(length, dtype=np.int64)
        for name in dict.fromkeys(names.tolist()):
            rows = np.flatnonzero(names == name)
            rows = rows[np.argsort(starts[rows], kind="stable")]
            s = starts[rows]
            cut = (np.diff(s) > length + _MAX_GAP) | (np.diff((s - s[0]) // _MAX_SPAN) > 0)
            for group in np.split(rows, np.flatnonzero(cut) + 1):
                lo, hi = int(starts[group[0]]), int(starts[group[-1]]) + length
                stretch = self.codes(name, lo, hi)
                out[group] = stretch[(starts[group] - lo)[:, None] + offsets]
        return out


class FastaSequence(GenomeSequence):
    """A FASTA genome (plain or bgzip) read with pyfaidx through its ``.fai`` (and ``.gzi``)."""

    def __init__(self, path: str | Path) -> None:
        self.source = Path(path)
        self._fai, self._gzi = _prepare(self.source)
        self._reader = None
        index = self._faidx().index
        self._names = {canonical_chrom(k): k for k in index}
        self.sizes = {canonical_chrom(k): r.rlen for k, r in index.items()}

    def _faidx(self):
        if self._reader is None or self._reader[0] != os.getpid():  # reopen in forked workers
            self._reader = (os.getpid(), _faidx(self.source, self._fai, self._gzi))
        return self._reader[1]

    def __getstate__(self):
        return {**self.__dict__, "_reader": None}

    def _codes(self, chrom: str, start: int, end: int) -> np.ndarray:
        try:
            text = self._faidx().fetch(self._names[chrom], start + 1, end)
        except _PYFAIDX_ERRORS as err:
            raise InputError(
                f"{self.source}: {chrom}:{start}-{end} could not be read: {err}"
            ) from None
        if len(text) != end - start:
            raise InputError(
                f"{self.source}: {chrom}:{start}-{end} could not be read; is the index up to date?"
            )
        return codes(text)


class BigWigSequence(GenomeSequence):
    """A genome stored as four bigWigs ``A, C, G, T`` of 0/1 values (NaN read as 0)."""

    def __init__(self, paths: dict[str, str | Path]) -> None:
        import pyBigWig

        missing = [b for b in BASES if b not in paths]
        if missing:
            raise InputError(f"one-hot genome: missing bigWig(s) for base(s) {missing}")
        self.source = Path(paths["A"])
        self._paths = {b: Path(paths[b]) for b in BASES}
        self._bw = None
        with pyBigWig.open(str(self.source)) as bw:
            chroms = bw.chroms()
        self._names = {canonical_chrom(k): k for k in chroms}
        self.sizes = {canonical_chrom(k): int(v) for k, v in chroms.items()}

    def _handles(self):
        import pyBigWig

        if self._bw is None or self._bw[0] != os.getpid():
            self._bw = (os.getpid(), [pyBigWig.open(str(self._paths[b])) for b in BASES])
        return self._bw[1]

    def __getstate__(self):
        return {**self.__dict__, "_bw": None}

    def _codes(self, chrom: str, start: int, end: int) -> np.ndarray:
        name = self._names[chrom]
        x = np.stack([bw.values(name, start, end, numpy=True) for bw in self._handles()])
        x = np.nan_to_num(x, nan=0.0)
        return np.where(x.max(axis=0) > 0, x.argmax(axis=0), 4).astype(np.uint8)


def open_fasta(path: str | Path) -> GenomeSequence:
    """A FASTA genome, plain or bgzip (indexed with pyfaidx when needed: :func:`fasta_index`)."""
    return FastaSequence(path)


def open_onehot_bigwigs(paths: dict[str, str | Path]) -> GenomeSequence:
    """A genome given as four 0/1 bigWigs, ``{"A": path, "C": ..., "G": ..., "T": ...}``."""
    return BigWigSequence(paths)


def open_sequence(dataset) -> GenomeSequence:
    """The genome of a loaded dataset (``qtlgraph.manifest.Dataset``), FASTA or four bigWigs."""
    if dataset.fasta is not None:
        return open_fasta(dataset.fasta)
    return open_onehot_bigwigs(dataset.onehot)
