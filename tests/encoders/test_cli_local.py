import json

import numpy as np
import pandas as pd
import pytest
from tiny_bin_data import write_tiny_dataset

from qtlgraph.cli import main


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("cli") / "data")


def test_train_local_then_embed_end_to_end(manifest, tmp_path):
    run, cache = tmp_path / "run", tmp_path / "cache"
    main(
        [
            "train-local",
            "--dataset",
            str(manifest),
            "--out",
            str(run),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--dim",
            "16",
            "--device",
            "cpu",
        ]
    )
    assert {p.name for p in run.iterdir()} == {
        "config.json",
        "checkpoint.pt",
        "results.json",
        "bin_predictions.parquet",
        "run.json",
    }
    assert json.loads((run / "run.json").read_text()) == {"kind": "local", "finished": True}
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "local" and results["run"] == "run"
    test_rows = [r for r in results["metrics"] if r["split"] == "test"]
    assert {(r["cell_type"], r["mark"]) for r in test_rows} == {
        (c, m) for c in ("mono", "tcel") for m in ("H3K27ac", "H3K4me1")
    }
    # chr1 (test) has 5 bins; H3K4me1 has no data in its first bin
    counts = {(r["cell_type"], r["mark"]): r["n"] for r in test_rows}
    assert counts[("mono", "H3K27ac")] == 5 and counts[("mono", "H3K4me1")] == 4
    assert all(r["stratum"] == "all" and np.isfinite(r["mse"]) for r in test_rows)
    preds = pd.read_parquet(run / "bin_predictions.parquet")
    assert list(preds.columns) == ["cell_type", "mark", "bin", "pred", "target"]
    assert len(preds) == 2 * 5 * 2 and set(preds["bin"]) == set(range(5))
    main(
        ["embed", "--run", str(run), "--out", str(cache), "--chunk-bins", "8", "--dtype", "float32"]
    )
    array = np.load(cache / "embeddings.npy", mmap_mode="r")
    meta = json.loads((cache / "embed.json").read_text())
    assert array.shape == (2, 19, 16) and array.dtype == np.float32 and meta["complete"]
    assert meta["done_chunks"] == [0, 1, 2] and meta["d"] == 16 and meta["bin_size"] == 10_000


def test_train_local_resume_continues(manifest, tmp_path):
    run = tmp_path / "run"
    args = [
        "train-local",
        "--dataset",
        str(manifest),
        "--out",
        str(run),
        "--batch-size",
        "16",
        "--dim",
        "8",
        "--device",
        "cpu",
        "--flank",
        "0",
    ]
    main(args + ["--epochs", "1"])
    first = json.loads((run / "results.json").read_text())["history"]
    main(args + ["--epochs", "2", "--resume"])
    history = json.loads((run / "results.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0] == first[0]  # epoch 1 was restored from the checkpoint, not rerun


def test_bad_input_is_one_line_and_no_output(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["train-local", "--dataset", str(tmp_path / "missing.toml"), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "missing.toml" in err and len(err.splitlines()) == 1
    assert not out.exists()
    with pytest.raises(SystemExit) as exc:
        main(["embed", "--run", str(tmp_path), "--out", str(tmp_path / "cache")])
    assert exc.value.code == 2 and not (tmp_path / "cache").exists()
