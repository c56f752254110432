"""Telling a QTL table's layout from its first line (or parquet schema).

Also the small file probes the readers share: gzip or parquet magic, the first lines of a
plain or gzip text file, and a line's fields.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

from qtlgraph.errors import InputError
from qtlgraph.qtl_formats import FORMATS


def magic(path: Path) -> bytes:
    """The first 4 bytes (``PAR1`` for parquet)."""
    with open(path, "rb") as fh:
        return fh.read(4)


def is_gzip(path: Path) -> bool:
    return magic(path)[:2] == b"\x1f\x8b"


def first_lines(path: Path, n: int = 2) -> list[str]:
    """The first ``n`` non-empty lines of a plain or gzip text file."""
    opener = gzip.open if is_gzip(path) else open
    lines: list[str] = []
    try:
        with opener(path, "rt", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) == n:
                    break
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip file ({exc})") from None
    if not lines:
        raise InputError(f"{path}: empty file (no rows)")
    lines[0] = lines[0].removeprefix("\ufeff")  # a UTF-8 byte-order mark is not a column name
    return lines


def split_fields(line: str, sep: str | None = None) -> list[str]:
    if sep is None:
        sep = "\t" if "\t" in line else " "
    return line.split(sep)


def _detect_header(tokens: set[str], first: str) -> str | None:
    if {"gene_chr", "qval", "variant_pos"} <= tokens:
        return "gtex-egenes"
    if "molecular_trait_id" in tokens:
        return "eqtlcatalogue"
    if first == "phe_id":
        return "qtltools-permutation" if "adj_beta_pval" in tokens else "qtltools-nominal"
    if {"SNP", "PHENOTYPEID"} <= tokens:
        return "blueprint-reformatted"
    if {"phenotype_id", "variant_id", "pval_nominal"} <= tokens:
        return "tensorqtl"
    if {"variant_id", "gene_id", "pval_nominal"} <= tokens:
        return "gtex-pairs"
    return None


def detect_format(path: str | Path) -> str:
    """The layout name of a QTL table, from its first line (or parquet schema).

    Raises:
        InputError: the file is empty or its layout is not one qtlgraph knows.
    """
    path = Path(path)
    if magic(path) == b"PAR1":
        import pyarrow.parquet as pq

        names = set(pq.ParquetFile(path).schema_arrow.names)
        fmt = _detect_header(names, "")
        if fmt not in ("tensorqtl", "gtex-pairs"):
            raise InputError(
                f"{path}: parquet without tensorQTL columns "
                "(phenotype_id, variant_id, pval_nominal)"
            )
        return fmt
    first = first_lines(path, 1)[0]
    fields = split_fields(first)
    fmt = _detect_header(set(fields), fields[0])
    if fmt:
        return fmt
    if (
        len(fields) == 9
        and re.match(r"^[^:\s]+:\d+", fields[0])
        and re.match(r"^[^:\s]+:\d+:\d+$", fields[2])
    ):
        return "blueprint"
    if len(fields) in (15, 16, 19) and fields[4] in ("+", "-", ".") and fields[2].isdigit():
        return "qtltools-permutation" if len(fields) == 19 else "qtltools-nominal"
    raise InputError(
        f"{path}: cannot tell the table's layout from its first line "
        f"({first[:80]!r}); give --format (one of {', '.join(FORMATS[1:])})"
    )
