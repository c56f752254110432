"""The one FASTA writer: 60 bases a line, the .fai, and BGZF holding the same text."""

import gzip

import numpy as np

from qtlgraph.fasta import write_fasta

SEQS = [("chrA", b"ACGTN" * 13), ("chrB", np.frombuffer(b"G" * 60, np.uint8)), ("chrC", b"")]


def test_lines_and_index_hand_case(tmp_path):
    write_fasta(tmp_path / "x.fa", SEQS)
    a = "ACGTN" * 13
    text = f">chrA\n{a[:60]}\n{a[60:]}\n>chrB\n{'G' * 60}\n>chrC\n"
    assert (tmp_path / "x.fa").read_text() == text
    # offsets: chrA after its 6-byte header; chrB after 6 + 67 (two lines) + 6; chrC 146
    assert (tmp_path / "x.fa.fai").read_text() == (
        "chrA\t65\t6\t60\t61\nchrB\t60\t79\t60\t61\nchrC\t0\t146\t60\t61\n"
    )


def test_bgzf_is_the_same_text(tmp_path):
    write_fasta(tmp_path / "x.fa", SEQS)
    write_fasta(tmp_path / "x.fa.gz", SEQS, bgzf=True)
    assert gzip.decompress((tmp_path / "x.fa.gz").read_bytes()) == (tmp_path / "x.fa").read_bytes()
    assert (tmp_path / "x.fa.gz.fai").read_text() == (tmp_path / "x.fa.fai").read_text()
