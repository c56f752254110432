"""Writing FASTA: 60 bases a line, plain or BGZF, with its ``.fai`` index.

The same sequences give the same bytes (BGZF blocks are cut every 64 KiB of text
whatever the write calls, so chunked writing does not change the file). Reading FASTA is
:mod:`qtlgraph.sequence`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

LINE = 60
CHUNK_LINES = 100_000  # lines formatted at a time: bounds memory on 250 Mb chromosomes


def write_fasta(
    path: str | Path, sequences: Iterable[tuple[str, bytes | np.ndarray]], *, bgzf: bool = False
) -> None:
    """``path`` (60 bases a line) and ``path.fai`` (name, length, offset, 60, 61).

    Args:
        path: output file.
        sequences: ``(name, letters)`` per chromosome, in file order; letters as bytes or
            a uint8 array of ASCII codes (a generator keeps one chromosome in memory).
        bgzf: write BGZF (bgzip) instead of plain text; the ``.fai`` offsets are those
            of the uncompressed text either way.
    """
    fai, pos = [], 0
    with _open(path, bgzf) as fh:
        for name, letters in sequences:
            seq = np.frombuffer(letters, np.uint8) if isinstance(letters, bytes) else letters
            seq = np.asarray(seq, dtype=np.uint8)
            header = f">{name}\n".encode()
            fh.write(header)
            pos += len(header)
            fai.append(f"{name}\t{len(seq)}\t{pos}\t{LINE}\t{LINE + 1}\n")
            for lo in range(0, len(seq), LINE * CHUNK_LINES):
                text = _lines(seq[lo : lo + LINE * CHUNK_LINES])
                fh.write(text)
                pos += len(text)
    Path(f"{path}.fai").write_text("".join(fai))


def _open(path: str | Path, bgzf: bool):
    if not bgzf:
        return open(path, "wb")
    from Bio import bgzf as bgzf_io

    return bgzf_io.BgzfWriter(str(path), "wb")


def _lines(part: np.ndarray) -> bytes:
    """``part`` as 60-letter lines, each ending in a newline (a short last one too)."""
    full = len(part) // LINE * LINE
    body = np.full((full // LINE, LINE + 1), ord("\n"), dtype=np.uint8)
    body[:, :LINE] = part[:full].reshape(-1, LINE)
    tail = part[full:].tobytes()
    return body.tobytes() + (tail + b"\n" if tail else b"")
