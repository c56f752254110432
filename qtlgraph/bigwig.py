"""Writing bigWig: values at a fixed step along each chromosome, NaN left without data.

One writer for every bigWig the project makes (simulated tracks, tracks placed into a
host genome, predicted tracks). Values ``v`` given for a chromosome from ``offset`` cover
``[offset + i * step, offset + (i + 1) * step)``, the step crossing the chromosome end
clipped to it. The same input gives the same bytes. Reading bigWigs is
:mod:`qtlgraph.tracks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


def constant_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as (start, end) index pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def write_bigwig(
    path: str | Path,
    sizes: Sequence[tuple[str, int]],
    values: Iterable[tuple[str, int, np.ndarray]],
    step: int,
    *,
    fixed_step: bool = True,
    max_zooms: int = 10,
) -> int:
    """Write per-chromosome step values as a bigWig; returns the values written (not NaN).

    Args:
        path: output file.
        sizes: ``(chrom, length)`` of every chromosome, in file order (the header).
        values: ``(chrom, offset, v)``, chromosomes in the order of ``sizes`` (any may be
            left out); ``v[i]`` covers ``[offset + i * step, offset + (i + 1) * step)``.
        step: bp per value.
        fixed_step: store runs of values as fixedStep sections (compact; a step clipped
            at the chromosome end as one interval); False stores every value as its
            own interval (bedGraph sections).
        max_zooms: zoom levels of the file.

    Shapes: v ``(n,)`` per chromosome, ``offset + (n - 1) * step`` before its end.
    """
    import pyBigWig

    sizes = [(c, int(n)) for c, n in sizes]
    lengths = dict(sizes)
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(sizes, maxZooms=max_zooms)
    written, intervals = 0, ([], [], [], [])
    for chrom, offset, v in values:
        v = np.asarray(v, dtype=np.float64)
        if fixed_step:
            written += _add_steps(bw, chrom, int(offset), v, step, lengths[chrom])
        else:
            written += _collect(intervals, chrom, int(offset), v, step, lengths[chrom])
    if intervals[0]:
        chroms, starts, ends, vals = intervals
        bw.addEntries(chroms, starts, ends=ends, values=vals)
    bw.close()
    return written


def _add_steps(bw, chrom: str, offset: int, v: np.ndarray, step: int, length: int) -> int:
    """Add the runs of non-NaN values as fixedStep sections, the clipped last step apart."""
    full = (length - offset) // step  # steps that end inside the chromosome
    runs = constant_runs(~np.isnan(v))
    for a, b in runs:
        head = min(b, full)
        if head > a:
            bw.addEntries(chrom, offset + a * step, values=v[a:head], span=step, step=step)
        if b > full:
            bw.addEntries([chrom], [offset + full * step], ends=[length], values=[float(v[full])])
    return sum(b - a for a, b in runs)


def _collect(intervals, chrom: str, offset: int, v: np.ndarray, step: int, length: int) -> int:
    """Append one ``(chrom, start, end, value)`` interval per non-NaN value."""
    at = np.flatnonzero(~np.isnan(v))
    starts = offset + at.astype(np.int64) * step
    chroms, begin, ends, vals = intervals
    chroms += [chrom] * len(at)
    begin += starts.tolist()
    ends += np.minimum(starts + step, length).tolist()
    vals += v[at].tolist()
    return len(at)
