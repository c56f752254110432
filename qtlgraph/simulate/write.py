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

from qtlgraph.simulate.sequence import SequenceLayout, to_text

LINE = 60


def write_fasta(path: Path, codes: np.ndarray, layout: SequenceLayout) -> None:
    """``path`` (60 bases a line) and ``path.fai`` (name, length, offset, 60, 61)."""
    fai, offset = [], 0
    with open(path, "wb") as fh:
        for name, start, n in zip(layout.chroms, layout.offsets[:-1], layout.lengths):
            header = f">{name}\n".encode()
            fh.write(header)
            offset += len(header)
            fai.append(f"{name}\t{n}\t{offset}\t{LINE}\t{LINE + 1}\n")
            text = np.frombuffer(to_text(codes[start : start + n]), dtype=np.uint8)
            full = (n // LINE) * LINE
            body = np.full((n // LINE, LINE + 1), ord("\n"), dtype=np.uint8)
            body[:, :LINE] = text[:full].reshape(-1, LINE)
            fh.write(body.tobytes())
            rest = text[full:].tobytes()
            fh.write(rest + b"\n" if rest else b"")
            offset += body.size + (len(rest) + 1 if rest else 0)
    Path(f"{path}.fai").write_text("".join(fai))


def write_chrom_sizes(path: Path, layout: SequenceLayout) -> None:
    path.write_text("".join(f"{c}\t{n}\n" for c, n in zip(layout.chroms, layout.lengths)))


def constant_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as (start, end) index pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


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
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(zip(layout.chroms, [int(n) for n in layout.lengths])), maxZooms=10)
    for chrom, n in zip(layout.chroms, layout.lengths):
        values = np.asarray(tracks[chrom], dtype=np.float64)
        full = int(n) // step
        for a, b in constant_runs(~np.isnan(values)):
            head = min(b, full)
            if head > a:
                bw.addEntries(chrom, a * step, values=values[a:head], span=step, step=step)
            if b > full:  # the clipped last step
                bw.addEntries([chrom], [full * step], ends=[int(n)], values=[float(values[full])])
    bw.close()


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
