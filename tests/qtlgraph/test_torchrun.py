"""``torchrun --nproc_per_node 2`` trains what one process trains, for every training command.

Each test runs a command on the tiny pipeline once in this process and once under
``torchrun --standalone --nproc_per_node 2`` (gloo, CPU), then compares the checkpoints:
weights within float tolerance (Adam turns rounding differences of near-zero gradients into
steps of up to about 1e-5), and the same train and validation loss per epoch. What
this holds in place: BatchNorm over the global batch on CPU
(:mod:`qtlgraph.sync_batchnorm`), each rank's masked loss weighted by its share of the
finite targets (:func:`qtlgraph.distributed.global_batch_loss`), one process's sampling
order, and validation on the unweighted loss.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # each test starts two training processes (10-30 s)

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _launch(cmd: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "QTLGRAPH_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _torchrun(args: list[str], tmp_path: Path) -> None:
    _launch(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "qtlgraph", *args], tmp_path
    )


def _same_training(one: Path, two: Path, atol: float = 1e-4) -> None:
    a = torch.load(one / "checkpoint.pt", weights_only=False)
    b = torch.load(two / "checkpoint.pt", weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    for key, value in a["model"].items():
        torch.testing.assert_close(
            b["model"][key], value, atol=atol, rtol=0, msg=lambda m, key=key: f"{key}: {m}"
        )
    for name in ("train_loss", "valid_loss"):
        first = [row[name] for row in a["history"]]
        second = [row[name] for row in b["history"]]
        assert second == pytest.approx(first, rel=1e-5), name


def _run(args: list[str], out: Path, tmp_path: Path) -> tuple[Path, Path]:
    # The one-process run gets a fresh interpreter too, so neither side inherits thread or
    # RNG settings from the tests that ran before it in this process.
    one, two = out / "one", out / "two"
    _launch([sys.executable, "-m", "qtlgraph", *args, "--out", str(one)], tmp_path)
    _torchrun([*args, "--out", str(two)], tmp_path)
    return one, two


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QTLGRAPH_CACHE_DIR", str(tmp_path / "cache"))


def test_train_local(tiny_pipeline, tmp_path):
    """The bin encoder has BatchNorm and the tiny targets have NaNs: both must be global."""
    args = ["train-local", "--dataset", str(tiny_pipeline.dataset), "--epochs", "1"]
    args += ["--dim", "8", "--batch-size", "32", "--device", "cpu"]
    _same_training(*_run(args, tmp_path, tmp_path))


def test_train_gnn(tiny_pipeline, tmp_path):
    """Full-graph mode: every rank the whole graph, its share of the labelled nodes."""
    args = ["train", "--dataset", str(tiny_pipeline.dataset), *tiny_pipeline.graph_args()]
    args += ["--embeddings", str(tiny_pipeline.embeddings), "--epochs", "3", "--hidden", "16"]
    args += ["--bootstrap", "10", "--device", "cpu"]
    _same_training(*_run(args, tmp_path, tmp_path))


def test_train_unet(tiny_pipeline, tmp_path):
    args = ["train-unet", "--dataset", str(tiny_pipeline.dataset), "--model", "b"]
    args += ["--epochs", "2", "--windows", "32", "--batch-size", "8", "--base-filters", "4"]
    args += ["--depth", "2", "--length", "2048", "--valid-windows", "8", "--device", "cpu"]
    args += ["--no-evaluate"]
    _same_training(*_run(args, tmp_path, tmp_path))


def test_train_distal_finishes(tiny_pipeline, tmp_path):
    """The distal trainer under torchrun: equal shards, so no rank waits for a step the
    other never takes. Its weights are not one process's: each rank shuffles its own shard.
    """
    args = ["train", "--dataset", str(tiny_pipeline.dataset), *tiny_pipeline.graph_args()]
    args += ["--embeddings", str(tiny_pipeline.embeddings), "--model", "distal"]
    args += ["--epochs", "2", "--hidden", "16", "--batch-size", "16", "--qtl-aux-weight", "0"]
    args += ["--bootstrap", "10", "--device", "cpu", "--out", str(tmp_path / "two")]
    _torchrun(args, tmp_path)
    history = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=False)["history"]
    assert len(history) == 2 and all(row["train_loss"] > 0 for row in history)
    assert (tmp_path / "two" / "run.json").is_file()
    assert (tmp_path / "two" / "bin_predictions.parquet").is_file()
