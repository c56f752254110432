"""Variant files and windows: VCF and TSV by hand, ref check against the genome."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from qtlgraph.errors import InputError
from qtlgraph.sequence import decode, open_fasta
from qtlgraph.variants import read_variants, variant_windows

VCF = (
    "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "1\t3\trs1\tG\tA,T\t.\t.\t.\nchr1\t10\t.\tc\tG\t.\t.\t.\n"
)


def test_read_vcf_splits_multiallelic(tmp_path):
    path = tmp_path / "v.vcf.gz"
    path.write_bytes(gzip.compress(VCF.encode()))
    df = read_variants(path)
    assert list(df.columns) == ["chrom", "pos", "ref", "alt", "id"]
    assert df.chrom.tolist() == ["chr1"] * 3 and df.pos.tolist() == [3, 3, 10]
    assert df.alt.tolist() == ["A", "T", "G"] and df.ref.tolist() == ["G", "G", "C"]
    assert df.id.tolist() == ["rs1", "rs1", "chr1:10:C:G"]


def test_read_tsv_and_bad_rows(tmp_path):
    path = tmp_path / "v.tsv"
    path.write_text("CHR\tPOS\tREF\tALT\nchr2\t5\tA\tC\n")
    assert read_variants(path).id.tolist() == ["chr2:5:A:C"]
    path.write_text("chrom\tpos\tref\talt\nchr2\tfive\tA\tC\n")
    with pytest.raises(InputError, match="row 1: column pos: expected a 1-based integer"):
        read_variants(path)
    path.write_text("chrom\tpos\tref\talt\nchr2\t5\tA\t<DEL>\n")
    with pytest.raises(InputError, match="row 1: column alt"):
        read_variants(path)
    path.write_text("chrom\tposition\tref\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['alt'\]"):
        read_variants(path)


def test_windows_and_ref_mismatch(tmp_path):
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\nACGTACGTAC\n")
    seq = open_fasta(fa)
    vcf = tmp_path / "v.vcf"
    vcf.write_text(VCF)
    win = variant_windows(seq, read_variants(vcf), 5)
    assert win.offset == 2 and win.ref.shape == (3, 4, 5)
    assert [decode(x) for x in win.ref] == ["ACGTA", "ACGTA", "TACNN"]
    assert [decode(x) for x in win.alt] == ["ACATA", "ACTTA", "TAGNN"]
    vcf.write_text(VCF.replace("chr1\t10\t.\tc", "chr1\t10\t.\tT"))
    with pytest.raises(InputError, match=r"chr1:10: ref allele mismatch: expected 'T'.*found 'C'"):
        variant_windows(seq, read_variants(vcf), 5)
    assert np.array_equal(win.ref[0][:, 2], [0, 0, 1, 0])


_VARIANTS_GZ = gzip.compress(
    b"chrom\tpos\tref\talt\n" + b"".join(b"chr1\t%d\tA\tC\n" % i for i in range(1, 5000))
)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty variant file"),
        (b"chrom\tpos\tref\talt\n", "no variants"),
        (b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n", "no variants"),
        (bytes(range(256)), "binary content"),
        (_VARIANTS_GZ[: len(_VARIANTS_GZ) // 2], "truncated"),
    ],
)
def test_empty_header_only_binary_or_truncated_variants_refused(tmp_path, content, message):
    (tmp_path / "v.tsv").write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_variants(tmp_path / "v.tsv")


def test_bom_before_the_variant_header(tmp_path):
    (tmp_path / "v.tsv").write_bytes(b"\xef\xbb\xbfchrom\tpos\tref\talt\nchr1\t5\ta\tC\n")
    assert read_variants(tmp_path / "v.tsv")["ref"].tolist() == ["A"]
