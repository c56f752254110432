"""The dataset manifest: one small TOML file naming a dataset's genome, tracks and QTLs.

Schema (see docs/architecture.md, "Dataset manifest")::

    name = "demo"
    [genome]
    build = "sim"                       # a name; or hg38 / hg19
    fasta = "genome.fa"                 # or: onehot = { A = "A.bw", ... }
    chrom_sizes = "genome.chrom.sizes"  # optional
    [splits]                            # optional
    test = ["chr1", "chr8", "chr21"]
    valid = ["chr2"]
    held_out_cell_type = "tcel"         # optional
    [cell_types.mono]
    accessibility = "tracks/mono.accessibility.bw"
    assay = "DNase"                     # or ATAC
    marks = { H3K27ac = "tracks/mono.H3K27ac.bw" }
    qtl = { H3K27ac = "qtl/mono_K27AC.txt.gz" }
    qtl_format = "blueprint"            # optional, default "auto"
    [truth]
    dir = "truth"

The chromosomes come from ``chrom_sizes``, else the FASTA index (restricted to chr1-22
and X when ``build`` is hg38 or hg19), else the built-in build, else the ``A`` bigWig.
Every source given must agree on the lengths of the chromosomes it shares with the genome.
Relative paths resolve against the manifest's folder. Every problem found is collected
and reported in one InputError, one problem per line, each naming the key and the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the declared tomli backport
    import tomli as tomllib

from qtlgraph.errors import InputError
from qtlgraph.genome import BUILTIN_BUILDS, Genome, canonical_chrom, load_genome
from qtlgraph.inputs import read_bytes
from qtlgraph.splits import Split
from qtlgraph.tracks import open_bigwig

ASSAYS = ("DNase", "ATAC")
_GENOME_KEYS = {"build", "fasta", "onehot", "chrom_sizes"}
_CELL_KEYS = {"accessibility", "assay", "marks", "qtl", "qtl_format"}
_SPLIT_KEYS = {"test", "valid", "held_out_cell_type"}


@dataclass(frozen=True)
class CellType:
    """One cell type: its accessibility bigWig and assay, a bigWig and a QTL table per mark."""

    name: str
    accessibility: Path
    assay: str
    marks: dict[str, Path]
    qtl: dict[str, Path] = field(default_factory=dict)
    qtl_format: str = "auto"


@dataclass(frozen=True)
class Dataset:
    """A loaded, validated dataset manifest (all paths absolute)."""

    root: Path
    name: str
    genome: Genome
    fasta: Path | None
    onehot: dict[str, Path] | None
    cell_types: tuple[CellType, ...]
    marks: tuple[str, ...]
    split: Split
    truth_dir: Path | None

    @property
    def cell_type_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cell_types)

    def cell_type(self, name: str) -> CellType:
        for c in self.cell_types:
            if c.name == name:
                return c
        raise InputError(
            f"dataset {self.name}: no cell type {name!r} (has {list(self.cell_type_names)})"
        )


def load_dataset(path: str | Path, *, missing: str = "error") -> Dataset:
    """Read and validate a dataset manifest.

    Args:
        path: the TOML file.
        missing: ``"error"``: every bigWig must hold every genome chromosome; ``"nan"``:
            chromosomes absent from a bigWig are allowed (read later as all-NaN).

    Raises:
        InputError: listing every problem found, one per line.
    """
    path = Path(path).absolute()
    if not path.is_file():
        raise InputError(f"{path}: dataset manifest not found")
    text = read_bytes(path, "dataset manifest (TOML)")  # binary refused, BOM stripped
    try:
        doc = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid TOML: {err}") from None
    problems: list[str] = []
    root = path.parent
    genome, fasta, onehot = _genome(doc.get("genome"), root, problems)
    cells = _cell_types(doc.get("cell_types"), root, problems)
    split = _split(doc.get("splits"), genome, cells, problems)
    truth = _truth(doc.get("truth"), root, problems)
    if genome is not None:
        _check_bigwigs(cells, genome, missing, problems)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise InputError(f"{path}: {len(problems)} problem(s) in the dataset manifest:\n{lines}")
    marks = tuple(dict.fromkeys(m for c in cells for m in c.marks))
    return Dataset(
        root,
        str(doc.get("name", path.stem)),
        genome,
        fasta,
        onehot,
        tuple(cells),
        marks,
        split,
        truth,
    )


def _file(value, key: str, root: Path, problems: list[str]) -> Path | None:
    if not isinstance(value, str) or not value:
        problems.append(f"{key}: expected a file path, got {value!r}")
        return None
    p = Path(value)
    p = p if p.is_absolute() else root / p
    if not p.is_file():
        problems.append(f"{key}: file not found: {p}")
        return None
    return p


def _unknown(table: dict, allowed: set[str], key: str, problems: list[str]) -> None:
    for k in sorted(set(table) - allowed):
        problems.append(f"{key}: unknown key {k!r} (expected one of {sorted(allowed)})")


def _genome(table, root: Path, problems: list[str]):
    if not isinstance(table, dict):
        problems.append("[genome]: missing table (needs build and fasta or onehot)")
        return None, None, None
    _unknown(table, _GENOME_KEYS, "[genome]", problems)
    build = str(table.get("build", "custom"))
    fasta = onehot = sizes_path = None
    if ("fasta" in table) == ("onehot" in table):
        problems.append("[genome]: give exactly one of fasta or onehot")
    if "fasta" in table:
        fasta = _file(table["fasta"], "[genome] fasta", root, problems)
    if "onehot" in table:
        onehot = _onehot(table["onehot"], root, problems)
    if "chrom_sizes" in table:
        sizes_path = _file(table["chrom_sizes"], "[genome] chrom_sizes", root, problems)
    sources = _size_sources(build, fasta, onehot, sizes_path, problems)
    genome = _pick_genome(build, sources, problems)
    if genome is not None:
        first = next(iter(sources))
        for key, sizes in list(sources.items())[1:]:
            _compare(genome, sizes, key, problems, against=first)
    return genome, fasta, onehot


def _onehot(value, root: Path, problems: list[str]) -> dict[str, Path] | None:
    if not isinstance(value, dict) or set(value) != set("ACGT"):
        problems.append(f"[genome] onehot: expected a table with keys A, C, G, T, got {value!r}")
        return None
    paths = {b: _file(value[b], f"[genome] onehot.{b}", root, problems) for b in "ACGT"}
    return paths if all(paths.values()) else None


def _size_sources(build, fasta, onehot, sizes_path, problems) -> dict[str, dict[str, int]]:
    """Chromosome lengths from each source given, keyed by the manifest key that named it."""
    from qtlgraph.sequence import fasta_sizes

    sources: dict[str, dict[str, int]] = {}
    for key, read in (
        (
            f"[genome] chrom_sizes ({sizes_path})",
            lambda: load_genome(sizes_path).sizes if sizes_path else None,
        ),
        (f"[genome] fasta ({fasta})", lambda: fasta_sizes(fasta) if fasta else None),
        (
            f"[genome] onehot.A ({onehot and onehot['A']})",
            lambda: _bigwig_sizes(onehot["A"]) if onehot else None,
        ),
    ):
        try:
            sizes = read()
        except InputError as err:
            problems.append(f"{key}: {err}")
            continue
        if sizes is not None:
            sources[key] = sizes
    if build in BUILTIN_BUILDS:
        sources[f"[genome] build ({build})"] = load_genome(build).sizes
    if onehot:
        for b in "CGT":
            try:
                sources[f"[genome] onehot.{b} ({onehot[b]})"] = _bigwig_sizes(onehot[b])
            except InputError as err:
                problems.append(f"[genome] onehot.{b}: {err}")
    return sources


def _pick_genome(build: str, sources: dict[str, dict[str, int]], problems) -> Genome | None:
    if not sources:
        problems.append(
            f"[genome]: no chromosome sizes: build {build!r} is not one of "
            f"{BUILTIN_BUILDS} and no chrom_sizes, fasta or onehot could be read"
        )
        return None
    key = next(iter(sources))  # chrom_sizes, else fasta, else onehot, else the build
    sizes = sources[key]
    if build in BUILTIN_BUILDS and not key.startswith("[genome] chrom_sizes"):
        builtin = load_genome(build).sizes
        sizes = {c: n for c, n in sizes.items() if c in builtin}
        if not sizes:
            problems.append(f"{key}: no chromosome of build {build} (chr1-22, chrX)")
            return None
    return Genome(build, tuple(sizes), tuple(sizes.values()))


def _compare(
    genome: Genome, sizes: dict[str, int], key: str, problems: list[str], against: str | None = None
) -> None:
    wrong = [
        f"{c} is {sizes[c]} bp, expected {n}"
        for c, n in genome.sizes.items()
        if c in sizes and sizes[c] != n
    ]
    absent = [c for c in genome.chroms if c not in sizes]
    if wrong:
        more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
        problems.append(
            f"{key}: chromosome lengths disagree with {against or 'genome ' + genome.name}: "
            f"{'; '.join(wrong[:3])}{more}"
        )
    if absent and not key.startswith("[genome] build"):
        problems.append(f"{key}: lacks chromosome(s) {absent[:5]} of genome {genome.name}")


def _bigwig_sizes(path: Path) -> dict[str, int]:
    """Canonical chromosome -> length in bp of a bigWig; InputError when it cannot be read."""
    with open_bigwig(path) as bw:
        return {canonical_chrom(k): int(v) for k, v in bw.chroms().items()}


def _cell_types(table, root: Path, problems: list[str]) -> list[CellType]:
    if not isinstance(table, dict) or not table:
        problems.append("[cell_types]: missing (needs at least one [cell_types.<name>] table)")
        return []
    cells = []
    for name, t in table.items():
        key = f"[cell_types.{name}]"
        if not isinstance(t, dict):
            problems.append(f"{key}: expected a table")
            continue
        _unknown(t, _CELL_KEYS, key, problems)
        acc = _file(t.get("accessibility"), f"{key} accessibility", root, problems)
        assay = _assay(t.get("assay"), key, problems)
        marks = _path_table(t.get("marks"), f"{key} marks", root, problems, required=True)
        qtl = _path_table(t.get("qtl", {}), f"{key} qtl", root, problems, required=False)
        cells.append(CellType(name, acc, assay, marks, qtl, str(t.get("qtl_format", "auto"))))
    return cells


def _assay(value, key: str, problems: list[str]) -> str:
    for a in ASSAYS:
        if isinstance(value, str) and value.lower() == a.lower():
            return a
    problems.append(f"{key} assay: expected one of {ASSAYS}, got {value!r}")
    return str(value)


def _path_table(
    value, key: str, root: Path, problems: list[str], required: bool
) -> dict[str, Path]:
    if not isinstance(value, dict) or (required and not value):
        problems.append(f'{key}: expected a table of name = "path", got {value!r}')
        return {}
    return {k: p for k, v in value.items() if (p := _file(v, f"{key}.{k}", root, problems))}


def _split(table, genome: Genome | None, cells: list[CellType], problems: list[str]) -> Split:
    """The ``[splits]`` table: names given must all be in the genome; defaults are restricted.

    ``test`` or ``valid`` left out of the table (or no table at all) take the defaults
    (test chr1, chr8, chr21; valid chr2) kept to the chromosomes the genome has; that is
    an error only when none of the default test chromosomes is in the genome.
    """
    table = {} if table is None else table
    if not isinstance(table, dict):
        problems.append("[splits]: expected a table")
        table = {}
    _unknown(table, _SPLIT_KEYS, "[splits]", problems)
    base = Split()
    test = _split_list(table, "test", base.test, genome, problems)
    valid = _split_list(table, "valid", base.valid, genome, problems)
    if genome is not None and not test and "test" not in table:
        problems.append(
            f"[splits] test: none of the default test chromosomes {list(base.test)} is in "
            f"genome {genome.name}; name test chromosomes in a [splits] table"
        )
    try:
        split = Split(test, valid, table.get("held_out_cell_type"))
    except InputError as err:
        problems.append(f"[splits]: {err}")
        return base
    if genome is not None:
        problems.extend(split.check(genome, [c.name for c in cells]))
    return split


def _split_list(
    table: dict, key: str, default: tuple[str, ...], genome: Genome | None, problems: list[str]
) -> tuple[str, ...]:
    """``table[key]`` as given, else ``default`` kept to the genome's chromosomes."""
    if key not in table:
        return (
            default
            if genome is None
            else tuple(c for c in default if canonical_chrom(c) in genome.sizes)
        )
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(c, (str, int)) for c in value):
        problems.append(f"[splits] {key}: expected a list of chromosome names, got {value!r}")
        return ()
    return tuple(str(c) for c in value)


def _truth(table, root: Path, problems: list[str]) -> Path | None:
    if table is None:
        return None
    if not isinstance(table, dict) or not isinstance(table.get("dir"), str):
        problems.append(f'[truth]: expected dir = "<folder>", got {table!r}')
        return None
    p = Path(table["dir"])
    p = p if p.is_absolute() else root / p
    if not p.is_dir():
        problems.append(f"[truth] dir: folder not found: {p}")
        return None
    return p


def _check_bigwigs(
    cells: list[CellType], genome: Genome, missing: str, problems: list[str]
) -> None:
    """Every track bigWig is readable, holds the genome's chromosomes, and agrees on lengths."""
    for cell in cells:
        named = [(f"[cell_types.{cell.name}] accessibility", cell.accessibility)]
        named += [(f"[cell_types.{cell.name}] marks.{m}", p) for m, p in cell.marks.items()]
        for key, p in named:
            if p is None:
                continue
            try:
                sizes = _bigwig_sizes(p)
            except InputError as err:
                problems.append(f"{key}: {err}")
                continue
            before = len(problems)
            _compare(genome, sizes, f"{key} ({p})", problems)
            if missing == "nan" and len(problems) > before and "lacks chromosome" in problems[-1]:
                problems.pop()
