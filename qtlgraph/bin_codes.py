"""Every bin's base codes in one file on disk, written once per genome and read by rows.

The bin encoder needs the sequence of any bin at random (a shuffled epoch); holding all of
them in memory takes ``n_bins * bin_size`` bytes (3 GB for hg38). Instead the codes of
every bin (0-3 = A, C, G, T; 4 = N, also past chromosome ends) are written once into a
``.npy`` file of shape ``(n_bins, bin_size)`` uint8 and read back by rows
(:mod:`qtlgraph.row_files`: where the file goes, how it is written and read).

The file is keyed by the genome source (path, size and modification time of the FASTA or
the four one-hot bigWigs), the chromosomes and lengths of the bin index and the bin size,
so a replaced FASTA never meets stale codes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qtlgraph.genome import BinIndex
from qtlgraph.row_files import RowFile, build_once, cache_location, source_key, write_rows

_BLOCK_BINS = 512  # bins read from the genome and written per step (5 MB at 10 kb)


class BinCodes(RowFile):
    """Read-only ``(n_bins, bin_size)`` uint8 base codes of every bin, read from a file
    (:class:`qtlgraph.row_files.RowFile`, checked to hold uint8).

    Args:
        path: a ``.npy`` file of shape ``(n_bins, bin_size)`` uint8 (C order).
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        if self.dtype != np.uint8:
            raise ValueError(f"{self.path}: expected a (n_bins, bin_size) uint8 C-order array")


def _sources(dataset) -> list[Path]:
    return [Path(dataset.fasta)] if dataset.fasta is not None else list(dataset.onehot.values())


def cache_path(dataset, index: BinIndex) -> Path:
    """Where the codes of ``dataset``'s genome over ``index`` live (see the module docstring)."""
    sources = _sources(dataset)
    lengths = [f"{c}:{n}" for c, n in zip(index.chroms, index.genome.lengths)]
    key = source_key(sources, index.bin_size, *lengths)
    return cache_location(
        "codes", sources[0], f"{sources[0].name}.codes-{index.bin_size}-{key}.npy"
    )


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

    def blocks():
        with tqdm(
            total=index.n_bins,
            unit=" bins",
            desc="caching sequence",
            disable=None if progress else True,
        ) as bar:
            for code, chrom in enumerate(index.chroms):
                n = int(index.n_bins_per_chrom[code])
                for first in range(0, n, _BLOCK_BINS):
                    last = min(n, first + _BLOCK_BINS)
                    yield sequence.codes(chrom, first * bs, last * bs)
                    bar.update(last - first)

    return write_rows(path, (index.n_bins, bs), np.uint8, blocks())


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
    path = build_once(
        cache_path(dataset, index),
        lambda p: write_codes(open_sequence(dataset), index, p, progress=progress),
    )
    return BinCodes(path)
