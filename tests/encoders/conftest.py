"""A tiny dataset written by hand: FASTA, accessibility and mark bigWigs, manifest.

Four chromosomes (chr1 40 kb test, chr2 validation, chr3-4 training), two cell types and
two marks. Marks are high (5) where the sequence has a G/C-rich block and the cell type's
accessibility is high, so a model can learn something in a few steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CHROMS = {"chr1": 40_000, "chr2": 6000, "chr3": 6000, "chr4": 6000}
CELLS = ("mono", "tcel")
MARKS = ("H3K27ac", "H3K4me1")


def _bigwig(path: Path, values: dict[str, np.ndarray]) -> None:
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(CHROMS.items()))
    for chrom, v in values.items():
        keep = np.flatnonzero(np.isfinite(v))
        bw.addEntries(
            [chrom] * len(keep),
            keep.astype(np.int64).tolist(),
            ends=(keep + 1).astype(np.int64).tolist(),
            values=v[keep].astype(np.float64).tolist(),
        )
    bw.close()


def write_tiny_dataset(root: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "tracks").mkdir(parents=True)
    seqs, gc = {}, {}
    for chrom, n in CHROMS.items():
        block = np.repeat(rng.random(n // 200) < 0.3, 200)
        p = np.where(block[:, None], [0.1, 0.4, 0.4, 0.1], [0.35, 0.15, 0.15, 0.35])
        u = rng.random(n)[:, None] > np.cumsum(p, axis=1)
        seqs[chrom] = "".join(np.array(list("ACGT"))[u.sum(axis=1)])
        gc[chrom] = block
    with open(root / "genome.fa", "w") as fh:
        for chrom, s in seqs.items():
            fh.write(f">{chrom}\n" + "\n".join(s[i : i + 60] for i in range(0, len(s), 60)) + "\n")
    for c, cell in enumerate(CELLS):
        acc = {k: np.repeat(rng.random(n // 100) < 0.5, 100) * (3.0 + c) for k, n in CHROMS.items()}
        _bigwig(root / "tracks" / f"{cell}.acc.bw", acc)
        for m, mark in enumerate(MARKS):
            vals = {
                k: np.where(gc[k] & (acc[k] > 0), 5.0 - m, 0.5) + rng.random(n) * 0.1
                for k, n in CHROMS.items()
            }
            vals["chr3"][100:300] = np.nan  # a gap without data
            _bigwig(root / "tracks" / f"{cell}.{mark}.bw", vals)
    lines = [
        'name = "tiny"',
        "[genome]",
        'build = "sim"',
        'fasta = "genome.fa"',
        "[splits]",
        'test = ["chr1"]',
        'valid = ["chr2"]',
    ]
    for cell in CELLS:
        marks = ", ".join(f'{m} = "tracks/{cell}.{m}.bw"' for m in MARKS)
        lines += [
            f"[cell_types.{cell}]",
            f'accessibility = "tracks/{cell}.acc.bw"',
            'assay = "DNase"',
            f"marks = {{ {marks} }}",
        ]
    (root / "dataset.toml").write_text("\n".join(lines) + "\n")
    return root / "dataset.toml"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """Path of the tiny dataset's manifest (built once per test session)."""
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))
