"""Every bin's base codes in one file on disk, written once per genome and read by rows.

The bin encoder needs the sequence of any bin at random (a shuffled epoch); holding all of
them in memory takes ``n_bins * bin_size`` bytes (3 GB for hg38). Instead the codes of
every bin (0-3 = A, C, G, T; 4 = N, also past chromosome ends) are written once into a
``.npy`` file of shape ``(n_bins, bin_size)`` uint8 and read back with ``os.pread``, one
read per run of consecutive bins: memory stays at the batch being read, whatever the
genome, and nothing is mapped (a memory map's touched pages would count as resident).

The file is keyed by the genome source (path, size and modification time of the FASTA or
the four one-hot bigWigs), the chromosomes and lengths of the bin index and the bin size,
so a replaced FASTA never meets stale codes. It goes into ``$QTLGRAPH_CACHE_DIR/codes``
when that is set, else beside the FASTA when its folder is writable, else into
``~/.cache/qtlgraph/codes``; it is written under a temporary name and renamed (one writer
at a time, under a lock, so concurrent processes such as ``torchrun`` ranks wait for it).
Old keys are not removed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

import numpy as np

from qtlgraph.genome import BinIndex

_BLOCK_BINS = 512  # bins read from the genome and written per step (5 MB at 10 kb)


class BinCodes:
    """Read-only ``(n_bins, bin_size)`` uint8 base codes of every bin, read from a file.

    Indexing with an int, a slice or an int array returns a new array, as NumPy fancy
    indexing would; the file is read with one ``pread`` per run of consecutive rows.
    Pickles without its file handle (DataLoader workers and forks reopen it).

    Args:
        path: a ``.npy`` file of shape ``(n_bins, bin_size)`` uint8 (C order).
    """

    dtype = np.dtype(np.uint8)
    ndim = 2

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read(fh)
            self._offset = fh.tell()
        if len(shape) != 2 or fortran or dtype != self.dtype:
            raise ValueError(f"{self.path}: expected a (n_bins, bin_size) uint8 C-order array")
        self.shape = tuple(int(n) for n in shape)
        self._fd: tuple[int, int] | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}

    def _file(self) -> int:
        if self._fd is None or self._fd[0] != os.getpid():
            self._fd = (os.getpid(), os.open(self.path, os.O_RDONLY))
        return self._fd[1]

    def __del__(self) -> None:
        if getattr(self, "_fd", None) and self._fd[0] == os.getpid():
            os.close(self._fd[1])

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            return self._rows(np.arange(*key.indices(len(self))))
        if np.ndim(key) == 0:
            return self._rows(np.asarray([key], dtype=np.int64))[0]
        return self._rows(np.asarray(key, dtype=np.int64))

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        """Shapes: rows (B,) -> (B, bin_size)."""
        n, width = self.shape
        rows = np.where(rows < 0, rows + n, rows)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"bin index out of range for {n} bins")
        out = np.empty((len(rows), width), dtype=np.uint8)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)
        fd, dest, first = self._file(), order.tolist(), ordered.tolist()
        ends = np.append(starts[1:], len(rows)).tolist()
        for lo, hi in zip(starts.tolist(), ends):
            offset, j = self._offset + first[lo] * width, dest[lo]
            if dest[lo:hi] == list(range(j, j + hi - lo)):  # consecutive rows: read in place
                os.preadv(fd, [out[j : j + hi - lo]], offset)
            else:
                data = os.pread(fd, (hi - lo) * width, offset)
                out[dest[lo:hi]] = np.frombuffer(data, dtype=np.uint8).reshape(hi - lo, width)
        return out


def _sources(dataset) -> list[Path]:
    return [Path(dataset.fasta)] if dataset.fasta is not None else list(dataset.onehot.values())


def cache_path(dataset, index: BinIndex) -> Path:
    """Where the codes of ``dataset``'s genome over ``index`` live (see the module docstring)."""
    sources = _sources(dataset)
    parts = [f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sources]
    parts += [f"{c}:{n}" for c, n in zip(index.chroms, index.genome.lengths)]
    key = hashlib.sha1(f"{index.bin_size}\0{chr(0).join(parts)}".encode()).hexdigest()[:16]
    name = f"{sources[0].name}.codes-{index.bin_size}-{key}.npy"
    if os.environ.get("QTLGRAPH_CACHE_DIR"):
        return Path(os.environ["QTLGRAPH_CACHE_DIR"]) / "codes" / name
    folder = sources[0].parent
    if os.access(folder, os.W_OK) and folder.stat().st_mode & 0o222:
        return folder / name
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "qtlgraph" / "codes" / name


def write_codes(sequence, index: BinIndex, path: Path, *, progress: bool = True) -> Path:
    """Write the codes of every bin to ``path`` (temporary name, then rename).

    Args:
        sequence: a ``qtlgraph.sequence.GenomeSequence``.
        index: the bins.
        path: the ``.npy`` file to write.
        progress: show tqdm progress on stderr.
    """
    from tqdm.auto import tqdm

    bs = index.bin_size
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    header = {"descr": "|u1", "fortran_order": False, "shape": (index.n_bins, bs)}
    try:
        with (
            open(tmp, "wb") as fh,
            tqdm(
                total=index.n_bins,
                unit=" bins",
                desc="caching sequence",
                disable=None if progress else True,
            ) as bar,
        ):
            np.lib.format.write_array_header_1_0(fh, header)
            for code, chrom in enumerate(index.chroms):
                n = int(index.n_bins_per_chrom[code])
                for first in range(0, n, _BLOCK_BINS):
                    last = min(n, first + _BLOCK_BINS)
                    fh.write(sequence.codes(chrom, first * bs, last * bs).tobytes())
                    bar.update(last - first)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def open_codes(dataset, bin_size: int = 10_000, *, progress: bool = True) -> BinCodes:
    """The codes of every bin of ``dataset``'s genome, writing the cache file on first use.

    Args:
        dataset: a loaded ``qtlgraph.manifest.Dataset`` (FASTA or one-hot bigWigs).
        bin_size: bin width in bp.
        progress: show tqdm progress while the cache is written.

    Returns:
        BinCodes. Shapes: ``(n_bins, bin_size)`` uint8, bins of ``BinIndex(dataset.genome,
        bin_size)``.
    """
    from qtlgraph.sequence import open_sequence

    index = BinIndex(dataset.genome, bin_size)
    path = cache_path(dataset, index)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(f".{path.name}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer; the others find the file after it
            if not path.is_file():
                write_codes(open_sequence(dataset), index, path, progress=progress)
    return BinCodes(path)
