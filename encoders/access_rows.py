"""The bin encoder's accessibility inputs of every (cell type, bin), cached on disk by rows.

Held in memory, the inputs of ``qtlgraph.encoders.bin_dataset.accessibility_inputs`` take
``(acc_positions + flank_positions) * 4`` bytes per bin and cell type (0.6 KB at the
defaults, 0.55 GB for three hg38 cell types). Instead they are computed one chromosome at a
time and written once into one ``.npy`` file per dataset, row ``cell * n_bins + bin`` holding
that bin's ``acc`` then ``flank`` values (float32, ``log1p`` scale), and read back per batch
(:mod:`qtlgraph.row_files`). The values equal those of the in-memory path (tested).

The file is keyed by every accessibility bigWig (path, size, modification time), the bin
index's chromosomes and lengths and the encoder's resolutions and flank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qtlgraph.encoders.bin_encoder import BinEncoderConfig
from qtlgraph.genome import BinIndex
from qtlgraph.row_files import RowFile, build_once, cache_location, source_key, write_rows


class CellRows:
    """``acc`` or ``flank`` of :class:`qtlgraph.encoders.bin_dataset.BinArrays` read from a
    row file: ``rows[cell, bins]`` as ``array[cell, bins]`` would give it.

    Args:
        file: the row file, rows ``cell * n_bins + bin``.
        n_cells: cell types in the file.
        columns: this input's columns of a row.

    Shapes:
        ``[cell, bins]``: cell an int or (B,), bins (B,) -> (B, width) float32 (an int
        bin gives (width,); a third index selects columns of that).
    """

    def __init__(self, file: RowFile, n_cells: int, columns: slice) -> None:
        self.file, self.columns = file, columns
        self.n_bins = len(file) // n_cells
        width = len(range(*columns.indices(file.shape[1])))
        self.shape = (n_cells, self.n_bins, width)
        self.dtype = file.dtype

    def __getitem__(self, key) -> np.ndarray:
        cell, bins, *rest = key
        bins = np.asarray(bins, dtype=np.int64)
        if bins.ndim > 1:
            raise IndexError("CellRows takes [cell, bins(, columns)] with bins an int or 1-D")
        out = self.of(self.read(cell, np.atleast_1d(bins)))
        out = out[0] if bins.ndim == 0 else out
        return np.ascontiguousarray(out[(..., *rest)] if rest else out)

    def read(self, cell, bins: np.ndarray) -> np.ndarray:
        """Whole file rows of items ``(cell, bin)``. Shapes: (B,) -> (B, row width)."""
        return self.file.rows(np.asarray(cell, dtype=np.int64) * self.n_bins + bins)

    def of(self, rows: np.ndarray) -> np.ndarray:
        """This input's columns of whole file rows."""
        return np.ascontiguousarray(rows[:, self.columns])


def access_batch(arrays, cell, bins) -> tuple[np.ndarray, np.ndarray | None]:
    """``(acc, flank)`` of items ``(cell, bin)`` of a ``BinArrays`` (flank None without one).

    Streamed inputs are read once for both (they share a row of the cache file); held
    arrays are indexed. Shapes: cell an int or (B,), bins (B,) -> (B, P), (B, F).
    """
    acc, flank = arrays.acc, arrays.flank
    bins = np.asarray(bins, dtype=np.int64)
    if isinstance(acc, CellRows) and isinstance(flank, CellRows) and flank.file is acc.file:
        rows = acc.read(cell, bins)
        return acc.of(rows), flank.of(rows)
    return acc[cell, bins], (None if flank is None else flank[cell, bins])


def _chrom_rows(path, index: BinIndex, code: int, config: BinEncoderConfig) -> np.ndarray:
    """One track's input rows (acc, then flank) over the bins of one chromosome
    (:func:`qtlgraph.encoders.bin_dataset.accessibility_inputs` over that chromosome alone:
    flank windows stop at chromosome ends either way).

    Shapes:
        -> (n_bins of the chromosome, acc_positions + flank_positions) float32.
    """
    from qtlgraph.encoders.bin_dataset import accessibility_inputs
    from qtlgraph.genome import Genome

    chrom, length = index.chroms[code], int(index.genome.lengths[code])
    one = BinIndex(Genome(index.genome.name, (chrom,), (length,)), index.bin_size)
    acc, flank = accessibility_inputs(path, one, config)
    return acc if flank is None else np.concatenate([acc, flank], axis=1)


def access_cache_path(dataset, index: BinIndex, config: BinEncoderConfig) -> Path:
    """Where the accessibility input rows of ``dataset`` over ``index`` live."""
    tracks = [Path(c.accessibility) for c in dataset.cell_types]
    lengths = [f"{c}:{n}" for c, n in zip(index.chroms, index.genome.lengths)]
    settings = (config.acc_resolution, config.flank, config.flank_resolution)
    key = source_key(tracks, index.bin_size, *settings, *lengths)
    name = f"{tracks[0].stem}.inputs-{index.bin_size}-{key}.npy"
    return cache_location("access", tracks[0], name)


def write_access_rows(dataset, index: BinIndex, config: BinEncoderConfig, path: Path) -> Path:
    """Compute and write every cell type's input rows, one chromosome at a time."""
    from tqdm.auto import tqdm

    width = config.acc_positions + (config.flank_positions if config.flank else 0)
    n = len(dataset.cell_types) * index.n_bins

    def blocks():
        for cell in tqdm(dataset.cell_types, desc="caching accessibility", disable=None):
            for code in range(len(index.chroms)):
                yield _chrom_rows(cell.accessibility, index, code, config)

    return write_rows(path, (n, width), np.float32, blocks())


def open_access_rows(
    dataset, index: BinIndex, config: BinEncoderConfig
) -> tuple[CellRows, CellRows | None]:
    """``(acc, flank)`` of every cell type and bin, writing the cache file on first use.

    Returns:
        Two :class:`CellRows` (``flank`` None when the config has no flank); shapes as
        ``BinArrays.acc`` and ``BinArrays.flank``.
    """
    path = build_once(
        access_cache_path(dataset, index, config),
        lambda p: write_access_rows(dataset, index, config, p),
    )
    file, n_cells, p = RowFile(path), len(dataset.cell_types), config.acc_positions
    acc = CellRows(file, n_cells, slice(0, p))
    return acc, (CellRows(file, n_cells, slice(p, None)) if config.flank else None)
