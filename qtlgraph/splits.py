"""Train / validation / test splits by held-out chromosomes (and optionally a cell type).

The defaults follow the report and Leopard: chromosomes 1, 8 and 21 are the test set,
chromosome 2 the validation set, every other chromosome trains. A held-out cell type is
left out of training in every split and scored on the test chromosomes only.

Chromosomes named explicitly must all be in the genome (:meth:`Split.check`). The
defaults are different: on a genome lacking some of them (a small simulated genome, a
single-chromosome test set) :meth:`Split.restricted_to` keeps those present and fails
only when none of the test chromosomes is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, Genome, canonical_chrom

PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class Split:
    """Held-out chromosomes for validation and test, and an optional held-out cell type.

    Args:
        test: test chromosomes (any prefix style; stored canonical).
        valid: validation chromosomes; must not overlap ``test``.
        held_out_cell_type: a cell type never seen in training, or None.
    """

    test: tuple[str, ...] = ("chr1", "chr8", "chr21")
    valid: tuple[str, ...] = ("chr2",)
    held_out_cell_type: str | None = None

    def __post_init__(self) -> None:
        test = tuple(canonical_chrom(c) for c in self.test)
        valid = tuple(canonical_chrom(c) for c in self.valid)
        both = sorted(set(test) & set(valid))
        if both:
            raise InputError(f"split: chromosome(s) {both} are both test and validation")
        object.__setattr__(self, "test", test)
        object.__setattr__(self, "valid", valid)

    def part_of(self, chrom: str) -> str:
        """``'train'``, ``'valid'`` or ``'test'`` for one chromosome."""
        c = canonical_chrom(chrom)
        return "test" if c in self.test else "valid" if c in self.valid else "train"

    def chroms(self, genome: Genome, part: str) -> tuple[str, ...]:
        """The genome's chromosomes in ``part`` (in genome order)."""
        _check_part(part)
        return tuple(c for c in genome.chroms if self.part_of(c) == part)

    def bin_masks(self, index: BinIndex) -> dict[str, np.ndarray]:
        """Boolean mask over all bins for each part.

        Shapes:
            each value: (index.n_bins,) bool; the three masks partition the bins.
        """
        parts = np.array([PARTS.index(self.part_of(c)) for c in index.chroms], dtype=np.int64)
        per_bin = np.repeat(parts, index.n_bins_per_chrom)
        return {name: per_bin == i for i, name in enumerate(PARTS)}

    def intervals(self, genome: Genome, part: str = "train") -> pd.DataFrame:
        """``chrom, start, end`` (0-based half-open) of whole chromosomes in ``part``.

        Window samplers draw from these; a window must lie inside one interval.
        """
        chroms = self.chroms(genome, part)
        sizes = genome.sizes
        return pd.DataFrame(
            {
                "chrom": list(chroms),
                "start": np.zeros(len(chroms), dtype=np.int64),
                "end": np.array([sizes[c] for c in chroms], dtype=np.int64),
            }
        )

    def cell_types(self, names: list[str] | tuple[str, ...], part: str) -> tuple[str, ...]:
        """Cell types used in ``part``: the held-out one only in ``test``, the rest everywhere."""
        _check_part(part)
        if self.held_out_cell_type is None:
            return tuple(names)
        if part == "train" or part == "valid":
            return tuple(n for n in names if n != self.held_out_cell_type)
        return tuple(names)

    def check(self, genome: Genome, cell_types: list[str] | tuple[str, ...] = ()) -> list[str]:
        """Problems with this split against a genome and cell types (empty when fine).

        Every test and validation chromosome must be in the genome; each one missing is
        one problem naming the ``[splits]`` key and the chromosome.
        """
        problems = []
        have = ", ".join(genome.chroms[:6]) + (", ..." if len(genome.chroms) > 6 else "")
        for key, chroms in (("test", self.test), ("valid", self.valid)):
            problems += [
                f"[splits] {key}: chromosome {c!r} is not in genome {genome.name} (has {have})"
                for c in chroms
                if c not in genome.sizes
            ]
        if cell_types and self.held_out_cell_type not in (None, *cell_types):
            problems.append(
                f"[splits] held_out_cell_type: {self.held_out_cell_type!r} is not one of "
                f"{list(cell_types)}"
            )
        if not self.chroms(genome, "train"):
            problems.append(f"[splits]: no training chromosome left in genome {genome.name}")
        return problems

    def restricted_to(self, genome: Genome) -> Split:
        """The same split keeping only chromosomes the genome has (meant for the defaults).

        Raises:
            InputError: when none of the test chromosomes is in the genome.
        """
        keep = genome.sizes
        test = tuple(c for c in self.test if c in keep)
        if not test:
            raise InputError(
                f"[splits] test: none of the test chromosomes {list(self.test)} is in "
                f"genome {genome.name}; name test chromosomes in a [splits] table"
            )
        return Split(test, tuple(c for c in self.valid if c in keep), self.held_out_cell_type)


def _check_part(part: str) -> None:
    if part not in PARTS:
        raise InputError(f"split part must be one of {PARTS}, got {part!r}")
