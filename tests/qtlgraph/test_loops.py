"""BEDPE loops: anchors to bins, and every malformed row refused with its line."""

from __future__ import annotations

import gzip

import pytest

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, Genome
from qtlgraph.loops import read_loops

INDEX = BinIndex(Genome("toy", ("chr1", "chr2"), (100_000, 50_000)), 10_000)
ROW = "chr1\t10000\t20000\tchr1\t50000\t60000\n"


def test_loop_is_an_edge_both_ways_plain_gzip_and_bom_alike(tmp_path):
    (tmp_path / "l.bedpe").write_text(ROW)
    with gzip.open(tmp_path / "l.bedpe.gz", "wt") as fh:
        fh.write(ROW)
    (tmp_path / "h.bedpe").write_bytes(
        b"\xef\xbb\xbfchrom1\tstart1\tend1\tc2\ts2\te2\n" + ROW.encode()
    )
    for name in ("l.bedpe", "l.bedpe.gz", "h.bedpe"):
        loops = read_loops(tmp_path / name, INDEX)
        assert loops.rows == 1
        assert loops.frame["source_bin"].to_list() == [1, 5]  # midpoints 14999 and 54999
        assert loops.frame["target_bin"].to_list() == [5, 1]


@pytest.mark.parametrize(
    "text, message",
    [
        (ROW + "chr1\t10000\t20000\tchr1\t50000\n", "line 2: a missing column"),
        ("chr1\t10000\t20000\tchr1\t50000\n", r"5 column\(s\) per row"),
        ("chr1\tabc\t20000\tchr1\t50000\t60000\n", "line 1: .*not an integer .*abc"),
        (ROW + "chr1\t30000\t20000\tchr1\t50000\t60000\n", "line 2: a start after its end"),
        ("chr1\t-5\t20000\tchr1\t50000\t60000\n", "line 1: a negative start"),
        ("", "empty loops file"),
    ],
)
def test_malformed_rows_are_refused_naming_the_line(tmp_path, text, message):
    (tmp_path / "l.bedpe").write_text(text)
    with pytest.raises(InputError, match=message):
        read_loops(tmp_path / "l.bedpe", INDEX)


def test_binary_and_truncated_gzip_loops_are_input_errors(tmp_path):
    (tmp_path / "b.bedpe").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="binary"):
        read_loops(tmp_path / "b.bedpe", INDEX)
    data = gzip.compress((ROW * 2000).encode())
    (tmp_path / "t.bedpe.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt gzip"):
        read_loops(tmp_path / "t.bedpe.gz", INDEX)
