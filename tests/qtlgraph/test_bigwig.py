"""The one bigWig writer: step values, NaN gaps, the step clipped at the chromosome end."""

import numpy as np
import pyBigWig
import pytest

from qtlgraph.bigwig import constant_runs, write_bigwig

SIZES = [("chrA", 25), ("chrB", 12)]
# chrA: steps [0,10) 1.5, [10,20) no data, [20,25) 2.25 (clipped); chrB from 2: [2,12) -3
VALUES = [("chrA", 0, np.array([1.5, np.nan, 2.25])), ("chrB", 2, np.array([-3.0]))]


def test_constant_runs_hand_case():
    assert constant_runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 4), (6, 7)]


@pytest.mark.parametrize("fixed_step", [True, False])
def test_values_gaps_and_clipped_last_step(tmp_path, fixed_step):
    path = tmp_path / "t.bw"
    assert write_bigwig(path, SIZES, VALUES, 10, fixed_step=fixed_step) == 3
    with pyBigWig.open(str(path)) as bw:
        assert bw.chroms() == dict(SIZES)
        assert bw.intervals("chrA") == ((0, 10, 1.5), (20, 25, 2.25))
        assert bw.intervals("chrB") == ((2, 12, -3.0),)


def test_same_input_same_bytes(tmp_path):
    write_bigwig(tmp_path / "a.bw", SIZES, VALUES, 10)
    write_bigwig(tmp_path / "b.bw", SIZES, VALUES, 10)
    assert (tmp_path / "a.bw").read_bytes() == (tmp_path / "b.bw").read_bytes()
