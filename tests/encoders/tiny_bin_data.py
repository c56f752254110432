"""A tiny dataset written by the tests: FASTA, bigWigs per cell type, and a manifest.

Three chromosomes (chr1 test, chr2 validation, chr3 train) and two cell types. Each cell
type's H3K27ac bin mean follows the GC content scaled by the cell type's accessibility,
so the local model has something to learn; H3K4me1 is missing in one bin region (NaN).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZES = {"chr1": 45_000, "chr2": 32_000, "chr3": 96_000}
CELLS = {"mono": 1.0, "tcel": 2.5}


def _write_bigwig(path: Path, values: dict[str, np.ndarray], step: int = 100) -> None:
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(SIZES.items()))
    for chrom, v in values.items():
        keep = np.isfinite(v)
        starts = np.arange(len(v), dtype=np.int64)[keep] * step
        ends = np.minimum(starts + step, SIZES[chrom])
        bw.addEntries(
            [chrom] * int(keep.sum()),
            starts.tolist(),
            ends=ends.tolist(),
            values=v[keep].astype(float).tolist(),
        )
    bw.close()


def write_tiny_dataset(root: Path, seed: int = 0) -> Path:
    """Write the dataset under ``root``; return the manifest path."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "tracks").mkdir(exist_ok=True)
    seqs = {}
    with open(root / "genome.fa", "w") as fh:
        for chrom, n in SIZES.items():
            gc = rng.uniform(0.2, 0.8, size=-(-n // 2000)).repeat(2000)[:n]
            u = rng.random(n)
            base = np.where(
                u < gc,
                np.where(rng.random(n) < 0.5, "G", "C"),
                np.where(rng.random(n) < 0.5, "A", "T"),
            )
            seq = "".join(base.tolist())
            seqs[chrom] = seq
            fh.write(f">{chrom}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, n, 60))
    gc100 = {
        c: np.array(
            [
                (s[i : i + 100].count("G") + s[i : i + 100].count("C"))
                / max(len(s[i : i + 100]), 1)
                for i in range(0, len(s), 100)
            ]
        )
        for c, s in seqs.items()
    }
    lines = [
        'name = "tiny"',
        "[genome]",
        'build = "tiny"',
        'fasta = "genome.fa"',
        "[splits]",
        'test = ["chr1"]',
        'valid = ["chr2"]',
    ]
    for cell, scale in CELLS.items():
        acc = {c: scale * (0.5 + rng.random(len(v))) for c, v in gc100.items()}
        k27 = {c: acc[c] * 4.0 * gc100[c] for c in gc100}
        k4 = {
            c: np.where(np.arange(len(v)) < 100, np.nan, 2.0 * gc100[c]) for c, v in gc100.items()
        }
        for name, vals in (("accessibility", acc), ("H3K27ac", k27), ("H3K4me1", k4)):
            _write_bigwig(root / "tracks" / f"{cell}.{name}.bw", vals)
        lines += [
            f"[cell_types.{cell}]",
            f'accessibility = "tracks/{cell}.accessibility.bw"',
            'assay = "DNase"',
            f'marks = {{ H3K27ac = "tracks/{cell}.H3K27ac.bw", '
            f'H3K4me1 = "tracks/{cell}.H3K4me1.bw" }}',
        ]
    manifest = root / "dataset.toml"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest
