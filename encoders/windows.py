"""Base-resolution windows of a dataset: reading, accessibility normalisation, sampling.

Training follows the report: random windows (default 10,240 bp) from the training
chromosomes, chromosome chosen in proportion to its length, start uniform, and a random
conditioning cell type per window. Window ``i`` of epoch ``e`` is a pure function of
``(seed, e, i)``, so runs are reproducible and resumable whatever the loader order.

Accessibility is quantile-normalised across cell types as Leopard does for DNase
(genome-wide, before windowing): a quantile map per cell type is fitted on positions
sampled from the training chromosomes and applied by interpolation (:func:`fit_quantile_map`).
Leopard's augmentation, random scaling of the conditioning cell type's accessibility
channel by a factor uniform in ``SCALE_RANGE`` per training window, is an option
(``scale_augment``) of :class:`RandomWindows`.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from qtlgraph.encoders.baselines import N_BASES, BaselineSpec, make_inputs, make_targets
from qtlgraph.errors import InputError
from qtlgraph.genome import canonical_chrom
from qtlgraph.tracks import binarize, open_bigwig

#: Leopard's random magnitude of the accessibility input (``min_mag``, ``max_mag`` in its train.py)
SCALE_RANGE = (0.9, 1.15)


class QuantileMap(NamedTuple):
    """Per cell type: quantiles of its accessibility (``xp``) mapped to the reference (``fp``)."""

    xp: list[list[float]]
    fp: list[list[float]]


class WindowData(NamedTuple):
    """One window: sequence, normalised accessibility, raw mark signal (NaN kept).

    Shapes:
        onehot: (4, L); access: (C, L); marks: (C, M, L)
    """

    onehot: np.ndarray
    access: np.ndarray
    marks: np.ndarray


class TrackReader:
    """Reads windows of a dataset's sequence and bigWigs, handles opened once per process.

    Args:
        dataset: a loaded ``qtlgraph.manifest.Dataset``.
        qmap: accessibility quantile map, or None for raw accessibility (NaN -> 0).
    """

    def __init__(self, dataset, qmap: QuantileMap | None = None) -> None:
        from qtlgraph.sequence import open_sequence

        self.dataset, self.qmap = dataset, qmap
        self.sequence = open_sequence(dataset)
        self.access_paths = [c.accessibility for c in dataset.cell_types]
        self.mark_paths = [[c.marks.get(m) for m in dataset.marks] for c in dataset.cell_types]
        self._open = None

    def __getstate__(self):
        return {**self.__dict__, "_open": None}

    def _handle(self, path):
        if self._open is None or self._open[0] != os.getpid():
            self._open = (os.getpid(), {})
        cache = self._open[1]
        if path not in cache:
            bw = open_bigwig(path)
            cache[path] = (bw, {canonical_chrom(k): (k, v) for k, v in bw.chroms().items()})
        return cache[path]

    def signal(self, path, chrom: str, start: int, end: int) -> np.ndarray:
        """Shapes: -> (end - start,) float32, NaN off the chromosome or without data."""
        out = np.full(end - start, np.nan, dtype=np.float32)
        if path is None:
            return out
        bw, names = self._handle(path)
        if chrom not in names:
            return out
        name, size = names[chrom]
        lo, hi = max(start, 0), min(end, size)
        if hi > lo:
            out[lo - start : hi - start] = bw.values(name, lo, hi, numpy=True)
        return out

    def access(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Shapes: -> (C, end - start) float32, normalised, NaN -> 0."""
        x = np.nan_to_num(np.stack([self.signal(p, chrom, start, end) for p in self.access_paths]))
        return x if self.qmap is None else apply_quantile_map(self.qmap, x)

    def window(self, chrom: str, start: int, length: int) -> WindowData:
        end = start + length
        marks = np.stack(
            [[self.signal(p, chrom, start, end) for p in row] for row in self.mark_paths]
        )
        return WindowData(
            self.sequence.one_hot(chrom, start, end), self.access(chrom, start, end), marks
        )


def fit_quantile_map(
    reader: TrackReader,
    chroms: list[str],
    n_regions: int = 200,
    region: int = 1000,
    n_quantiles: int = 1001,
    seed: int = 0,
) -> QuantileMap:
    """Fit the accessibility quantile normalisation on ``n_regions`` random regions."""
    rng = np.random.default_rng(seed)
    sizes = reader.dataset.genome.sizes
    lengths = np.array([sizes[c] for c in chroms], dtype=np.float64)
    picks = rng.choice(len(chroms), size=n_regions, p=lengths / lengths.sum())
    parts = []
    for k in picks:
        start = int(rng.integers(0, max(sizes[chroms[k]] - region, 0) + 1))
        parts.append(reader.access(chroms[k], start, start + region))
    sample = np.concatenate(parts, axis=1).astype(np.float64)
    q = np.quantile(sample, np.linspace(0, 1, n_quantiles), axis=1)  # (n_quantiles, C)
    reference = q.mean(axis=1)
    xp, fp = [], []
    for col in q.T:
        uniq, group = np.unique(col, return_inverse=True)
        fp.append((np.bincount(group, weights=reference) / np.bincount(group)).tolist())
        xp.append(uniq.tolist())
    return QuantileMap(xp, fp)


def apply_quantile_map(qmap: QuantileMap, x: np.ndarray) -> np.ndarray:
    """Shapes: x: (C, L) -> (C, L) float32, each row mapped through its cell type's quantiles."""
    return np.stack([np.interp(row, xp, fp) for row, xp, fp in zip(x, qmap.xp, qmap.fp)]).astype(
        np.float32
    )


def mark_targets(marks: np.ndarray, loss: str, threshold: float = 2.0) -> np.ndarray:
    """Binarised labels for ``bce`` (signal > threshold), raw signal otherwise (counts >= 0)."""
    if loss == "bce":
        return binarize(marks, threshold)
    return (
        np.where(np.isnan(marks), np.nan, np.clip(marks, 0, None)).astype(np.float32)
        if loss in ("poisson", "nb")
        else marks.astype(np.float32)
    )


class RandomWindows(TorchDataset):
    """``n_windows`` random windows per epoch as ``(inputs, target)`` tensor pairs.

    Args:
        reader: a :class:`TrackReader`.
        spec: the baseline (decides inputs and targets).
        chroms: chromosomes to draw from (the training chromosomes).
        n_windows: windows per epoch.
        length: window length in bp.
        loss: loss kind (``bce`` binarises the targets).
        seed: base seed; window i of epoch e is drawn from ``(seed, e, i)``.
        threshold: ``bce`` label threshold on the raw signal.
        scale_augment: multiply the conditioning cell type's accessibility channel by a
            factor uniform in :data:`SCALE_RANGE` (models with accessibility only).

    Shapes:
        item: inputs (n_in, length) float32, target (n_out, length) float32 (NaN = missing)
    """

    def __init__(
        self,
        reader: TrackReader,
        spec: BaselineSpec,
        chroms: list[str],
        n_windows: int,
        length: int,
        loss: str = "bce",
        seed: int = 0,
        threshold: float = 2.0,
        scale_augment: bool = False,
    ) -> None:
        sizes = reader.dataset.genome.sizes
        chroms = [c for c in chroms if sizes[c] >= length]
        if not chroms:
            raise InputError(
                f"dataset {reader.dataset.name}: no training chromosome is at least "
                f"{length} bp long"
            )
        if n_windows < 1:
            raise InputError(f"--windows {n_windows}: expected at least 1")
        self.reader, self.spec, self.chroms = reader, spec, chroms
        self.n_windows, self.length, self.loss, self.seed = n_windows, length, loss, seed
        self.threshold, self.scale_augment = threshold, scale_augment
        lengths = np.array([sizes[c] - length + 1 for c in chroms], dtype=np.float64)
        self.weights = lengths / lengths.sum()
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_windows

    def draw(self, i: int) -> tuple[str, int, int]:
        """(chromosome, start, conditioning cell type) of window ``i`` this epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, i])
        chrom = self.chroms[int(rng.choice(len(self.chroms), p=self.weights))]
        start = int(rng.integers(0, self.reader.dataset.genome.sizes[chrom] - self.length + 1))
        return chrom, start, int(rng.integers(0, len(self.reader.dataset.cell_types)))

    def scale(self, i: int) -> float:
        """The accessibility factor of window ``i`` this epoch (1 without augmentation)."""
        if not (self.scale_augment and self.spec.accessibility):
            return 1.0
        return float(np.random.default_rng([self.seed, self.epoch, i, 1]).uniform(*SCALE_RANGE))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        chrom, start, cell = self.draw(i)
        w = self.reader.window(chrom, start, self.length)
        cells = np.array([cell])
        access = w.access[None] if self.spec.accessibility else None
        x = make_inputs(self.spec, w.onehot[None], access, cells)[0]
        if self.spec.accessibility:
            x[N_BASES] *= self.scale(i)  # the own track only; the average stays as it is
        y = make_targets(self.spec, mark_targets(w.marks, self.loss, self.threshold)[None], cells)[
            0
        ]
        return torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(y))
