"""Chromosome sizes and the global 10 kb bin index.

Positions follow two conventions, named at every call: 1-based positions (VCF, QTL
tables) and 0-based half-open intervals (BED, bigWig). A 1-based position ``p`` lies in
bin ``(p - 1) // bin_size``; a 0-based coordinate ``x`` in bin ``x // bin_size``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qtlgraph.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

BUILTIN_BUILDS = ("hg38", "hg19")
_ALIASES = {"GRCh38": "hg38", "GRCh37": "hg19", "b37": "hg19", "b38": "hg38"}
_AUTOSOMES_X = tuple(f"chr{i}" for i in range(1, 23)) + ("chrX",)


def canonical_chrom(name: str) -> str:
    """``'1' -> 'chr1'``, ``'chrx' -> 'chrX'``, ``'MT' -> 'chrM'``; other names kept."""
    s = str(name).strip()
    core = s[3:] if s[:3].lower() == "chr" else s
    if core.upper() in ("M", "MT"):
        return "chrM"
    if core.upper() in ("X", "Y"):
        return "chr" + core.upper()
    return "chr" + core


@dataclass(frozen=True)
class Genome:
    """Ordered chromosomes and their lengths; names always carry the ``chr`` prefix."""

    name: str
    chroms: tuple[str, ...]
    lengths: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.chroms) != len(self.lengths) or not self.chroms:
            raise InputError(f"genome {self.name}: needs one length per chromosome")

    @property
    def sizes(self) -> dict[str, int]:
        return dict(zip(self.chroms, self.lengths))

    @property
    def total_length(self) -> int:
        return int(sum(self.lengths))

    def subset(self, chroms: list[str]) -> Genome:
        """The genome restricted to ``chroms`` (canonical names), in this genome's order."""
        keep = {canonical_chrom(c) for c in chroms}
        missing = keep - set(self.chroms)
        if missing:
            raise InputError(f"genome {self.name}: no chromosome(s) {sorted(missing)}")
        pairs = [(c, n) for c, n in zip(self.chroms, self.lengths) if c in keep]
        return Genome(self.name, tuple(c for c, _ in pairs), tuple(n for _, n in pairs))


def _read_sizes_table(path: Path) -> list[tuple[str, int]]:
    from qtlgraph.inputs import open_text

    pairs = []
    with open_text(path, "chromosome sizes file") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            if lineno == 1 and len(parts) > 1 and not parts[1].strip().isdigit():
                continue  # a header line such as "name length ..."
            try:
                pairs.append((parts[0], int(parts[1])))
            except (IndexError, ValueError):
                raise InputError(
                    f"{path}: line {lineno}: expected 'chrom<TAB>length', got {line.strip()!r}"
                ) from None
    if not pairs:
        raise InputError(f"{path}: no chromosome sizes found")
    return pairs


def load_genome(
    spec: str | Path,
    *,
    include_y: bool = False,
    include_m: bool = False,
    chroms: list[str] | None = None,
) -> Genome:
    """A built-in build (``hg38``, ``hg19``) or a ``.chrom.sizes`` / ``.fai`` file.

    Built-in builds keep chr1-22 and X, plus Y and M when asked. A file keeps every
    chromosome it lists (``chroms`` restricts it). Names are made canonical (``chr``).
    """
    key = _ALIASES.get(str(spec), str(spec))
    if key in BUILTIN_BUILDS:
        text = resources.files("qtlgraph").joinpath(f"data/{key}.chrom.sizes.tsv")
        with resources.as_file(text) as path:
            pairs = _read_sizes_table(path)
        wanted = (
            set(_AUTOSOMES_X)
            | ({"chrY"} if include_y else set())
            | ({"chrM"} if include_m else set())
        )
        pairs = [(c, n) for c, n in pairs if c in wanted]
        name = key
    else:
        path = Path(spec)
        if not path.is_file():
            raise InputError(
                f"{spec}: not a known build ({', '.join(BUILTIN_BUILDS)}) nor a readable "
                ".chrom.sizes/.fai file"
            )
        pairs = [(canonical_chrom(c), n) for c, n in _read_sizes_table(path)]
        name = path.name
    genome = Genome(name, tuple(c for c, _ in pairs), tuple(n for _, n in pairs))
    return genome.subset(chroms) if chroms else genome


@dataclass(frozen=True)
class BinIndex:
    """Fixed-size bins over a genome, numbered globally chromosome after chromosome.

    Args:
        genome: the chromosomes and lengths.
        bin_size: bin width in bp; the last bin of a chromosome may be shorter.
    """

    genome: Genome
    bin_size: int = 10_000
    n_bins_per_chrom: np.ndarray = field(init=False, repr=False, compare=False)
    offsets: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.bin_size <= 0:
            raise InputError(f"bin size must be positive, got {self.bin_size}")
        lengths = np.asarray(self.genome.lengths, dtype=np.int64)
        n = -(-lengths // self.bin_size)  # ceil
        object.__setattr__(self, "n_bins_per_chrom", n)
        object.__setattr__(self, "offsets", np.concatenate([[0], np.cumsum(n)]).astype(np.int64))

    @property
    def n_bins(self) -> int:
        return int(self.offsets[-1])

    @property
    def chroms(self) -> tuple[str, ...]:
        return self.genome.chroms

    def chrom_codes(self, names) -> np.ndarray:
        """Index of each chromosome name in the genome (any prefix style); -1 when unknown."""
        names = np.asarray(names, dtype=object).astype(str).ravel()
        uniques, inverse = np.unique(names, return_inverse=True)
        lookup = {c: i for i, c in enumerate(self.genome.chroms)}
        codes = np.array([lookup.get(canonical_chrom(u), -1) for u in uniques], dtype=np.int64)
        return codes[inverse] if len(names) else np.empty(0, np.int64)

    def bin_of(self, codes: np.ndarray, coords: np.ndarray, *, one_based: bool) -> np.ndarray:
        """Global bin id of each (chromosome code, coordinate); -1 where off the genome.

        Shapes:
            codes, coords: (N,) int64 -> (N,) int64
        """
        codes = np.asarray(codes, dtype=np.int64)
        x = np.asarray(coords, dtype=np.int64) - (1 if one_based else 0)
        lengths = np.asarray(self.genome.lengths, dtype=np.int64)
        valid = (codes >= 0) & (x >= 0)
        safe = np.where(valid, codes, 0)
        valid &= x < lengths[safe]
        return np.where(valid, self.offsets[safe] + x // self.bin_size, -1)

    def chrom_slice(self, chrom: str) -> slice:
        i = self.genome.chroms.index(canonical_chrom(chrom))
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def chrom_of_bins(self, bins: np.ndarray) -> np.ndarray:
        """Chromosome code of each global bin id. Shapes: (N,) -> (N,)."""
        return np.searchsorted(self.offsets, np.asarray(bins, np.int64), side="right") - 1

    def starts(self, bins: np.ndarray | None = None) -> np.ndarray:
        """0-based start of each bin (all bins when ``bins`` is None)."""
        bins = np.arange(self.n_bins) if bins is None else np.asarray(bins, np.int64)
        return (bins - self.offsets[self.chrom_of_bins(bins)]) * self.bin_size

    def to_frame(self) -> pd.DataFrame:
        """``chrom, start, end`` for every bin, BED convention, ends clipped to the chromosome."""
        import pandas as pd  # on use: ``build`` starts without it

        codes = np.repeat(np.arange(len(self.genome.chroms)), self.n_bins_per_chrom)
        starts = self.starts()
        lengths = np.asarray(self.genome.lengths, np.int64)[codes]
        return pd.DataFrame(
            {
                "chrom": pd.Categorical.from_codes(codes, categories=list(self.genome.chroms)),
                "start": starts,
                "end": np.minimum(starts + self.bin_size, lengths),
            }
        )


def n_bins(genome: Genome, bin_size: int) -> int:
    """Number of bins: the sum of ceil(length / bin_size) over chromosomes."""
    return sum(math.ceil(n / bin_size) for n in genome.lengths)


#: chr1's length names the human build of a genome given as a sizes file
CHR1_LENGTHS = {248_956_422: "hg38", 249_250_621: "hg19"}
#: the build a ``_b38`` / ``_b37`` variant id tag (GTEx, eQTL Catalogue) stands for
BUILD_TAGS = {"b38": "hg38", "b37": "hg19"}
_TAG = re.compile(r"_(b3[78])(?=[\s,;]|$)")


def human_build(genome: Genome) -> str | None:
    """``hg38`` / ``hg19`` when the genome is (or has the chr1 of) that build, else None."""
    key = _ALIASES.get(genome.name, genome.name)
    if key in BUILTIN_BUILDS:
        return key
    return CHR1_LENGTHS.get(genome.sizes.get("chr1", -1))


def build_tag_evidence(path: str | Path, genome: Genome, n_lines: int = 2_000) -> str | None:
    """Why ``path`` looks like another build than ``genome`` from its variant id tags.

    Counts ``_b38`` / ``_b37`` endings in the first ``n_lines`` lines; a sentence naming
    the evidence when most tagged ids name another build than the genome's, else None.
    """
    from qtlgraph.inputs import open_text

    build = human_build(genome)
    if build is None:
        return None
    counts = dict.fromkeys(BUILD_TAGS, 0)
    with open_text(path, "QTL table") as fh:
        for _, line in zip(range(n_lines), fh):
            for tag in _TAG.findall(line):
                counts[tag] += 1
    tag, n = max(counts.items(), key=lambda kv: kv[1])
    if n == 0 or BUILD_TAGS[tag] == build or n <= sum(counts.values()) / 2:
        return None
    return (
        f"{path}: {n} variant ids in its first {n_lines} lines end in _{tag} "
        f"({BUILD_TAGS[tag]}) but --genome is {build}"
    )


#: off-chromosome rows that, above both this fraction and :data:`MIN_OFF_END` rows, mean
#: another build (a correct table has none: every position lies on its chromosome)
OFF_END_FRACTION, MIN_OFF_END = 0.01, 10


def position_evidence(record: dict, genome: Genome) -> str | None:
    """Why an input's drop counts (``build.json`` input record) mean another build.

    Evidence: positions past chromosome ends (more than 1% of rows on known chromosomes and
    at least 10 rows), or most rows on chromosomes the genome does not have.
    """
    d = record["dropped"]
    reached = record["rows_read"] - d["missing_value"] - d["above_threshold"] - d["bad_position"]
    known = reached - d["unknown_chrom"]
    off = d["off_chrom_end"]
    if known and off >= MIN_OFF_END and off > OFF_END_FRACTION * known:
        return (
            f"{record['path']}: {off} of {known} rows ({100 * off / known:.1f}%) lie past "
            f"the chromosome ends of {genome.name}"
        )
    if reached >= MIN_OFF_END and d["unknown_chrom"] > 0.5 * reached:
        return (
            f"{record['path']}: {d['unknown_chrom']} of {reached} rows name chromosomes "
            f"{genome.name} does not have (it has {', '.join(genome.chroms[:5])}...)"
        )
    return None
