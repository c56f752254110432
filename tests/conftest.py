"""Shared fixtures: the real public data folder (skipped cleanly where it is absent), an in-process
CLI runner and one tiny simulated pipeline (graphs, encoder, embeddings) built once per session."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

TINY_CELLS = ("mono", "neut", "tcel")
TINY_MARKS = ("H3K27ac", "H3K4me1")
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    """``../shared/data/real`` beside the checkout; tests using it skip where it is absent."""
    if not REAL.is_dir():
        pytest.skip(f"real public data not found at {REAL} (only present beside the main checkout)")
    return REAL


def run_cli(argv: list[str]) -> int:
    """Run ``qtlgraph`` with ``argv`` in-process; the exit code (0 when it returns normally)."""
    from qtlgraph.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.fixture(scope="session", name="run_cli")
def run_cli_fixture():
    """The :func:`run_cli` helper, for test modules (tests/ is not a package)."""
    return run_cli


class TinyPipeline(NamedTuple):
    """The shared tiny pipeline's outputs; read only (tests write their runs elsewhere)."""

    root: Path
    dataset: Path  # sim/dataset.toml
    graphs: dict[str, Path]  # cell type -> graph directory
    embeddings: Path

    def graph_args(self) -> list[str]:
        """``--graph cell=dir`` for every cell type, as ``train`` takes them."""
        return [a for c, g in self.graphs.items() for a in ("--graph", f"{c}={g}")]


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> TinyPipeline:
    """simulate --preset tiny -> graphs per cell type -> 1-epoch local encoder -> embeddings."""
    root = tmp_path_factory.mktemp("tiny_pipeline")
    sim = root / "sim"
    assert run_cli(["simulate", "--preset", "tiny", "--out", str(sim)]) == 0
    graphs = {}
    for c in TINY_CELLS:
        qtl = [str(sim / "qtl" / f"{c}_{m}.txt.gz") for m in TINY_MARKS]
        graphs[c] = root / f"g_{c}"
        assert (
            run_cli(
                [
                    "build",
                    *qtl,
                    "--genome",
                    str(sim / "genome.chrom.sizes"),
                    "--name",
                    c,
                    "--edge-type",
                    "H3K27ac",
                    "--edge-type",
                    "H3K4me1",
                    "--out",
                    str(graphs[c]),
                ]
            )
            == 0
        )
    assert (
        run_cli(
            [
                "train-local",
                "--dataset",
                str(sim / "dataset.toml"),
                "--out",
                str(root / "enc"),
                "--epochs",
                "1",
                "--dim",
                "8",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (
        run_cli(
            [
                "embed",
                "--run",
                str(root / "enc"),
                "--out",
                str(root / "emb"),
                "--device",
                "cpu",
                "--dtype",
                "float32",
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    return TinyPipeline(root, sim / "dataset.toml", graphs, root / "emb")
