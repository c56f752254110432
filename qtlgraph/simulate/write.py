"""Writers for the simulated dataset: FASTA + .fai, chrom.sizes, bigWig, gzip text, TOML.

Every writer produces the same bytes for the same input (gzip headers carry no time or
file name), so a seed fixes the whole dataset byte for byte.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from qtlgraph import bigwig, fasta
from qtlgraph.simulate.sequence import SequenceLayout, to_text


def write_fasta(path: Path, codes: np.ndarray, layout: SequenceLayout) -> None:
    """``path`` (60 bases a line) and ``path.fai`` of base codes laid out as ``layout``."""
    fasta.write_fasta(
        path,
        (
            (name, to_text(codes[start : start + n]))
            for name, start, n in zip(layout.chroms, layout.offsets[:-1], layout.lengths)
        ),
    )


def write_chrom_sizes(path: Path, layout: SequenceLayout) -> None:
    path.write_text("".join(f"{c}\t{n}\n" for c, n in zip(layout.chroms, layout.lengths)))


def write_bigwig(
    path: Path, layout: SequenceLayout, tracks: dict[str, np.ndarray], step: int
) -> None:
    """One bigWig from per-chromosome step arrays (NaN steps are left without data).

    Args:
        path: output file.
        layout: chromosome names and lengths.
        tracks: chromosome name -> (ceil(length / step),) values.
        step: bp per value; the last step of a chromosome is clipped to its end.
    """
    sizes = list(zip(layout.chroms, layout.lengths))
    bigwig.write_bigwig(path, sizes, ((c, 0, tracks[c]) for c in layout.chroms), step)


def write_gzip(path: Path, data: bytes) -> None:
    """Gzip without time stamp or name, so equal data gives equal bytes."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(data)


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """Tab-separated with header; gzip when ``path`` ends in ``.gz``."""
    buf = io.StringIO()
    frame.to_csv(buf, sep="\t", index=False, float_format="%.6g", lineterminator="\n")
    data = buf.getvalue().encode()
    if path.suffix == ".gz":
        write_gzip(path, data)
    else:
        path.write_bytes(data)


def _toml_value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def manifest_text(
    name: str,
    cell_types: tuple[str, ...],
    marks: tuple[str, ...],
    qtl_files: dict[tuple[str, str], str],
    assay: str = "ATAC",
) -> str:
    """The ``dataset.toml`` of a simulated dataset (schema: docs/architecture.md)."""
    out = [
        f"name = {_toml_value(name)}",
        "",
        "[genome]",
        'build = "sim"',
        'fasta = "genome.fa"',
        'chrom_sizes = "genome.chrom.sizes"',
        "",
        "[splits]",
        'test = ["chr1", "chr8", "chr21"]',
        'valid = ["chr2"]',
        "",
    ]
    for c in cell_types:
        out += [
            f"[cell_types.{c}]",
            f"accessibility = {_toml_value(f'tracks/{c}.accessibility.bw')}",
            f"assay = {_toml_value(assay)}",
            f"marks = {_toml_value({m: f'tracks/{c}.{m}.bw' for m in marks})}",
            f"qtl = {_toml_value({m: qtl_files[c, m] for m in marks})}",
            'qtl_format = "blueprint"',
            "",
        ]
    out += ["[truth]", 'dir = "truth"', ""]
    return "\n".join(out)
