"""Signal tracks (bigWig): regions, per-bin targets, normalisation and labels.

Bin statistics are taken over the bases that have data (pyBigWig ``exact=True``); a bin
with no data at all is NaN. The last bin of a chromosome is shorter than the bin size and
is summarised over its own bases only. NaN policy (as in the report): model inputs take
NaN as 0 (``np.nan_to_num``, "no signal"), targets keep NaN and are masked out of losses
and metrics. Chromosomes missing from a bigWig are an InputError (``missing="error"``) or
all-NaN (``missing="nan"``); chromosome lengths that disagree with the genome are an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, canonical_chrom

STATS = ("mean", "max", "min", "coverage", "std", "sum")
MISSING = ("error", "nan")


def open_bigwig(path: str | Path):
    """Open a bigWig for reading; InputError when it is missing or not a bigWig."""
    import pyBigWig

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: bigWig file not found")
    try:
        bw = pyBigWig.open(str(path))
    except RuntimeError:
        bw = None
    if bw is None or not bw.isBigWig():
        raise InputError(f"{path}: not a readable bigWig file")
    return bw


def _names(bw, path, index: BinIndex | None, missing: str) -> dict[str, str | None]:
    """Canonical chromosome -> the bigWig's own name (None when absent), lengths checked."""
    if missing not in MISSING:
        raise InputError(f"missing must be one of {MISSING}, got {missing!r}")
    own = {canonical_chrom(k): (k, int(v)) for k, v in bw.chroms().items()}
    if index is None:
        return {c: k for c, (k, _) in own.items()}
    out = {}
    for chrom, length in zip(index.chroms, index.genome.lengths):
        if chrom not in own:
            if missing == "error":
                raise InputError(
                    f"{path}: bigWig has no chromosome {chrom} of genome {index.genome.name} "
                    "(use missing='nan' to read it as all-NaN)"
                )
            out[chrom] = None
        elif own[chrom][1] != length:
            raise InputError(
                f"{path}: {chrom} is {own[chrom][1]} bp in the bigWig but {length} bp "
                f"in genome {index.genome.name}: wrong build?"
            )
        else:
            out[chrom] = own[chrom][0]
    return out


def _stat(bw, name: str, start: int, end: int, width: int, stat: str) -> np.ndarray:
    """Statistic over consecutive windows of ``width`` from start; the last one may be shorter."""
    n_full = (end - start) // width
    parts = []
    if n_full:
        parts.append(
            bw.stats(name, start, start + n_full * width, type=stat, nBins=n_full, exact=True)
        )
    if start + n_full * width < end:
        parts.append(bw.stats(name, start + n_full * width, end, type=stat, nBins=1, exact=True))
    vals = [v for p in parts for v in p]
    return np.array([np.nan if v is None else v for v in vals], dtype=np.float32)


def read_region(
    path: str | Path, chrom: str, start: int, end: int, *, missing: str = "error"
) -> np.ndarray:
    """Base-resolution signal of ``chrom:start-end`` (0-based half-open).

    Shapes:
        -> (end - start,) float32; NaN where the file has no data or off the chromosome.
    """
    with open_bigwig(path) as bw:
        names = _names(bw, path, None, missing)
        c = canonical_chrom(chrom)
        out = np.full(end - start, np.nan, dtype=np.float32)
        if c not in names:
            if missing == "error":
                raise InputError(f"{path}: bigWig has no chromosome {chrom}")
            return out
        lo, hi = max(start, 0), min(end, bw.chroms(names[c]))
        if hi > lo:
            out[lo - start : hi - start] = bw.values(names[c], lo, hi, numpy=True)
        return out


def region_stat(
    path: str | Path, chrom: str, start: int, end: int, width: int, stat: str = "mean"
) -> np.ndarray:
    """A statistic over consecutive ``width``-bp windows of a region (last one may be shorter).

    Shapes:
        -> (ceil((end - start) / width),) float32; NaN where a window has no data.
    """
    _check_stat(stat)
    with open_bigwig(path) as bw:
        names = _names(bw, path, None, "error")
        c = canonical_chrom(chrom)
        if c not in names:
            raise InputError(f"{path}: bigWig has no chromosome {chrom}")
        if not 0 <= start < end <= bw.chroms(names[c]):
            raise InputError(f"{path}: region {chrom}:{start}-{end} is off the chromosome")
        return _stat(bw, names[c], start, end, width, stat)


def _check_stat(stat: str) -> None:
    if stat not in STATS:
        raise InputError(f"stat must be one of {STATS}, got {stat!r}")


def bin_stat(
    path: str | Path, index: BinIndex, stat: str = "mean", *, missing: str = "error"
) -> np.ndarray:
    """One value per bin of the whole genome in one pass per chromosome.

    Args:
        path: bigWig file.
        index: the bins; chromosome lengths must match the bigWig's.
        stat: ``mean`` (over covered bases), ``max``, or another pyBigWig statistic.
        missing: ``"error"`` or ``"nan"`` for chromosomes the bigWig lacks.

    Shapes:
        -> (index.n_bins,) float32; NaN for bins without data.
    """
    _check_stat(stat)
    out = np.full(index.n_bins, np.nan, dtype=np.float32)
    with open_bigwig(path) as bw:
        names = _names(bw, path, index, missing)
        for i, (chrom, length) in enumerate(zip(index.chroms, index.genome.lengths)):
            if names[chrom] is not None:
                lo, hi = index.offsets[i], index.offsets[i + 1]
                out[lo:hi] = _stat(bw, names[chrom], 0, length, index.bin_size, stat)
    return out


def _window_means(bw, name: str, length: int, width: int, chunk: int = 10_000_000) -> np.ndarray:
    """Mean over covered bases of consecutive ``width`` windows of a chromosome (the last
    may be shorter), from base values read ``chunk`` bp at a time: pyBigWig's per-window
    exact ``stats`` runs at about 10k windows/s, far too slow for 100 bp windows genome-wide.
    """
    step = max(width, chunk // width * width)
    parts = []
    for lo in range(0, length, step):
        hi = min(lo + step, length)
        n = -(-(hi - lo) // width)
        w = np.full(n * width, np.nan, dtype=np.float32)
        w[: hi - lo] = bw.values(name, lo, hi, numpy=True)
        w = w.reshape(n, width)
        count = np.isfinite(w).sum(axis=1)
        total = np.nansum(w, axis=1, dtype=np.float64)
        parts.append(np.where(count > 0, total / np.maximum(count, 1), np.nan))
    return np.concatenate(parts).astype(np.float32)


def bin_profile(
    path: str | Path, index: BinIndex, resolution: int = 100, *, missing: str = "error"
) -> np.ndarray:
    """A downsampled profile per bin: the mean over each ``resolution`` bp of every bin.

    Positions past a chromosome's end (in its last, shorter bin) are NaN.

    Shapes:
        -> (index.n_bins, index.bin_size // resolution) float32.
    """
    if resolution <= 0 or index.bin_size % resolution:
        raise InputError(f"resolution {resolution} must divide the bin size {index.bin_size}")
    per_bin = index.bin_size // resolution
    out = np.full((index.n_bins, per_bin), np.nan, dtype=np.float32)
    with open_bigwig(path) as bw:
        names = _names(bw, path, index, missing)
        for i, (chrom, length) in enumerate(zip(index.chroms, index.genome.lengths)):
            if names[chrom] is not None:
                vals = _window_means(bw, names[chrom], length, resolution)
                flat = out[index.offsets[i] : index.offsets[i + 1]].reshape(-1)
                flat[: vals.size] = vals
    return out


def quantile_normalize(x: np.ndarray) -> np.ndarray:
    """Quantile-normalise tracks against each other (e.g. DNase and ATAC accessibility).

    Every track gets the same distribution, the mean of the sorted tracks; tied values
    get the mean of the reference over their tied ranks. NaN counts as 0 (no signal), the
    input policy for accessibility.

    Shapes:
        x: (n_tracks, n) -> (n_tracks, n) float32.
    """
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(
            f"quantile_normalize expects (n_tracks, n) with n > 0, got shape {x.shape}"
        )
    order = np.argsort(x, axis=1, kind="stable")
    ranked = np.take_along_axis(x, order, axis=1)
    reference = ranked.mean(axis=0)
    out = np.empty_like(x)
    for row in range(x.shape[0]):
        group = np.cumsum(np.r_[True, np.diff(ranked[row]) != 0]) - 1
        means = np.bincount(group, weights=reference) / np.bincount(group)
        out[row, order[row]] = means[group]
    return out.astype(np.float32)


def average_track(x: np.ndarray) -> np.ndarray:
    """The mean over tracks (Leopard's second input: average accessibility across cell types).

    Shapes:
        x: (n_tracks, n) -> (n,) float32; NaN counts as 0.
    """
    return np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0).mean(axis=0)


def binarize(x: np.ndarray, threshold: float = 2.0) -> np.ndarray:
    """The report's label: 1 where signal > threshold, else 0; NaN stays NaN (masked later).

    Shapes:
        any -> same, float32.
    """
    x = np.asarray(x, dtype=np.float32)
    return np.where(np.isnan(x), np.nan, (x > threshold).astype(np.float32)).astype(np.float32)


def dataset_targets(
    dataset, index: BinIndex, stat: str = "mean", *, missing: str = "error"
) -> np.ndarray:
    """Per-bin histone-mark targets of a dataset (NaN kept: mask it in losses and metrics).

    Shapes:
        -> (n_cell_types, n_marks, index.n_bins) float32, order of ``dataset.cell_types``
        and ``dataset.marks``; all-NaN where a cell type lacks a mark.
    """
    out = np.full((len(dataset.cell_types), len(dataset.marks), index.n_bins), np.nan, np.float32)
    for i, cell in enumerate(dataset.cell_types):
        for j, mark in enumerate(dataset.marks):
            if mark in cell.marks:
                out[i, j] = bin_stat(cell.marks[mark], index, stat, missing=missing)
    return out


#: The name every run records for its per-bin target (``config.json`` / ``results.json``).
TARGET = "log1p(bin mean)"


def target_transform(mean: np.ndarray) -> np.ndarray:
    """The per-bin target of a bin mean: ``log1p(max(mean, 0))``; NaN stays NaN.

    Applied to a mark's bigWig bin mean (:func:`bin_target`) and to a base-resolution
    model's output averaged over the bin, so both sit on one scale.

    Shapes:
        any -> same, float32.
    """
    return np.log1p(np.maximum(np.asarray(mean, dtype=np.float32), 0.0)).astype(np.float32)


def bin_target(path: str | Path, index: BinIndex, *, missing: str = "error") -> np.ndarray:
    """The project's one per-bin target of a mark track: ``log1p`` of the bin mean.

    The mean is over the bin's covered bases (the last, shorter bin of a chromosome over
    its own bases); negative means count as 0; bins without data stay NaN (masked from
    losses and metrics).

    Shapes:
        -> (index.n_bins,) float32.
    """
    return target_transform(bin_stat(path, index, "mean", missing=missing))


def dataset_bin_targets(dataset, index: BinIndex, *, missing: str = "error") -> np.ndarray:
    """:func:`bin_target` of every cell type and mark of a dataset (what every run trains
    on and is scored against).

    Shapes:
        -> (n_cell_types, n_marks, index.n_bins) float32; all-NaN where a cell type lacks a mark.
    """
    return target_transform(dataset_targets(dataset, index, "mean", missing=missing))


def dataset_accessibility(
    dataset, index: BinIndex, *, normalize: bool = True, missing: str = "error"
) -> np.ndarray:
    """Per-bin accessibility of every cell type, NaN -> 0, quantile-normalised across them.

    Shapes:
        -> (n_cell_types, index.n_bins) float32.
    """
    x = np.stack(
        [bin_stat(c.accessibility, index, "mean", missing=missing) for c in dataset.cell_types]
    )
    return quantile_normalize(x) if normalize else np.nan_to_num(x, nan=0.0)
