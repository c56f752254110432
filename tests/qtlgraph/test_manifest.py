"""Dataset manifest: a small dataset written here, and every problem reported at once."""

from __future__ import annotations

import textwrap

import numpy as np
import pyBigWig
import pytest

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex
from qtlgraph.manifest import load_dataset
from qtlgraph.sequence import open_sequence
from qtlgraph.tracks import dataset_accessibility, dataset_targets

SIZES = {"chr1": 30, "chr2": 20, "chr3": 20}


def _bw(path, sizes, value):
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for c, n in sizes.items():
        bw.addEntries([c], [0], ends=[n], values=[float(value)])
    bw.close()


def make_dataset(root, sizes=SIZES, extra=""):
    (root / "tracks").mkdir(parents=True)
    (root / "qtl").mkdir()
    (root / "truth").mkdir()
    (root / "genome.fa").write_text(
        "".join(f">{c}\n{'ACGT' * (n // 4)}{'N' * (n % 4)}\n" for c, n in SIZES.items())
    )
    (root / "genome.chrom.sizes").write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    for i, cell in enumerate(["mono", "neut"]):
        _bw(root / f"tracks/{cell}.acc.bw", sizes, 1 + i)
        _bw(root / f"tracks/{cell}.K27.bw", sizes, 3 + i)
        (root / f"qtl/{cell}_K27AC.txt").write_text(
            "1:10_A_G rs1 1:5:20 0.01 0.1 1 0.01 0.1 0.01\n"
        )
    text = (
        textwrap.dedent("""\
        name = "toy"
        [genome]
        build = "sim"
        fasta = "genome.fa"
        chrom_sizes = "genome.chrom.sizes"
        [splits]
        test = ["chr1"]
        valid = ["2"]
        [cell_types.mono]
        accessibility = "tracks/mono.acc.bw"
        assay = "DNase"
        marks = { H3K27ac = "tracks/mono.K27.bw" }
        qtl = { H3K27ac = "qtl/mono_K27AC.txt" }
        qtl_format = "blueprint"
        [cell_types.neut]
        accessibility = "tracks/neut.acc.bw"
        assay = "atac"
        marks = { H3K27ac = "tracks/neut.K27.bw" }
        qtl = { H3K27ac = "qtl/neut_K27AC.txt" }
        [truth]
        dir = "truth"
        """)
        + extra
    )
    (root / "dataset.toml").write_text(text)
    return root / "dataset.toml"


def test_load_dataset(tmp_path):
    ds = load_dataset(make_dataset(tmp_path))
    assert ds.name == "toy" and ds.root == tmp_path
    assert ds.genome.sizes == SIZES and ds.genome.name == "sim"
    assert ds.fasta == tmp_path / "genome.fa" and ds.onehot is None
    assert ds.cell_type_names == ("mono", "neut") and ds.marks == ("H3K27ac",)
    mono, neut = ds.cell_types
    assert mono.assay == "DNase" and neut.assay == "ATAC"
    assert mono.marks["H3K27ac"] == tmp_path / "tracks/mono.K27.bw"
    assert mono.qtl_format == "blueprint" and neut.qtl_format == "auto"
    assert ds.split.test == ("chr1",) and ds.split.valid == ("chr2",)
    assert ds.truth_dir == tmp_path / "truth"
    assert open_sequence(ds).fetch("chr3", 0, 6) == "ACGTAC"


def test_dataset_targets_and_accessibility(tmp_path):
    ds = load_dataset(make_dataset(tmp_path))
    index = BinIndex(ds.genome, 10)  # 3 + 2 + 2 bins
    y = dataset_targets(ds, index)
    assert y.shape == (2, 1, 7)
    np.testing.assert_allclose(y[:, 0, 0], [3, 4])
    acc = dataset_accessibility(ds, index)
    np.testing.assert_allclose(acc, 1.5)  # constant tracks 1 and 2 normalise to their mean


def test_all_problems_reported_at_once(tmp_path):
    path = make_dataset(
        tmp_path,
        extra='[cell_types.tcel]\naccessibility = "tracks/nope.bw"\n'
        'assay = "ChIP"\nmarks = { H3K27ac = "tracks/gone.bw" }\n',
    )
    (tmp_path / "qtl/neut_K27AC.txt").unlink()
    with pytest.raises(InputError) as err:
        load_dataset(path)
    msg = str(err.value)
    lines = msg.splitlines()
    assert "4 problem(s)" in lines[0]
    assert any(
        "[cell_types.tcel] accessibility: file not found" in x and "nope.bw" in x for x in lines
    )
    assert any("[cell_types.tcel] assay: expected one of" in x and "'ChIP'" in x for x in lines)
    assert any(
        "[cell_types.tcel] marks.H3K27ac: file not found" in x and "gone.bw" in x for x in lines
    )
    assert any("[cell_types.neut] qtl.H3K27ac: file not found" in x for x in lines)


def test_bigwig_lacking_a_chromosome(tmp_path):
    path = make_dataset(tmp_path, sizes={"chr1": 30, "chr2": 20})
    with pytest.raises(
        InputError, match=r"accessibility \(.*mono.acc.bw\): lacks chromosome\(s\) \['chr3'\]"
    ):
        load_dataset(path)
    assert load_dataset(path, missing="nan").name == "toy"


def test_bigwig_with_wrong_lengths(tmp_path):
    path = make_dataset(tmp_path, sizes={"chr1": 31, "chr2": 20, "chr3": 20})
    with pytest.raises(InputError, match="mono.K27.bw.*chr1 is 31 bp, expected 30"):
        load_dataset(path)


def test_fasta_disagrees_with_chrom_sizes(tmp_path):
    path = make_dataset(tmp_path)
    (tmp_path / "genome.chrom.sizes").write_text("chr1\t30\nchr2\t25\nchr3\t20\n")
    with pytest.raises(InputError, match=r"\[genome\] fasta .*chr2 is 20 bp, expected 25"):
        load_dataset(path)


def test_fasta_disagrees_with_build(real_data, tmp_path):
    fasta = real_data / "hg38_chr2_seq" / "chr2_1-2333275.fa.gz"
    (tmp_path / "d.toml").write_text(
        f'[genome]\nbuild = "hg38"\nfasta = "{fasta}"\n[splits]\ntest = ["chr2"]\nvalid = []\n'
        '[cell_types.x]\naccessibility = "a.bw"\nassay = "DNase"\nmarks = { H3K27ac = "b.bw" }\n'
    )
    with pytest.raises(InputError) as err:
        load_dataset(tmp_path / "d.toml")
    assert "[genome] build (hg38): chromosome lengths disagree with [genome] fasta" in str(
        err.value
    )
    assert "chr2 is 242193529 bp, expected 2333275" in str(err.value)


def test_bad_toml_and_missing_manifest(tmp_path):
    (tmp_path / "bad.toml").write_text("name = \n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_dataset(tmp_path / "bad.toml")
    with pytest.raises(InputError, match="manifest not found"):
        load_dataset(tmp_path / "none.toml")


def test_split_names_must_be_in_the_genome(tmp_path):
    path = make_dataset(tmp_path)
    text = path.read_text()
    path.write_text(text.replace('test = ["chr1"]', 'test = ["chr1", "chr21", "chrom3"]'))
    with pytest.raises(InputError) as err:
        load_dataset(path)
    lines = str(err.value).splitlines()
    assert "2 problem(s)" in lines[0]
    assert (
        "[splits] test: chromosome 'chr21' is not in genome sim (has chr1, chr2, chr3)" in lines[1]
    )
    assert "[splits] test: chromosome 'chrom3' is not in genome sim" in lines[2]
    path.write_text(text.replace('valid = ["2"]', 'valid = "chr2"'))
    with pytest.raises(
        InputError, match=r"\[splits\] valid: expected a list of chromosome names, got 'chr2'"
    ):
        load_dataset(path)


def test_default_split_keeps_the_chromosomes_present(tmp_path):
    path = make_dataset(tmp_path)
    text = path.read_text()
    path.write_text(text.replace('[splits]\ntest = ["chr1"]\nvalid = ["2"]\n', ""))
    split = load_dataset(path).split  # defaults chr1, chr8, chr21 / chr2 on a chr1-3 genome
    assert split.test == ("chr1",) and split.valid == ("chr2",)
    path.write_text(text.replace('test = ["chr1"]\n', ""))  # only valid given: test defaults
    assert load_dataset(path).split.test == ("chr1",)
    path.write_text(text.replace('test = ["chr1"]\n', "").replace('valid = ["2"]', 'valid = ["1"]'))
    with pytest.raises(InputError, match="both test and validation"):
        load_dataset(path)


def test_default_split_without_any_test_chromosome(tmp_path):
    path = make_dataset(tmp_path)
    text = path.read_text().replace('[splits]\ntest = ["chr1"]\nvalid = ["2"]\n', "")
    path.write_text(text.replace('chrom_sizes = "genome.chrom.sizes"\n', ""))
    (tmp_path / "genome.fa").write_text(">chr2\nACGT\n>chr3\nACGT\n")
    with pytest.raises(InputError) as err:
        load_dataset(path, missing="nan")
    assert (
        "[splits] test: none of the default test chromosomes ['chr1', 'chr8', 'chr21'] "
        "is in genome sim" in str(err.value)
    )


def test_bom_is_stripped_and_binary_manifest_refused(tmp_path):
    path = make_dataset(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_dataset(path).name == "toy"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(InputError, match="binary content"):
        load_dataset(path)
