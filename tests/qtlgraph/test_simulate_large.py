"""The hosted (``large``-style) simulation: blocks placed into a bigger genome's coordinates."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from qtlgraph.genome import BinIndex, load_genome
from qtlgraph.simulate import PRESETS, Preset, simulate
from qtlgraph.simulate.large import _shift_ids

HOST = {"chr1": 1_300_000, "chr2": 1_100_000, "chr3": 1_000_000, "chr8": 900_000, "chr21": 800_000}


def test_large_preset_is_hg38_in_blocks():
    p = PRESETS["large"]
    hg38 = load_genome("hg38")
    assert p.chroms == hg38.chroms and p.host == "hg38"
    assert BinIndex(hg38, 10_000).n_bins == 303_114
    assert all(n % 10_000 == 0 and 0 < n < 0.05 * h for n, h in zip(p.lengths, hg38.lengths))


def test_shift_ids_hand_computed():
    offsets = {"chr1": 1000, "chr21": 50}
    assert _shift_ids(pd.Series(["1:12_A_G", "21:3_C_T"]), "_", offsets, 1).tolist() == [
        "1:1012_A_G",
        "21:53_C_T",
    ]
    assert _shift_ids(pd.Series(["21:100:200"]), ":", offsets, 2).tolist() == ["21:150:250"]


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    root = tmp_path_factory.mktemp("hosted")
    sizes = root / "host.chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in HOST.items()))
    PRESETS["_hosted_test"] = Preset(
        "hosted", (300_000,) * 5, telomere=10_000, centromere=0, chroms=tuple(HOST), host=str(sizes)
    )
    try:
        simulate(root / "data", seed=2, preset="_hosted_test", progress=False)
    finally:
        del PRESETS["_hosted_test"]
    return root / "data"


@pytest.mark.slow
def test_hosted_dataset_reads_in_host_coordinates(hosted):
    import pyBigWig

    from qtlgraph.manifest import load_dataset
    from qtlgraph.sequence import open_sequence

    ds = load_dataset(hosted / "dataset.toml")
    assert dict(zip(ds.genome.chroms, ds.genome.lengths)) == HOST
    place = pd.read_csv(hosted / "truth" / "placement.tsv", sep="\t")
    # offsets: 10% of each chromosome, rounded down to a bin
    assert place["offset"].tolist() == [130_000, 110_000, 100_000, 90_000, 80_000]
    seq = open_sequence(ds)
    assert set(seq.fetch("chr1", 0, 130_000)) == {"N"} and set(
        seq.fetch("chr1", 430_000, 1_300_000)
    ) == {"N"}
    assert set(seq.fetch("chr1", 150_000, 160_000)) <= set("ACGT")
    bw = pyBigWig.open(str(hosted / "tracks" / "mono.H3K27ac.bw"))
    assert np.isnan(bw.values("chr2", 0, 110_000, numpy=True)).all()
    assert np.isfinite(bw.values("chr2", 150_000, 160_000, numpy=True)).mean() > 0.5
    lines = (
        gzip.decompress((hosted / "qtl" / "mono_H3K27ac.txt.gz").read_bytes()).decode().splitlines()
    )
    assert lines
    for line in lines[:200]:  # every SNP's ref base is the FASTA base at its shifted position
        chrom, rest = line.split()[0].split(":")
        pos, ref, _ = rest.split("_")
        assert seq.fetch("chr" + chrom, int(pos) - 1, int(pos)) == ref


@pytest.mark.slow
def test_hosted_truth_uses_host_bin_ids(hosted):
    place = pd.read_csv(hosted / "truth" / "placement.tsv", sep="\t")
    links = pd.read_csv(hosted / "truth" / "links.tsv", sep="\t")
    bins = pd.read_csv(hosted / "truth" / "bins.tsv.gz", sep="\t")
    index = BinIndex(load_genome(str(hosted / "genome.chrom.sizes")), 10_000)
    first = dict(zip(place["chrom"], place["first_bin"]))
    assert len(links) > 0 and len(bins) == 5 * 30
    for side in ("source", "target"):
        b = links[f"{side}_bin"].to_numpy()
        assert (index.starts(b) == links[f"{side}_start"]).all()
        assert (b >= links[f"{side}_chrom"].map(first)).all() and (
            b < links[f"{side}_chrom"].map(first) + 30
        ).all()
    assert (index.starts(bins["bin"].to_numpy()) == bins["start"]).all()
