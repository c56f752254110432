"""One checked way to open what a command reads: every failure becomes one InputError line.

Text is read as UTF-8 with a byte-order mark stripped; gzip (and bgzip) is decompressed
transparently. A file that is binary (NUL bytes or not UTF-8 in its first block), a gzip
that is truncated or corrupt, or a file that cannot be opened raises
:class:`qtlgraph.errors.InputError` naming the file and what it was expected to be,
never ``EOFError``, ``zlib.error`` or ``UnicodeDecodeError`` from deep inside a reader.

``open_text(path, what)`` yields a text stream whose reads are checked as they go (a
gzip truncated half-way fails at the point it is read, with the file named);
``read_bytes(path, what)`` returns the whole (decompressed) content; ``check_text``
only looks; ``read_table`` reads a tab-separated table with a header through pandas.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

from qtlgraph.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
_SNIFF = 8192
#: exceptions a reader raises on a damaged file; turned into InputError here
READ_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError, OSError)


def is_gzip(path: str | Path) -> bool:
    """True when the file starts with the gzip magic bytes (gzip or bgzip)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def _damaged(path: Path, what: str, exc: BaseException) -> InputError:
    kind = "gzip file" if _safe_is_gzip(path) else "file"
    detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return InputError(f"{path}: {what} is not UTF-8 text (binary content? {detail})")
    return InputError(f"{path}: {what}: truncated or corrupt {kind} ({detail})")


def _safe_is_gzip(path: Path) -> bool:
    try:
        return is_gzip(path)
    except OSError:
        return False


def _exists(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    if path.is_dir():
        raise InputError(f"{path}: {what} expected, found a directory")
    return path


class _CheckedText(io.TextIOBase):
    """A text stream whose reads turn damage into InputError naming the file."""

    def __init__(self, raw: io.TextIOBase, path: Path, what: str) -> None:
        self._raw, self._path, self._what = raw, path, what

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except READ_ERRORS as exc:
            raise _damaged(self._path, self._what, exc) from None

    def read(self, size: int | None = -1) -> str:
        return self._call(self._raw.read, -1 if size is None else size)

    def readline(self, size: int = -1) -> str:
        return self._call(self._raw.readline, size)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        super().close()


def check_text(path: str | Path, what: str) -> Path:
    """Refuse a missing, binary or damaged-at-the-start file; return the path.

    Only the first block is looked at (decompressed when gzip); use :func:`open_text`
    to have every read checked.
    """
    path = _exists(path, what)
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rb") as fh:
            head = fh.read(_SNIFF)
    except READ_ERRORS as exc:
        raise _damaged(path, what, exc) from None
    if b"\x00" in head:
        raise InputError(f"{path}: {what} expected as text, found binary content (NUL bytes)")
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the block's end
            raise _damaged(path, what, exc) from None
    return path


@contextlib.contextmanager
def open_text(path: str | Path, what: str) -> Iterator[io.TextIOBase]:
    """Open a plain or gzip text file for reading, BOM stripped, every read checked.

    Args:
        path: the file.
        what: what the file should be, for messages (e.g. ``"BEDPE loop file"``).
    """
    path = check_text(path, what)
    raw = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    stream = _CheckedText(io.TextIOWrapper(raw, encoding="utf-8-sig"), path, what)
    try:
        yield stream
    finally:
        stream.close()


def read_bytes(path: str | Path, what: str) -> bytes:
    """The whole file, decompressed when gzip, a leading UTF-8 BOM removed."""
    path = check_text(path, what)
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rb") as fh:
            data = fh.read()
    except READ_ERRORS as exc:
        raise _damaged(path, what, exc) from None
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def read_table(path: str | Path, what: str, *, allow_empty: bool = False, **kwargs):
    """A tab-separated table with a header as a pandas DataFrame (gzip or plain).

    Args:
        path: the file.
        what: what it should be, for messages.
        allow_empty: accept a header without rows (the caller checks columns first).
        kwargs: passed to ``pandas.read_csv``.

    Raises:
        InputError: missing, binary, damaged, empty or (unless ``allow_empty``)
            header-only files.
    """
    import pandas as pd

    try:
        text = read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _damaged(Path(path), what, exc) from None
    if not text.strip():
        raise InputError(f"{path}: {what} is empty (expected a header line and rows)")
    try:
        frame = pd.read_csv(io.StringIO(text), sep="\t", **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0][:160]
        raise InputError(f"{path}: {what} is not a tab-separated table ({detail})") from None
    if frame.empty and not allow_empty:
        raise InputError(f"{path}: {what} has a header but no rows")
    return frame


def read_with(path: str | Path, what: str, reader):
    """``reader(path)`` for a binary format (torch, parquet, npy), any failure one InputError.

    Binary readers fail on truncation in many ways (``RuntimeError`` from torch's zip
    reader, ``ArrowInvalid``, ``EOFError``, ``UnpicklingError``, ``zlib.error``); around a
    single read call every one of them means the same thing: the file is damaged.
    """
    path = _exists(path, what)
    try:
        return reader(path)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise InputError(
            f"{path}: {what} is not readable (truncated or corrupt: "
            f"{type(exc).__name__}{': ' + detail if detail else ''})"
        ) from None


def check_complete(path: str | Path, what: str) -> Path:
    """:func:`check_text`, then (gzip) decompress to the end: a truncated gzip is refused.

    Some fast readers (polars) stop quietly at a truncated gzip and return the rows they
    got; call this first on files read that way.
    """
    path = check_text(path, what)
    if is_gzip(path):
        try:
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except READ_ERRORS as exc:
            raise _damaged(path, what, exc) from None
    return path
