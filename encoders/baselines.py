"""The report's conditioning baselines A-D (Table 3) on Leopard's U-Net.

| model | inputs | outputs |
|---|---|---|
| A | sequence (4) | every mark of every cell type (n_marks x n_cell_types) |
| B | sequence (4) + accessibility (2) | the marks of the conditioning cell type (n_marks) |
| C | sequence (4) + accessibility (2) | every mark of every cell type (as A) |
| D | sequence (4) | the marks, shared by every cell type (n_marks) |

The two accessibility channels are the conditioning cell type's quantile-normalised track
and the average of the normalised tracks over the dataset's cell types (the report's and
the issue's choice; Leopard's own code feeds the difference track minus average instead).
Per training window one cell type is drawn at random: it conditions B and C and is the
target of B and D (so D is trained against every cell type's marks, in expectation).
Output channels of A and C are cell-type-major: ``cell * n_marks + mark``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qtlgraph.encoders.unet import UNetConfig, check_config
from qtlgraph.errors import InputError

N_BASES = 4


class BaselineSpec(NamedTuple):
    """One of the report's models: whether it sees accessibility and predicts per cell type."""

    name: str
    accessibility: bool
    per_cell_type: bool


SPECS = {
    "A": BaselineSpec("A", accessibility=False, per_cell_type=True),
    "B": BaselineSpec("B", accessibility=True, per_cell_type=False),
    "C": BaselineSpec("C", accessibility=True, per_cell_type=True),
    "D": BaselineSpec("D", accessibility=False, per_cell_type=False),
}


def baseline_spec(name: str) -> BaselineSpec:
    """The spec of model ``A``, ``B``, ``C`` or ``D`` (case-insensitive)."""
    key = str(name).upper()
    if key not in SPECS:
        raise InputError(f"--model {name}: expected one of A, B, C, D")
    return SPECS[key]


def channels(spec: BaselineSpec, n_cell_types: int, n_marks: int) -> tuple[int, int]:
    """(input channels, output channels) as in Table 3 (4/6 in, 6/2 out for 3 cells x 2 marks)."""
    n_in = N_BASES + (2 if spec.accessibility else 0)
    n_out = n_marks * (n_cell_types if spec.per_cell_type else 1)
    return n_in, n_out


def unet_config(spec: BaselineSpec, n_cell_types: int, n_marks: int, **options) -> UNetConfig:
    """The U-Net config of a baseline; ``options`` override UNetConfig fields (depth, ...)."""
    n_in, n_out = channels(spec, n_cell_types, n_marks)
    return check_config(UNetConfig(in_channels=n_in, out_channels=n_out)._replace(**options))


def make_inputs(
    spec: BaselineSpec, onehot: np.ndarray, access: np.ndarray | None, cell: np.ndarray
) -> np.ndarray:
    """Stack the model's input channels.

    Args:
        spec: the baseline (its ``accessibility`` flag selects the channels).
        onehot: one-hot sequence.
        access: normalised accessibility of every cell type (NaN already 0), or None for
            models without accessibility.
        cell: the conditioning cell type of each window.

    Shapes:
        onehot: (B, 4, L), access: (B, C, L), cell: (B,) -> (B, n_in, L) float32
    """
    if not spec.accessibility:
        return np.ascontiguousarray(onehot, dtype=np.float32)
    rows = np.arange(len(cell))
    own = access[rows, cell]
    avg = access.mean(axis=1)
    return np.concatenate([onehot, own[:, None], avg[:, None]], axis=1).astype(np.float32)


def make_targets(spec: BaselineSpec, marks: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """The training target of each window.

    Shapes:
        marks: (B, C, M, L) (already binarised or raw), cell: (B,) -> (B, n_out, L)
    """
    if spec.per_cell_type:
        b, c, m, length = marks.shape
        return marks.reshape(b, c * m, length)
    return marks[np.arange(len(cell)), cell]


def outputs_for_cell(spec: BaselineSpec, pred: np.ndarray, cell: int, n_marks: int) -> np.ndarray:
    """The predicted marks of one cell type from a batch of outputs.

    For B the batch must have been conditioned on ``cell``; for C, conditioning on the
    same cell type is the natural choice (what evaluation does); D ignores ``cell``.

    Shapes:
        pred: (B, n_out, L) -> (B, n_marks, L)
    """
    if spec.per_cell_type:
        return pred[:, cell * n_marks : (cell + 1) * n_marks]
    return pred


def conditioning_cells(spec: BaselineSpec, n_cell_types: int) -> list[int | None]:
    """Forward passes evaluation needs per window: one per cell type for models with
    accessibility, a single unconditioned one (None) otherwise.
    """
    return list(range(n_cell_types)) if spec.accessibility else [None]
