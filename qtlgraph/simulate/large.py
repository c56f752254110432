"""The ``large`` preset: simulated blocks placed into a real genome's coordinates (hg38).

Simulating and writing 3.1 Gb of sequence and base-resolution tracks would take hours
and tens of GB, so the ``large`` preset simulates one block per chromosome (a fixed
fraction of its length, see :func:`qtlgraph.simulate.large_preset`) with the ordinary
generative model, then places every block at a bin-aligned offset (10% into the
chromosome) of the real hg38 chromosomes:

- ``genome.fa.gz``: bgzip FASTA (+ ``.fai``) of the full hg38 lengths, N outside blocks;
- bigWigs with hg38 chromosome sizes, 20 bp steps inside blocks, no data elsewhere;
- QTL tables, ``truth/`` tables and bins shifted into hg38 coordinates and bin ids;
- ``truth/placement.tsv``: chromosome, block length, offset, first bin.

So every genome-wide stage (build, embed, train, evaluate) sees all 303,114 bins of hg38
through the same readers as real data, while only the blocks carry signal and links.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from qtlgraph.bigwig import write_bigwig
from qtlgraph.fasta import write_fasta
from qtlgraph.genome import BinIndex, Genome, load_genome
from qtlgraph.simulate import model as sim
from qtlgraph.simulate.output import write_dataset
from qtlgraph.simulate.write import write_chrom_sizes, write_gzip, write_table

STEP = 20
PLACE_AT = 0.1  # block start, as a fraction of the chromosome (rounded down to a bin)


def placement(preset, host: Genome, bin_size: int) -> pd.DataFrame:
    """Where each block goes: ``chrom, block_length, offset, first_bin`` (hg38 bin id)."""
    index = BinIndex(host, bin_size)
    offset = [int(PLACE_AT * host.sizes[c]) // bin_size * bin_size for c in preset.chroms]
    first = [index.chrom_slice(c).start + o // bin_size for c, o in zip(preset.chroms, offset)]
    return pd.DataFrame(
        {
            "chrom": list(preset.chroms),
            "block_length": list(preset.lengths),
            "offset": offset,
            "first_bin": first,
        }
    )


def _bin_map(preset, place: pd.DataFrame, bin_size: int) -> np.ndarray:
    """Compact (block) global bin id -> host bin id. Shapes: (n_compact_bins,) int64."""
    n = [-(-int(x) // bin_size) for x in preset.lengths]
    return np.concatenate([f + np.arange(k) for f, k in zip(place["first_bin"], n)]).astype(
        np.int64
    )


def _place_fasta(compact: Path, root: Path, host: Genome, place: pd.DataFrame) -> None:
    """BGZF FASTA of ``host``: N everywhere but the blocks, at their offsets."""
    import pyfaidx

    fa = pyfaidx.Fasta(str(compact / "genome.fa"), as_raw=True, sequence_always_upper=True)
    blocks = {c: (int(o), str(fa[c][:]).encode()) for c, o in zip(place["chrom"], place["offset"])}
    fa.close()

    def chromosomes():
        for chrom, n in zip(host.chroms, host.lengths):
            seq = np.full(n, ord("N"), dtype=np.uint8)
            if chrom in blocks:
                off, text = blocks[chrom]
                seq[off : off + len(text)] = np.frombuffer(text, dtype=np.uint8)
            yield chrom, seq

    write_fasta(root / "genome.fa.gz", chromosomes(), bgzf=True)


def _place_bigwig(src: Path, dst: Path, host: Genome, place: pd.DataFrame) -> None:
    """Copy a 20 bp-step bigWig's values into host coordinates (no data outside blocks)."""
    import pyBigWig

    offsets = dict(zip(place["chrom"], place["offset"]))
    inp = pyBigWig.open(str(src))

    def steps():
        for chrom in host.chroms:
            if chrom in offsets:
                n = inp.chroms(chrom)
                values = inp.values(chrom, 0, n, numpy=True)
                yield chrom, int(offsets[chrom]), np.asarray(values, dtype=np.float64)[::STEP]

    write_bigwig(dst, list(zip(host.chroms, host.lengths)), steps(), STEP)
    inp.close()


def _shift_ids(chrom_pos: pd.Series, sep: str, offsets: dict[str, int], fields: int) -> pd.Series:
    """Shift the first ``fields`` numbers after ``chrom:`` (``1:123_A_G``, ``1:10:20``)."""
    head = chrom_pos.str.split(":", n=1, expand=True)
    shift = ("chr" + head[0]).map(offsets).astype(np.int64)
    parts = head[1].str.split(sep, expand=True)
    for i in range(fields):
        parts[i] = (parts[i].astype(np.int64) + shift).astype(str)
    return head[0] + ":" + parts.astype(str).agg(sep.join, axis=1)


def _place_tables(compact: Path, root: Path, offsets: dict[str, int]) -> None:
    (root / "qtl").mkdir()
    for path in sorted((compact / "qtl").glob("*.txt.gz")):
        t = pd.read_csv(path, sep=" ", header=None, dtype=str, keep_default_na=False)
        if len(t):
            t[0] = _shift_ids(t[0], "_", offsets, 1)
            t[2] = _shift_ids(t[2], ":", offsets, 2)
        write_gzip(
            root / "qtl" / path.name,
            t.to_csv(sep=" ", header=False, index=False, lineterminator="\n").encode(),
        )


def _place_truth(
    compact: Path, root: Path, offsets: dict[str, int], bins: np.ndarray, place: pd.DataFrame
) -> None:
    src, dst = compact / "truth", root / "truth"
    dst.mkdir()
    links = pd.read_csv(src / "links.tsv", sep="\t")
    for side in ("source", "target"):
        links[f"{side}_bin"] = bins[links[f"{side}_bin"]]
        links[f"{side}_start"] += links[f"{side}_chrom"].map(offsets)
    links["anchor"] += links["target_chrom"].map(offsets)
    write_table(dst / "links.tsv", links)
    frame = pd.read_csv(src / "bins.tsv.gz", sep="\t")
    frame["bin"] = bins[frame["bin"]]
    shift = frame["chrom"].map(offsets)
    frame["start"] += shift
    frame["end"] += shift
    write_table(dst / "bins.tsv.gz", frame)
    var = pd.read_csv(
        src / "variants.tsv.gz", sep="\t", dtype={"variant_id": str, "phenotype_id": str}
    )
    if len(var):
        var["variant_id"] = _shift_ids(var["variant_id"], "_", offsets, 1)
        var["phenotype_id"] = _shift_ids(var["phenotype_id"], ":", offsets, 2)
        var["snp_bin"] = bins[var["snp_bin"]]
        var["target_bin"] = np.where(
            var["target_bin"] >= 0, bins[var["target_bin"].clip(lower=0)], -1
        )
    write_table(dst / "variants.tsv.gz", var)
    occ = pd.read_csv(src / "motif_instances.tsv.gz", sep="\t")
    occ["start"] += occ["chrom"].map(offsets)
    write_table(dst / "motif_instances.tsv.gz", occ)
    shutil.copy(src / "motifs.tsv", dst / "motifs.tsv")
    write_table(dst / "placement.tsv", place)


def write_hosted(root: Path, seed: int, preset, distal: bool, progress: bool = True) -> dict:
    """Simulate ``preset``'s blocks, then write the dataset in ``preset.host`` coordinates."""
    from tqdm import tqdm

    compact = root / ".blocks"
    compact.mkdir()
    summary = write_dataset(compact, seed, preset, distal, progress)
    host = load_genome(preset.host)
    place = placement(preset, host, sim.BIN_SIZE)
    offsets = dict(zip(place["chrom"], place["offset"].astype(np.int64)))
    steps = ["fasta", "tracks", "tables", "truth"]
    for step in tqdm(steps, desc="placing into " + host.name, disable=not progress):
        if step == "fasta":
            _place_fasta(compact, root, host, place)
        elif step == "tracks":
            (root / "tracks").mkdir()
            for bw in sorted((compact / "tracks").glob("*.bw")):
                _place_bigwig(bw, root / "tracks" / bw.name, host, place)
        elif step == "tables":
            _place_tables(compact, root, offsets)
        else:
            _place_truth(compact, root, offsets, _bin_map(preset, place, sim.BIN_SIZE), place)
    write_chrom_sizes(root / "genome.chrom.sizes", _HostLayout(host.chroms, host.lengths))
    text = (
        (compact / "dataset.toml")
        .read_text()
        .replace('fasta = "genome.fa"', 'fasta = "genome.fa.gz"')
    )
    (root / "dataset.toml").write_text(text)
    summary = {
        **summary,
        "n_bins": BinIndex(host, sim.BIN_SIZE).n_bins,
        "block_bins": summary["n_bins"],
        "host": host.name,
        "placement": place.to_dict(orient="list"),
    }
    (root / "truth" / "model.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True, default=int) + "\n"
    )
    shutil.rmtree(compact)
    return summary


class _HostLayout:
    def __init__(self, chroms, lengths) -> None:
        self.chroms, self.lengths = chroms, lengths
