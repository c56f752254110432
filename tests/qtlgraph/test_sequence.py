"""Sequence: one-hot by hand, FASTA (plain and bgzip) and four-bigWig genomes, substitution."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pyBigWig
import pytest
from Bio import bgzf

from qtlgraph.errors import InputError
from qtlgraph.sequence import (
    decode,
    fasta_index,
    fasta_sizes,
    index_cache_dir,
    one_hot,
    open_codes,
    open_fasta,
    open_onehot_bigwigs,
    substitute,
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Indexes of read-only FASTA go to a cache inside the test's folder."""
    monkeypatch.setenv("QTLGRAPH_CACHE_DIR", str(tmp_path / "cache"))


A, C, G, T, Z = [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]


def test_one_hot_by_hand():
    x = one_hot("ACgtNRa")
    np.testing.assert_array_equal(x.T, [A, C, G, T, Z, Z, A])
    assert x.shape == (4, 7) and x.dtype == np.float32
    assert decode(x) == "ACGTNNA"


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "toy.fa"
    # chr1 = ACGTNacgtA CCCC (14 bp, lines of 5), chr2 = GGGTTT
    path.write_text(">chr1 first\nACGTN\nacgtA\nCCCC\n>2\nGGGTT\nT\n")
    return path


def test_fasta_windows_and_padding(fasta):
    seq = open_fasta(fasta)
    assert seq.sizes == {"chr1": 14, "chr2": 6}
    assert seq.fetch("chr1", 3, 12) == "TNACGTACC"
    assert seq.fetch("chr2", -2, 3) == "NNGGG"
    assert seq.fetch("2", 4, 9) == "TTNNN"
    np.testing.assert_array_equal(seq.one_hot("chr1", 2, 6).T, [G, T, Z, A])
    many = seq.one_hot_many(["chr1", "chr2"], [0, 3], 4)
    assert many.shape == (2, 4, 4)
    assert decode(many[0]) == "ACGT" and decode(many[1]) == "TTTN"
    with pytest.raises(InputError, match="no chromosome"):
        seq.fetch("chr9", 0, 3)


def test_plain_fasta_gets_fai_beside_it(fasta):
    assert fasta_index(fasta) == {
        "chr1": (14, 12, 5, 6),
        "2": (6, 32, 5, 6),
    }  # 32 = 12 + 17 + 3 bytes
    assert (fasta.parent / "toy.fa.fai").read_text().startswith("chr1\t14\t12\t5\t6")


def _bgzip(src, dest):
    with bgzf.BgzfWriter(str(dest), "wb") as out:
        out.write(src.read_bytes())


def test_bgzip_in_read_only_folder_is_indexed_in_the_cache(fasta, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    _bgzip(fasta, folder / "toy.fa.gz")
    folder.chmod(0o555)
    try:
        seq = open_fasta(folder / "toy.fa.gz")
        assert seq.sizes == {"chr1": 14, "chr2": 6}
        assert seq.fetch("chr1", 3, 12) == "TNACGTACC" and seq.fetch("chr2", 4, 8) == "TTNN"
        assert sorted(p.name for p in folder.iterdir()) == ["toy.fa.gz"]
        cached = sorted(p.name for p in index_cache_dir().rglob("toy.fa.gz.*"))
        assert cached == ["toy.fa.gz.fai", "toy.fa.gz.gzi"]
        assert open_fasta(folder / "toy.fa.gz").fetch("2", 0, 3) == "GGG"  # cached index reused
    finally:
        folder.chmod(0o755)


def test_many_windows_match_single_reads_and_survive_fork(tmp_path):
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("ACGTNacgt"), 300_000))
    path = tmp_path / "r.fa"
    path.write_text(
        ">chrA\n" + "\n".join(text[i : i + 70] for i in range(0, len(text), 70)) + "\n>chrB\nACGT\n"
    )
    seq = open_fasta(path)
    starts = np.concatenate(
        [rng.integers(-50, 300_050, 40), [5, 5, 150_000]]
    )  # near, far, off the ends
    chroms = ["chrA"] * len(starts)
    chroms[3] = "chrB"
    many = seq.one_hot_many(chroms, starts, 100)
    for x, c, s in zip(many, chroms, starts):
        np.testing.assert_array_equal(x, seq.one_hot(c, int(s), int(s) + 100))
    assert decode(many[41]) == text[5:105].upper()
    clone = pickle.loads(pickle.dumps(seq))  # spawn-started workers
    assert clone.fetch("chrA", 10, 20) == text[10:20].upper()
    pid = os.fork()  # fork-started workers reopen the file
    if pid == 0:
        os._exit(0 if seq.fetch("chrA", 200, 260) == text[200:260].upper() else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert seq.fetch("chrA", 299_990, 300_010) == text[299_990:].upper() + "N" * 10


def test_bgzip_with_wrong_name_and_plain_gzip(fasta, tmp_path):
    _bgzip(fasta, tmp_path / "toy_bgzf.fa")
    with pytest.raises(InputError, match="should end in .gz or .bgz"):
        open_fasta(tmp_path / "toy_bgzf.fa")
    with pytest.raises(InputError, match="FASTA file not found"):
        open_fasta(tmp_path / "nope.fa")


def test_plain_gzip_fasta_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    text = "".join(rng.choice(list("ACGTN"), 200_000))
    plain = tmp_path / "big.fa"
    plain.write_text(
        ">chrA\n" + "\n".join(text[i : i + 60] for i in range(0, len(text), 60)) + "\n"
    )
    gz = tmp_path / "big.fa.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(
        InputError, match="plain gzip FASTA cannot be read at random positions.*bgzip"
    ):
        open_fasta(gz)


def test_onehot_bigwig_genome(tmp_path):
    seq_text = "ACGTNA"
    paths = {}
    for b in "ACGT":
        paths[b] = tmp_path / f"{b}.bw"
        bw = pyBigWig.open(str(paths[b]), "w")
        bw.addHeader([("chr1", 6)])
        vals = [1.0 if s == b else 0.0 for s in seq_text]
        bw.addEntries("chr1", 0, values=vals, span=1, step=1)
        bw.close()
    seq = open_onehot_bigwigs(paths)
    assert seq.sizes == {"chr1": 6}
    assert seq.fetch("chr1", 0, 8) == "ACGTNANN"
    np.testing.assert_array_equal(seq.one_hot("chr1", 3, 6).T, [T, Z, A])


def test_substitute_snv_and_indel():
    x = one_hot("ACGTA")
    assert decode(substitute(x, 2, "G", "T")) == "ACTTA"
    assert decode(substitute(x, 1, "C", "CGG")) == "ACGGG"
    assert decode(substitute(x, 1, "CG", "C")) == "ACTAN"
    with pytest.raises(InputError, match=r"chr2:100: ref allele mismatch: expected 'A'.*found 'G'"):
        substitute(x, 2, "a", "T", where="chr2:100")


def test_real_bgzip_chr2(real_data):
    seq = open_fasta(real_data / "hg38_chr2_seq" / "chr2_1-2333275.fa.gz")
    assert seq.sizes == {"chr2": 2_333_275}
    assert not seq.one_hot("chr2", 0, 10_000).any()  # the first 10 kb are N
    window = seq.fetch("chr2", 10_000, 10_100)
    assert set(window) <= set("ACGT") and len(window) == 100
    x = seq.one_hot("chr2", 10_000, 10_100)
    np.testing.assert_array_equal(x.sum(axis=0), 1)
    tail = seq.fetch("chr2", 2_333_270, 2_333_280)
    assert tail.endswith("NNNNN") and set(tail[:5]) <= set("ACGTN")


def test_real_bgzip_chr1_without_index(real_data, tmp_path):
    src = real_data / "hg38_chr1_1mb" / "hg38_1m.fa.gz"  # bgzip, no .fai, read-only folder
    before = sorted(p.name for p in src.parent.iterdir())
    assert fasta_sizes(src) == {"chr1": 1_000_000}
    assert sorted(p.name for p in src.parent.iterdir()) == before  # index went to the cache
    seq = open_fasta(src)
    plain = tmp_path / "chr1_1mb.fa"
    plain.write_bytes(gzip.decompress(src.read_bytes()))
    assert seq.fetch("chr1", 123_456, 124_000) == open_fasta(plain).fetch("chr1", 123_456, 124_000)
    assert seq.sizes == {"chr1": 1_000_000}
    assert seq.fetch("chr1", 0, 10_000) == "N" * 10_000
    assert np.count_nonzero(seq.one_hot("chr1", 0, 1_000_000).sum(axis=0) == 0) == pytest.approx(
        160_000, rel=0.05
    )


def _toy_dataset(fasta, bin_size=4):
    from types import SimpleNamespace

    from qtlgraph.genome import Genome

    # chr2 first: the bin index follows the genome's order, not the FASTA's
    return SimpleNamespace(
        fasta=fasta, onehot=None, genome=Genome("toy", ("chr2", "chr1"), (6, 14))
    )


def test_codes_cache_holds_every_bin_n_padded(fasta, tmp_path):
    codes = open_codes(_toy_dataset(fasta), 4, progress=False)
    # chr2 GGGTTT -> 2 bins, chr1 ACGTNacgtACCCC -> 4 bins; N (4) past each end
    expected = [
        [2, 2, 2, 3],
        [3, 3, 4, 4],
        [0, 1, 2, 3],
        [4, 0, 1, 2],
        [3, 0, 1, 1],
        [1, 1, 4, 4],
    ]
    assert codes.shape == (6, 4) and len(codes) == 6 and codes.dtype == np.uint8
    np.testing.assert_array_equal(codes[np.arange(6)], expected)
    np.testing.assert_array_equal(codes[[5, 0, 5, 2, 3]], np.asarray(expected)[[5, 0, 5, 2, 3]])
    # rows 2 and 3 are one read landing on output rows 2 and 0: scattered
    np.testing.assert_array_equal(codes[[3, 5, 2]], np.asarray(expected)[[3, 5, 2]])
    np.testing.assert_array_equal(codes[1:4], expected[1:4])
    np.testing.assert_array_equal(codes[-1], expected[-1])
    assert codes[np.array([], dtype=np.int64)].shape == (0, 4)
    with pytest.raises(IndexError):
        codes[[6]]
    assert (tmp_path / "cache" / "codes").is_dir()  # $QTLGRAPH_CACHE_DIR is used when set


def test_codes_cache_is_reused_and_keyed_by_the_fasta(fasta, monkeypatch):
    monkeypatch.delenv("QTLGRAPH_CACHE_DIR")
    first = open_codes(_toy_dataset(fasta), 4, progress=False)
    assert first.path.parent == fasta.parent  # beside a FASTA in a writable folder
    stamp = first.path.stat().st_mtime_ns
    again = open_codes(_toy_dataset(fasta), 4, progress=False)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    assert open_codes(_toy_dataset(fasta), 2, progress=False).path != first.path  # bin size
    fasta.write_text(">chr1\nTTTTTTTTTTTTTT\n>chr2\nAAAAAA\n")  # replaced: new size and mtime
    replaced = open_codes(_toy_dataset(fasta), 4, progress=False)
    assert replaced.path != first.path
    assert replaced[0].tolist() == [0, 0, 0, 0] and replaced[2].tolist() == [3, 3, 3, 3]
    assert not list(fasta.parent.glob(".*.tmp"))  # written under a temporary name, renamed


def test_codes_match_windows_read_from_the_fasta_and_survive_fork(tmp_path):
    from types import SimpleNamespace

    from qtlgraph.encoders.bin_dataset import sequence_codes
    from qtlgraph.genome import BinIndex, Genome

    rng = np.random.default_rng(1)
    text = "".join(rng.choice(list("ACGTNacgt"), 25_013))
    path = tmp_path / "r.fa"
    path.write_text(">chrA\n" + "\n".join(text[i : i + 60] for i in range(0, len(text), 60)) + "\n")
    genome = Genome("r", ("chrA",), (25_013,))
    codes = open_codes(SimpleNamespace(fasta=path, onehot=None, genome=genome), 1000)
    index = BinIndex(genome, 1000)
    bins = rng.permutation(index.n_bins)
    np.testing.assert_array_equal(codes[bins], sequence_codes(open_fasta(path), index, bins))
    clone = pickle.loads(pickle.dumps(codes))
    np.testing.assert_array_equal(clone[[3, 25]], codes[[3, 25]])
    pid = os.fork()  # forked DataLoader workers reopen the file
    if pid == 0:
        os._exit(0 if np.array_equal(codes[7:9], clone[[7, 8]]) else 1)
    assert os.waitpid(pid, 0)[1] == 0
