"""Variant files (VCF, or a table of chrom, pos, ref, alt) and their sequence windows.

Positions are 1-based, as in VCF. Multi-allelic VCF records become one row per ALT.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from qtlgraph.errors import InputError
from qtlgraph.genome import canonical_chrom
from qtlgraph.inputs import open_text, read_table
from qtlgraph.sequence import GenomeSequence, substitute

COLUMNS = ("chrom", "pos", "ref", "alt", "id")
_ALIASES = {
    "chr": "chrom",
    "chromosome": "chrom",
    "#chrom": "chrom",
    "position": "pos",
    "bp": "pos",
    "ref_allele": "ref",
    "alt_allele": "alt",
    "variant_id": "id",
    "rsid": "id",
}
_ALLELE = r"^[ACGTNacgtn]+$"


WHAT = "variant file (VCF, or a TSV with chrom, pos, ref, alt)"


def read_variants(path: str | Path) -> pd.DataFrame:
    """Read a VCF (``.vcf``/``.vcf.gz``) or a tab-separated table with a header naming
    ``chrom, pos, ref, alt`` (and optionally ``id``).

    Returns:
        DataFrame ``chrom`` (canonical ``chr``), ``pos`` (int64, 1-based), ``ref``, ``alt``
        (upper case), ``id`` (``chrom:pos:ref:alt`` where the file has none).
    """
    path = Path(path)
    with open_text(path, WHAT) as fh:
        first = fh.readline()
    if not first.strip():
        raise InputError(f"{path}: empty {WHAT}")
    df = (
        _read_vcf(path)
        if first.startswith("##fileformat=VCF") or first.startswith("#CHROM")
        else _read_table(path)
    )
    if df.empty:
        raise InputError(f"{path}: no variants (a header but no rows)")
    return _validate(df, path)


def _read_vcf(path: Path) -> pd.DataFrame:
    with open_text(path, WHAT) as fh:
        rows = [
            line.rstrip("\n").split("\t")[:5]
            for line in fh
            if not line.startswith("#") and line.strip()
        ]
    bad = [i for i, r in enumerate(rows) if len(r) < 5]
    if bad:
        raise InputError(f"{path}: VCF record {bad[0] + 1}: expected CHROM POS ID REF ALT columns")
    df = pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"])
    df["alt"] = df["alt"].str.split(",")
    return df.explode("alt", ignore_index=True)


def _read_table(path: Path) -> pd.DataFrame:
    df = read_table(path, WHAT, allow_empty=True, dtype=str, comment=None)
    df.columns = [_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in df.columns]
    missing = [c for c in COLUMNS[:4] if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {missing}; expected a header with chrom, pos, ref, alt"
        )
    return df


def _validate(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    pos = pd.to_numeric(df["pos"], errors="coerce")
    bad = np.flatnonzero(pos.isna().to_numpy() | (pos.fillna(0) < 1).to_numpy())
    if bad.size:
        raise InputError(
            f"{path}: row {bad[0] + 1}: column pos: expected a 1-based integer, "
            f"got {df['pos'].iloc[bad[0]]!r}"
        )
    for col in ("ref", "alt"):
        ok = df[col].fillna("").str.match(_ALLELE)
        if not ok.all():
            i = int(np.flatnonzero(~ok.to_numpy())[0])
            raise InputError(
                f"{path}: row {i + 1}: column {col}: expected A/C/G/T/N letters, "
                f"got {df[col].iloc[i]!r}"
            )
    chrom = df["chrom"].map(canonical_chrom)
    ref, alt = df["ref"].str.upper(), df["alt"].str.upper()
    ids = df["id"] if "id" in df.columns else pd.Series([None] * len(df))
    default = chrom + ":" + pos.astype("int64").astype(str) + ":" + ref + ":" + alt
    ids = ids.where(ids.notna() & (ids != ".") & (ids != ""), default)
    return pd.DataFrame(
        {"chrom": chrom, "pos": pos.astype("int64"), "ref": ref, "alt": alt, "id": ids.astype(str)}
    ).reset_index(drop=True)


class VariantWindows(NamedTuple):
    """Reference and alternative one-hot windows centred on each variant's first base."""

    ref: np.ndarray  # (N, 4, width) float32
    alt: np.ndarray  # (N, 4, width) float32
    offset: int  # position of the variant's first base inside each window


def variant_windows(seq: GenomeSequence, variants: pd.DataFrame, width: int) -> VariantWindows:
    """One-hot windows with the reference and the alternative allele, ref checked.

    Args:
        seq: the genome.
        variants: as returned by :func:`read_variants`.
        width: window length in bp.

    Shapes:
        -> ref, alt: (N, 4, width) float32.

    Raises:
        InputError: naming ``chrom:pos``, the expected and the found base, on a ref mismatch.
    """
    offset = width // 2
    starts = variants["pos"].to_numpy(np.int64) - 1 - offset
    ref = seq.one_hot_many(variants["chrom"].tolist(), starts, width)
    alt = np.empty_like(ref)
    for i, (c, p, r, a) in enumerate(
        zip(variants["chrom"], variants["pos"], variants["ref"], variants["alt"])
    ):
        alt[i] = substitute(ref[i], offset, r, a, where=f"{c}:{p}")
    return VariantWindows(ref, alt, offset)
