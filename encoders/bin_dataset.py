"""Per-bin inputs and targets for the bin encoder, and a torch Dataset over (cell type, bin).

Inputs of one bin: its sequence as base codes (one-hot built per batch), the cell type's
accessibility at ``acc_resolution`` over the bin, and optionally the accessibility over the
bin plus ``flank`` on each side at ``flank_resolution``. Accessibility is read with
``bin_profile`` in one pass per track and put on a ``log1p`` scale (NaN and negatives ->
0, the model boundary rule). Targets are :func:`qtlgraph.tracks.bin_target` (``log1p`` of
each mark's bin mean); NaN stays NaN and is masked by the loss and the metrics.

Sequence is read one block of consecutive bins at a time (one file read per block of a
chromosome, then slicing), never one read per bin.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from qtlgraph.encoders.bin_encoder import BinEncoderConfig
from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex

_EYE = np.eye(5, 4, dtype=np.float32)  # code 4 (N) -> all-zero column


class BinArrays(NamedTuple):
    """Per cell type accessibility inputs and mark targets over all bins of a genome.

    ``acc`` and ``flank`` are arrays, or :class:`qtlgraph.encoders.access_rows.CellRows`
    read from a cache file (``load_bin_arrays(stream=True)``); either is indexed
    ``[cell, bins]``.

    Shapes:
        acc: (n_cell_types, n_bins, bin_size // acc_resolution) float32, log1p scale.
        flank: (n_cell_types, n_bins, n_flank) float32, or None when the config has no flank.
        targets: (n_cell_types, n_bins, n_marks) float32, log1p of the bin mean, NaN kept.
    """

    cell_types: tuple[str, ...]
    marks: tuple[str, ...]
    acc: np.ndarray
    flank: np.ndarray | None
    targets: np.ndarray


def _log1p_input(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)).astype(
        np.float32
    )


def flank_windows(profile: np.ndarray, index: BinIndex, flank: int, resolution: int) -> np.ndarray:
    """Each bin's window of ``flank`` bp either side, cut from a per-bin coarse profile.

    Windows stop at chromosome ends (zeros there), never crossing into the next chromosome.

    Args:
        profile: per-bin profile at ``resolution`` (``bin_profile`` output, already cleaned).
        index: the bin index ``profile`` was read with.
        flank: bp on each side; a multiple of ``resolution``.
        resolution: bp per value.

    Shapes:
        profile: (n_bins, bin_size // resolution) -> (n_bins, (bin_size + 2 * flank) // resolution)
    """
    k = index.bin_size // resolution
    f = flank // resolution
    out = np.zeros((index.n_bins, k + 2 * f), dtype=np.float32)
    for chrom in index.chroms:
        sl = index.chrom_slice(chrom)
        flat = np.pad(profile[sl].reshape(-1), (f, f))
        out[sl] = sliding_window_view(flat, k + 2 * f)[::k][: sl.stop - sl.start]
    return out


def accessibility_inputs(
    path, index: BinIndex, config: BinEncoderConfig
) -> tuple[np.ndarray, np.ndarray | None]:
    """The accessibility inputs of every bin for one track.

    Returns:
        ``(acc, flank)``: (n_bins, acc_positions) and (n_bins, flank_positions) or None.
    """
    from qtlgraph.tracks import bin_profile

    acc = _log1p_input(bin_profile(path, index, resolution=config.acc_resolution))
    if not config.flank:
        return acc, None
    coarse = _log1p_input(bin_profile(path, index, resolution=config.flank_resolution))
    return acc, flank_windows(coarse, index, config.flank, config.flank_resolution)


def mark_targets(cell, marks: tuple[str, ...], index: BinIndex) -> np.ndarray:
    """Each mark's per-bin target (:func:`qtlgraph.tracks.bin_target`, ``log1p`` of the bin
    mean) for one cell type; NaN where absent or no data.

    Shapes:
        -> (n_bins, len(marks)) float32.
    """
    from qtlgraph.tracks import bin_target

    out = np.full((index.n_bins, len(marks)), np.nan, dtype=np.float32)
    for j, mark in enumerate(marks):
        if mark in cell.marks:
            out[:, j] = bin_target(cell.marks[mark], index)
    return out


def load_bin_arrays(
    dataset,
    index: BinIndex,
    config: BinEncoderConfig,
    *,
    targets: bool = True,
    stream: bool = True,
) -> BinArrays:
    """Accessibility inputs (and targets) of every bin for every cell type of a dataset.

    Args:
        dataset: a loaded ``qtlgraph.manifest.Dataset``.
        index: the bin index (its ``bin_size`` must equal ``config.bin_size``).
        config: the encoder config (resolutions, flank).
        targets: read the mark bigWigs too (``False`` for embedding only: all-NaN targets).
        stream: read the accessibility inputs per batch from a cache file written once
            (:mod:`qtlgraph.encoders.access_rows`; memory does not grow with the genome)
            instead of holding them in arrays. The values are the same.
    """
    from tqdm.auto import tqdm

    if index.bin_size != config.bin_size:
        raise InputError(
            f"bin index uses {index.bin_size} bp bins but the encoder expects {config.bin_size}"
        )
    n_marks = len(dataset.marks)
    tgts = [
        mark_targets(cell, dataset.marks, index)
        if targets
        else np.full((index.n_bins, n_marks), np.nan, np.float32)
        for cell in tqdm(dataset.cell_types, desc="reading targets", disable=None, leave=False)
    ]
    names, marks = tuple(c.name for c in dataset.cell_types), tuple(dataset.marks)
    if stream:
        from qtlgraph.encoders.access_rows import open_access_rows

        acc, flank = open_access_rows(dataset, index, config)
        return BinArrays(names, marks, acc, flank, np.stack(tgts))
    accs, flanks = [], []
    for cell in tqdm(dataset.cell_types, desc="reading tracks", disable=None, leave=False):
        acc, flank = accessibility_inputs(cell.accessibility, index, config)
        accs.append(acc)
        flanks.append(flank)
    flank = None if not config.flank else np.stack(flanks)
    return BinArrays(names, marks, np.stack(accs), flank, np.stack(tgts))


def sequence_codes(sequence, index: BinIndex, bins: np.ndarray, *, block: int = 1000) -> np.ndarray:
    """Base codes (0-3 = A, C, G, T; 4 = N) of the given bins, ``N``-padded past chromosome ends.

    Reads one stretch of up to ``block`` consecutive bins at a time (one read, then slicing).

    Args:
        sequence: a ``qtlgraph.sequence.GenomeSequence`` (``.codes(chrom, start, end)``).
        index: the bin index.
        bins: global bin ids, ascending.
        block: the most consecutive bins read at once.

    Shapes:
        bins: (N,) -> (N, bin_size) uint8.
    """
    bins = np.asarray(bins, dtype=np.int64)
    bs = index.bin_size
    out = np.empty((len(bins), bs), dtype=np.uint8)
    chrom_codes = index.chrom_of_bins(bins)
    for code in np.unique(chrom_codes):
        rows = np.flatnonzero(chrom_codes == code)
        local = bins[rows] - index.offsets[code]
        chrom = index.chroms[code]
        for first in np.unique(local // block) * block:
            sel = (local >= first) & (local < first + block)
            last = int(local[sel].max()) + 1
            stretch = sequence.codes(chrom, int(first) * bs, last * bs).reshape(-1, bs)
            out[rows[sel]] = stretch[local[sel] - first]
    return out


def one_hot_codes(codes: np.ndarray) -> torch.Tensor:
    """Shapes: (B, L) uint8 codes -> (B, 4, L) float32 one-hot (N all-zero)."""
    return torch.from_numpy(np.ascontiguousarray(_EYE[codes].transpose(0, 2, 1)))


class BinDataset(torch.utils.data.Dataset):
    """(cell type, bin) items; indexed by an array of item ids, it returns a whole batch.

    Item ``i`` is cell type ``cells[i // len(rows)]`` and bin ``rows[i % len(rows)]``.
    Use with :func:`bin_loader` (a batch sampler hands it index arrays).

    Args:
        arrays: :class:`BinArrays` over all bins of the genome.
        codes: sequence codes of every bin, (n_bins, bin_size) uint8, shared by the
            train/valid/test datasets (no copies).
        rows: global bin ids of the selected bins (rows of ``arrays`` and ``codes``).
        cells: indices into ``arrays.cell_types`` to include.

    Returns per batch:
        ``((seq (B, L) uint8 base codes, acc (B, P)[, flank (B, F)]), target (B, n_marks))``;
        :class:`qtlgraph.encoders.bin_encoder.BinEncoder` takes codes directly (its fast path).
    """

    def __init__(self, arrays: BinArrays, codes: np.ndarray, rows: np.ndarray, cells) -> None:
        self.arrays, self.codes = arrays, codes
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cells = np.asarray(cells, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cells)

    def items(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """(cell index, global bin) of each item id. Shapes: (B,) -> (B,), (B,)."""
        idx = np.asarray(idx, dtype=np.int64)
        return self.cells[idx // len(self.rows)], self.rows[idx % len(self.rows)]

    def __getitem__(self, idx):
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        cell, bins = self.items(idx)
        a = self.arrays
        from qtlgraph.encoders.access_rows import access_batch

        acc, flank = access_batch(a, cell, bins)
        inputs = [torch.from_numpy(x) for x in (self.codes[bins], acc, flank) if x is not None]
        return tuple(inputs), torch.from_numpy(a.targets[cell, bins])


def bin_loader(
    dataset: BinDataset, batch_size: int, *, shuffle: bool
) -> torch.utils.data.DataLoader:
    """Batches of a :class:`BinDataset`; shuffling draws from torch's global generator
    (so a resumed run, which restores that generator, sees the same order).
    """
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    base = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
    return DataLoader(
        dataset, sampler=BatchSampler(base, batch_size, drop_last=False), batch_size=None
    )
