"""Per-bin arrays kept in ``.npy`` files on disk and read back by rows.

A genome's per-bin inputs (base codes, accessibility profiles) are needed at random, one
batch at a time; holding all of them in memory grows with the genome (3 GB of codes and
0.6 KB of accessibility per bin and cell type for hg38). Instead they are written once into
a ``.npy`` file of shape ``(n_rows, width)`` and read back with ``os.pread``, one read per
run of consecutive rows: memory stays at the batch being read, whatever the genome, and
nothing is mapped (a memory map's touched pages would count as resident).

Cache files are keyed by what they are computed from (see :func:`source_key`), so a
replaced input never meets a stale file. They go into ``$QTLGRAPH_CACHE_DIR/<kind>`` when
that is set, else beside the input when its folder is writable, else into
``~/.cache/qtlgraph/<kind>``; they are written under a temporary name and renamed, one
writer at a time under a lock (concurrent processes such as ``torchrun`` ranks wait for it).
Old keys are not removed.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import os
import tempfile
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np


class RowFile:
    """Read-only rows of a C-order ``.npy`` file of any dtype and at least two axes; the
    leading axes are flattened into rows (a ``(C, N, d)`` file has ``C * N`` rows of ``d``).

    Indexing with an int, a slice or an int array returns a new array, as NumPy fancy
    indexing would; the file is read with one ``pread`` per run of consecutive rows.
    Pickles without its file handle (DataLoader workers and forks reopen it).

    Args:
        path: the ``.npy`` file.
    """

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
        if len(shape) < 2 or fortran or dtype.hasobject:
            raise ValueError(f"{self.path}: expected a (n_rows, width) C-order numeric array")
        self.dtype = np.dtype(dtype)
        self.shape = (int(np.prod(shape[:-1])), int(shape[-1]))
        self._fd: tuple[int, int] | None = None

    def window(self, start: int, stop: int) -> RowFile:
        """Rows ``start:stop`` as a RowFile of their own (row 0 = ``start``); no data read.

        E.g. one cell type's ``N`` rows of a ``(C, N, d)`` file: ``window(c * N, (c + 1) * N)``.
        """
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"rows {start}:{stop} outside the {len(self)} of {self.path.name}")
        out = copy.copy(self)
        out._offset = self._offset + start * self.shape[1] * self.dtype.itemsize
        out.shape, out._fd = (stop - start, self.shape[1]), None
        out._parent = self  # keeps a scratch file's owner (and so the file) alive
        return out

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
            return self.rows(np.arange(*key.indices(len(self))))
        if np.ndim(key) == 0:
            return self.rows(np.asarray([key], dtype=np.int64))[0]
        return self.rows(np.asarray(key, dtype=np.int64))

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Shapes: rows (B,) int -> (B, width)."""
        n, width = self.shape
        rows = np.where(rows < 0, rows + n, rows)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"row index out of range for {n} rows of {self.path.name}")
        out = np.empty((len(rows), width), dtype=self.dtype)
        size = width * self.dtype.itemsize
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)
        fd, dest, first = self._file(), order.tolist(), ordered.tolist()
        ends = np.append(starts[1:], len(rows)).tolist()
        for lo, hi in zip(starts.tolist(), ends):
            offset, j = self._offset + first[lo] * size, dest[lo]
            if dest[lo:hi] == list(range(j, j + hi - lo)):  # consecutive rows: read in place
                os.preadv(fd, [out[j : j + hi - lo]], offset)
            else:
                data = os.pread(fd, (hi - lo) * size, offset)
                out[dest[lo:hi]] = np.frombuffer(data, dtype=self.dtype).reshape(hi - lo, width)
        return out


def source_key(paths: Iterable[Path], *extra: object) -> str:
    """A short hash of files (resolved path, size, modification time) and other settings."""
    parts = [f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths]
    parts += [str(e) for e in extra]
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]


def cache_location(kind: str, beside: Path, name: str) -> Path:
    """Where a cache file of ``kind`` computed from the file ``beside`` lives."""
    if os.environ.get("QTLGRAPH_CACHE_DIR"):
        return Path(os.environ["QTLGRAPH_CACHE_DIR"]) / kind / name
    folder = beside.parent
    if os.access(folder, os.W_OK) and folder.stat().st_mode & 0o222:
        return folder / name
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "qtlgraph" / kind / name


def write_rows(path: Path, shape: tuple[int, int], dtype, blocks: Iterable[np.ndarray]) -> Path:
    """Write consecutive row blocks as one ``.npy`` file (temporary name, then rename).

    Args:
        path: the ``.npy`` file to write.
        shape: ``(n_rows, width)`` of the whole array.
        dtype: its dtype.
        blocks: ``(k, width)`` arrays, in row order, ``n_rows`` rows in all.
    """
    dtype = np.dtype(dtype)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    written = 0
    try:
        with open(tmp, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            for block in blocks:
                block = np.ascontiguousarray(block, dtype=dtype).reshape(-1, shape[1])
                fh.write(block.tobytes())
                written += len(block)
        if written != shape[0]:
            raise ValueError(f"{path.name}: wrote {written} rows, expected {shape[0]}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def scratch_rows(
    shape: tuple[int, int], dtype, blocks: Iterable[np.ndarray], kind: str = "scratch"
) -> RowFile:
    """Rows written once into a temporary ``.npy`` file, read back as a :class:`RowFile`.

    The file lives in ``$QTLGRAPH_CACHE_DIR/<kind>`` when that is set, else in the system's
    temporary folder, and is removed when the returned RowFile is garbage-collected or the
    process that wrote it exits (a process killed outright leaves it behind).

    Args:
        shape: ``(rows, columns)`` of the file.
        dtype: its element type.
        blocks: row blocks in order, as for :func:`write_rows`.
        kind: the cache subfolder.
    """
    root = os.environ.get("QTLGRAPH_CACHE_DIR")
    folder = Path(root) / kind if root else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="qtlgraph-", suffix=".npy", dir=folder)
    os.close(fd)
    try:
        rows = RowFile(write_rows(Path(name), shape, dtype, blocks))
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    weakref.finalize(rows, _remove_own, Path(name), os.getpid())
    return rows


def _remove_own(path: Path, pid: int) -> None:
    if os.getpid() == pid:  # never from a forked child holding a copy
        path.unlink(missing_ok=True)


def build_once(path: Path, write: Callable[[Path], object]) -> Path:
    """``path``, calling ``write(path)`` first when it does not exist (one writer at a time)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(f".{path.name}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer; the others find the file after it
            if not path.is_file():
                write(path)
    return path
