"""The U-Net run: a planted motif is learnt in seconds; every trainer records its target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qtlgraph.encoders.unet_run import init_head_bias, positive_fractions, train_unet_run

MOTIF = "GATTACAGGC"
CHROMS = {"chr1": 20_480, "chr2": 4096, "chr3": 20_480, "chr4": 20_480}


def _bigwig(path: Path, values: dict[str, np.ndarray]) -> None:
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(CHROMS.items()))
    for chrom, v in values.items():
        bw.addEntries(chrom, 0, values=v.astype(np.float64).tolist(), span=1, step=1)
    bw.close()


def write_motif_dataset(root: Path, seed: int = 0) -> Path:
    """Random sequence with ``MOTIF`` planted every ~400 bp; the mark is 5 within 40 bp of a
    motif and 0.5 elsewhere, in both cell types; accessibility is flat (no information).
    """
    rng = np.random.default_rng(seed)
    (root / "tracks").mkdir(parents=True)
    seqs, marks = {}, {}
    for chrom, n in CHROMS.items():
        s = np.array(list("ACGT"))[rng.integers(0, 4, n)]
        mark = np.full(n, 0.5, np.float32)
        for start in np.arange(100, n - 100, 400) + rng.integers(
            -50, 50, len(range(100, n - 100, 400))
        ):
            s[start : start + len(MOTIF)] = list(MOTIF)
            mark[max(start - 40, 0) : start + len(MOTIF) + 40] = 5.0
        seqs[chrom], marks[chrom] = "".join(s), mark
    with open(root / "genome.fa", "w") as fh:
        for chrom, s in seqs.items():
            fh.write(f">{chrom}\n" + "\n".join(s[i : i + 60] for i in range(0, len(s), 60)) + "\n")
    lines = ['name = "motif"', "[genome]", 'build = "sim"', 'fasta = "genome.fa"']
    lines += ["[splits]", 'test = ["chr1"]', 'valid = ["chr2"]']
    for cell in ("mono", "tcel"):
        _bigwig(root / "tracks" / f"{cell}.acc.bw", {c: np.ones(n) for c, n in CHROMS.items()})
        _bigwig(root / "tracks" / f"{cell}.H3K27ac.bw", marks)
        lines += [f"[cell_types.{cell}]", f'accessibility = "tracks/{cell}.acc.bw"']
        lines += ['assay = "DNase"', f'marks = {{ H3K27ac = "tracks/{cell}.H3K27ac.bw" }}']
    (root / "dataset.toml").write_text("\n".join(lines) + "\n")
    return root / "dataset.toml"


SMALL = dict(
    windows=128,
    batch_size=8,
    base_filters=8,
    depth=2,
    length=512,
    lr=1e-2,
    seed=0,
    valid_windows=16,
)


@pytest.fixture
def one_thread():
    """One torch thread: a model this small gains nothing from more, and on a shared
    machine the extra threads only wait for each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_unet_learns_a_planted_motif_in_seconds(tmp_path, one_thread):
    manifest = write_motif_dataset(tmp_path / "data")
    common = dict(device="cpu", base_fraction=0.5, **SMALL)
    trained = train_unet_run(manifest, "A", tmp_path / "a", epochs=4, **common)
    untrained = train_unet_run(
        manifest,
        "A",
        tmp_path / "u",
        epochs=1,
        windows=1,
        **{k: v for k, v in common.items() if k != "windows"},
    )
    auc = [r["roc_auc"] for r in trained["metrics"]]
    assert min(auc) > 0.8, auc  # held-out chr1: the motif, not the windows, was learnt
    assert max(r["roc_auc"] for r in untrained["metrics"]) < min(auc)
    assert trained["target"] == "log1p(bin mean)" and trained["epochs_run"] == 4
    assert trained["best_epoch"] in (1, 2, 3, 4) and len(trained["history"]) == 4
    assert set(trained["seconds"]) == {"train", "evaluate"}


def test_prior_init_starts_at_the_label_frequency(tmp_path):
    import torch

    from qtlgraph.encoders.unet import UNet, UNetConfig

    net = UNet(UNetConfig(in_channels=4, out_channels=2, depth=1, base_filters=2, length=8))
    init_head_bias(net, np.array([0.1, np.nan]))
    p = torch.sigmoid(net.head.bias).detach().numpy()
    np.testing.assert_allclose(p, [0.1, 0.5], rtol=1e-5)

    class Two:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            y = torch.tensor([[1.0, 0.0, float("nan"), 0.0], [float("nan")] * 4])
            return None, y if i == 0 else torch.zeros(2, 4)

    np.testing.assert_allclose(positive_fractions(Two()), [1 / 7, 0.0])


@pytest.mark.slow
def test_every_trainer_records_the_target(tiny_pipeline, run_cli, tmp_path):
    """train-local (the session pipeline's run), train (GNN) and train-unet write the one
    target name into config.json and results.json."""
    manifest = write_motif_dataset(tmp_path / "data")
    train_unet_run(
        manifest, "B", tmp_path / "unet", epochs=1, device="cpu", **{**SMALL, "windows": 8}
    )
    gnn = tmp_path / "gnn"
    argv = ["train", "--dataset", str(tiny_pipeline.dataset), *tiny_pipeline.graph_args()]
    argv += ["--embeddings", str(tiny_pipeline.embeddings), "--epochs", "1", "--hidden", "4"]
    assert run_cli([*argv, "--bootstrap", "2", "--device", "cpu", "--out", str(gnn)]) == 0
    for run in (tiny_pipeline.root / "enc", gnn, tmp_path / "unet"):
        for name in ("config.json", "results.json"):
            assert json.loads((run / name).read_text())["target"] == "log1p(bin mean)", run
