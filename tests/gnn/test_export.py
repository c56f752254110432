import numpy as np
import pandas as pd
import pytest

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, Genome
from qtlgraph.gnn.export import BEDPE_COLUMNS, INTERACT_COLUMNS, write_bigwig, write_edges

# chrA: bins 0 [0,10) 1 [10,20) 2 [20,25); chrB: bins 3 [0,10) 4 [10,12)
INDEX = BinIndex(Genome("t", ("chrA", "chrB"), (25, 12)), 10)


def test_bigwig_round_trip(tmp_path):
    import pyBigWig

    n = write_bigwig(
        tmp_path / "p.bw",
        INDEX,
        np.array([4, 0, 1, 2, 3]),
        np.array([4.0, 1.5, np.nan, 2.25, -3.0]),
    )
    assert n == 4
    bw = pyBigWig.open(str(tmp_path / "p.bw"))
    assert bw.chroms() == {"chrA": 25, "chrB": 12}
    assert bw.intervals("chrA") == ((0, 10, 1.5), (20, 25, 2.25))  # NaN bin left out, end clipped
    assert bw.intervals("chrB") == ((0, 10, -3.0), (10, 12, 4.0))
    bw.close()


EDGES = pd.DataFrame(
    {
        "source_bin": [3, 0, 1],
        "target_bin": [4, 2, 3],
        "edge_type": ["H3K27ac", "H3K4me1", "loop"],
        "n_qtl": [2, 4, 1],
    }
)


def test_bedpe_and_interact_hand_case(tmp_path):
    paths = write_edges(EDGES, INDEX, tmp_path / "e", value="n_qtl", name="obs")
    bedpe = pd.read_csv(paths[0], sep="\t", header=None, names=BEDPE_COLUMNS)
    assert bedpe.values.tolist() == [  # sorted by source bin
        ["chrA", 0, 10, "chrA", 20, 25, "H3K4me1", 1000, ".", ".", 4.0],
        ["chrA", 10, 20, "chrB", 0, 10, "loop", 250, ".", ".", 1.0],
        ["chrB", 0, 10, "chrB", 10, 12, "H3K27ac", 500, ".", ".", 2.0],
    ]
    lines = paths[1].read_text().splitlines()
    assert lines[0].startswith("track type=interact")
    inter = pd.read_csv(paths[1], sep="\t", header=None, names=INTERACT_COLUMNS, skiprows=1)
    assert len(inter) == 3 and list(inter.columns) == list(INTERACT_COLUMNS)
    first = inter.iloc[0]
    assert (first["chrom"], first["chromStart"], first["chromEnd"]) == (
        "chrA",
        0,
        25,
    )  # spans both ends
    assert (first["sourceStart"], first["targetStart"], first["targetEnd"], first["score"]) == (
        0,
        20,
        25,
        1000,
    )
    trans = inter.iloc[1]  # two chromosomes: spans the source bin only
    assert (trans["chrom"], trans["chromStart"], trans["chromEnd"], trans["targetChrom"]) == (
        "chrA",
        10,
        20,
        "chrB",
    )


def test_edges_out_of_range_and_non_empty_out_refused(tmp_path):
    bad = EDGES.assign(target_bin=[4, 2, 5])
    with pytest.raises(InputError, match="target_bin"):
        write_edges(bad, INDEX, tmp_path / "e", value="n_qtl", name="x")
    assert not (tmp_path / "e").exists()
    write_edges(EDGES, INDEX, tmp_path / "e", value="n_qtl", name="x")
    with pytest.raises(InputError, match="not empty"):
        write_edges(EDGES, INDEX, tmp_path / "e", value="n_qtl", name="x")
