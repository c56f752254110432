"""Held-out evaluation of base-resolution models and the comparison table across runs.

The test chromosomes are tiled with non-overlapping windows (the last window of a
chromosome is moved back to end at the chromosome end; only its new bases are scored).
Two sets of metrics per cell type and mark:

* base resolution (the report's metric): PR-AUC and ROC-AUC of the prediction against the
  binarised mark (signal > threshold). A random ``base_fraction`` of the bases is scored
  (default 1 %, about 4.4 M bases per track on hg38 chr1, 8, 21; ``n_bases`` in the
  results) because sorting all 440 M is neither needed nor affordable on a small machine.
* 10 kb bins: the project's one per-bin target (:func:`qtlgraph.tracks.bin_target`,
  ``log1p`` of the mark bigWig's bin mean) against the prediction averaged over each bin's
  bases and put through the same transform (``log1p``), Pearson / Spearman (and MSE for
  regression losses), so base-resolution models sit in the same table as the per-bin and
  graph models, on the same scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qtlgraph.encoders.baselines import conditioning_cells, make_inputs, outputs_for_cell
from qtlgraph.errors import InputError
from qtlgraph.tracks import TARGET

BIN_SIZE = 10_000


class Tile(NamedTuple):
    """A window ``[start, start + length)`` of which bases ``[score_from, score_to)`` are scored."""

    chrom: str
    start: int
    score_from: int
    score_to: int


def tile_windows(sizes: dict[str, int], chroms: list[str], length: int) -> list[Tile]:
    """Non-overlapping windows covering each chromosome once (last one shifted back)."""
    tiles = []
    for chrom in chroms:
        size = sizes[chrom]
        for start in range(0, size, length):
            shifted = max(0, min(start, size - length))
            tiles.append(Tile(chrom, shifted, start, min(start + length, size)))
    return tiles


def _batches(tiles: list[Tile], batch_size: int) -> Iterator[list[Tile]]:
    for i in range(0, len(tiles), batch_size):
        yield tiles[i : i + batch_size]


def predict_tiles(
    model,
    spec,
    reader,
    tiles: list[Tile],
    length: int,
    *,
    kind: str,
    batch_size: int = 8,
    device="cpu",
) -> Iterator[tuple[list[Tile], np.ndarray, np.ndarray]]:
    """Predictions for every cell type and mark, batch by batch.

    Yields:
        (tiles, pred, marks): ``pred`` (B, C, M, length) after the output transform,
        ``marks`` (B, C, M, length) the raw mark signal.
    """
    import torch

    from qtlgraph.encoders.losses import output_transform

    n_cells, n_marks = len(reader.dataset.cell_types), len(reader.dataset.marks)
    model.eval().to(device)
    for group in _batches(tiles, batch_size):
        windows = [reader.window(t.chrom, t.start, length) for t in group]
        onehot = np.stack([w.onehot for w in windows])
        access = np.stack([w.access for w in windows]) if spec.accessibility else None
        pred = np.empty((len(group), n_cells, n_marks, length), np.float32)
        for cond in conditioning_cells(spec, n_cells):
            cells = np.full(len(group), 0 if cond is None else cond)
            x = torch.from_numpy(make_inputs(spec, onehot, access, cells)).to(device)
            with torch.no_grad():
                out = output_transform(model(x), kind).float().cpu().numpy()
            for c in range(n_cells) if cond is None else [cond]:
                pred[:, c] = outputs_for_cell(spec, out, c, n_marks)
        yield group, pred, np.stack([w.marks for w in windows])


class Accumulated(NamedTuple):
    """Per-bin prediction sums/counts and sampled base-level (label, score) pairs."""

    sums: np.ndarray  # (C, M, n_bins) float64
    counts: np.ndarray  # (n_bins,) int64
    labels: list  # [C][M] list of arrays
    scores: list


def accumulate(
    stream, index, *, base_fraction: float, threshold: float, seed: int = 0
) -> Accumulated:
    """Fold a :func:`predict_tiles` stream into bin means and a base sample."""
    from qtlgraph.tracks import binarize

    rng = np.random.default_rng(seed)
    sums, counts = None, np.zeros(index.n_bins, np.int64)
    labels, scores = None, None
    for group, pred, marks in stream:
        n_cells, n_marks = pred.shape[1:3]
        if sums is None:
            sums = np.zeros((n_cells, n_marks, index.n_bins))
            labels = [[[] for _ in range(n_marks)] for _ in range(n_cells)]
            scores = [[[] for _ in range(n_marks)] for _ in range(n_cells)]
        for t, p, m in zip(group, pred, marks):
            lo, hi = t.score_from - t.start, t.score_to - t.start
            b = (
                index.chrom_slice(t.chrom).start
                + np.arange(t.score_from, t.score_to) // index.bin_size
            )
            b0 = int(b[0])
            local = b - b0
            counts[b0 : b0 + local[-1] + 1] += np.bincount(local)
            pick = np.flatnonzero(rng.random(hi - lo) < base_fraction) + lo
            lab = binarize(m[:, :, pick], threshold)
            for c in range(n_cells):
                for k in range(n_marks):
                    sums[c, k, b0 : b0 + local[-1] + 1] += np.bincount(
                        local, weights=p[c, k, lo:hi]
                    )
                    labels[c][k].append(lab[c, k])
                    scores[c][k].append(p[c, k, pick])
    if sums is None:
        raise InputError("evaluation: no test window (are the test chromosomes in the genome?)")
    return Accumulated(sums, counts, labels, scores)


def bin_targets(dataset, index, chroms: list[str]) -> np.ndarray:
    """The per-bin target (``log1p`` of the bin mean) of every mark bigWig on ``chroms``,
    placed at their global bin ids.

    Shapes:
        -> (C, M, index.n_bins) float32, NaN outside ``chroms`` and where there is no data.
    """
    from qtlgraph.genome import BinIndex
    from qtlgraph.tracks import bin_target

    sub = BinIndex(dataset.genome.subset(chroms), index.bin_size)
    where = np.concatenate(
        [np.arange(index.chrom_slice(c).start, index.chrom_slice(c).stop) for c in sub.chroms]
    )
    out = np.full((len(dataset.cell_types), len(dataset.marks), index.n_bins), np.nan, np.float32)
    for i, cell in enumerate(dataset.cell_types):
        for j, mark in enumerate(dataset.marks):
            if mark in cell.marks:
                out[i, j, where] = bin_target(cell.marks[mark], sub, missing="nan")
    return out


def score_bins(acc: Accumulated, targets: np.ndarray, dataset, *, kind: str):
    """results.json ``metrics`` rows and the ``bin_predictions`` columns (test bins only).

    The AUCs score :func:`accumulate`'s base sample (:func:`qtlgraph.metrics.metric_rows`).
    """
    import pandas as pd

    from qtlgraph.metrics import metric_rows
    from qtlgraph.tracks import target_transform

    frames, samples = [], {}
    scored = np.flatnonzero(acc.counts > 0)
    for c, cell in enumerate(dataset.cell_types):
        for k, mark in enumerate(dataset.marks):
            pred = target_transform(acc.sums[c, k, scored] / acc.counts[scored])
            frames.append((cell.name, mark, scored, pred, targets[c, k, scored]))
            samples[cell.name, mark] = (
                np.concatenate(acc.labels[c][k]),
                np.concatenate(acc.scores[c][k]),
            )
    columns = ("cell_type", "mark", "bin", "pred", "target")
    table = pd.concat([pd.DataFrame(dict(zip(columns, f))) for f in frames], ignore_index=True)
    rows = metric_rows(table, "test", samples=samples, with_mse=kind != "bce")
    return rows, frames


def write_bin_predictions(path: Path, frames) -> None:
    """``cell_type, mark, bin, pred, target`` as Parquet (written atomically)."""
    import pandas as pd

    from qtlgraph.outputs import atomic_path

    df = pd.concat(
        [
            pd.DataFrame(
                {
                    "cell_type": c,
                    "mark": m,
                    "bin": b.astype(np.int64),
                    "pred": p.astype(np.float32),
                    "target": t.astype(np.float32),
                }
            )
            for c, m, b, p, t in frames
        ],
        ignore_index=True,
    )
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def comparison_table(run_dirs: list[str | Path]):
    """One row per run, cell type, mark and stratum from each run's ``results.json``."""
    import pandas as pd

    from qtlgraph.runtime import read_json

    rows = []
    for run in run_dirs:
        res = read_json(Path(run) / "results.json")
        if not isinstance(res, dict) or "metrics" not in res:
            raise InputError(
                f"{Path(run) / 'results.json'}: expected an object with a 'metrics' list"
            )
        for m in res["metrics"]:
            rows.append(
                {"run": res.get("run", Path(run).name), "model": res.get("model", "?"), **m}
            )
    cols = [
        "run",
        "model",
        "cell_type",
        "mark",
        "stratum",
        "n",
        "pearson",
        "spearman",
        "pr_auc",
        "roc_auc",
    ]
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = np.nan
    return df[cols]


def to_markdown(df) -> str:
    """A Markdown table (numbers to 3 decimals, missing as ``-``)."""

    def cell(v):
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "-"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


class LoadedRun(NamedTuple):
    """A trained base-resolution run rebuilt from its directory."""

    model: object
    config: dict
    spec: object
    dataset: object
    reader: object


def load_run(run_dir: str | Path, dataset_path: str | Path | None = None) -> LoadedRun:
    """Rebuild a ``train-unet`` run: model, dataset, reader.

    The weights are those of the best validation epoch when the checkpoint keeps one
    (``"best"``), else the last epoch's.
    """
    from qtlgraph.encoders.baselines import baseline_spec
    from qtlgraph.encoders.unet import UNet, UNetConfig
    from qtlgraph.encoders.windows import QuantileMap, TrackReader
    from qtlgraph.manifest import load_dataset
    from qtlgraph.runtime import load_checkpoint, read_json

    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    if not str(config.get("model", "")).startswith("unet:"):
        raise InputError(
            f"{run_dir / 'config.json'}: not a train-unet run (model {config.get('model')!r})"
        )
    dataset = load_dataset(dataset_path or config["dataset"], missing="nan")
    model = UNet(UNetConfig(**config["unet"]))
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    model.load_state_dict((ckpt.get("best") or ckpt)["model"])
    qmap = QuantileMap(**config["quantile_map"]) if config.get("quantile_map") else None
    return LoadedRun(
        model, config, baseline_spec(config["baseline"]), dataset, TrackReader(dataset, qmap)
    )


TRAINING_KEYS = ("history", "best_epoch", "epochs_run", "stopped_early", "windows_seen", "seconds")


def _training_keys(run_dir: Path) -> dict:
    """The training keys of a run's existing ``results.json`` (none when there is none)."""
    from qtlgraph.runtime import read_json

    path = run_dir / "results.json"
    old = read_json(path) if path.is_file() else {}
    kept = {k: old[k] for k in TRAINING_KEYS if isinstance(old, dict) and k in old}
    if isinstance(kept.get("seconds"), dict):
        kept["seconds"] = {k: v for k, v in kept["seconds"].items() if k != "evaluate"}
    return kept


def evaluate_run(
    run_dir: str | Path,
    *,
    batch_size: int = 8,
    base_fraction: float = 0.01,
    device="cpu",
    seed: int = 0,
    bin_size: int = BIN_SIZE,
    extra: dict | None = None,
) -> dict:
    """Evaluate a run on its dataset's test chromosomes; write ``results.json`` and
    ``bin_predictions.parquet`` into the run directory and return the results.

    ``extra`` adds keys to ``results.json`` (the training history, best epoch and
    seconds of :func:`qtlgraph.encoders.unet_run.train_unet_run`); without it a
    re-evaluation keeps those of the run's previous ``results.json``. The evaluation's
    own seconds go under ``seconds.evaluate``.
    """
    import time

    from qtlgraph.genome import BinIndex
    from qtlgraph.runtime import write_json

    if not 0 < base_fraction <= 1:
        raise InputError(f"--base-fraction {base_fraction}: expected a value in (0, 1]")
    t0 = time.perf_counter()
    extra = _training_keys(Path(run_dir)) if extra is None else extra
    run = load_run(run_dir)
    cfg, ds = run.config, run.dataset
    chroms = [c for c in ds.split.test if c in ds.genome.sizes]
    if not chroms:
        raise InputError(
            f"dataset {ds.name}: none of the test chromosomes {list(ds.split.test)} "
            "is in the genome"
        )
    index = BinIndex(ds.genome, bin_size)
    length = cfg["unet"]["length"]
    tiles = tile_windows(ds.genome.sizes, chroms, length)
    stream = predict_tiles(
        run.model,
        run.spec,
        run.reader,
        tiles,
        length,
        kind=cfg["loss"],
        batch_size=batch_size,
        device=device,
    )
    acc = accumulate(
        stream, index, base_fraction=base_fraction, threshold=cfg["threshold"], seed=seed
    )
    rows, frames = score_bins(acc, bin_targets(ds, index, chroms), ds, kind=cfg["loss"])
    results = {
        "run": cfg["run"],
        "model": cfg["model"],
        "target": TARGET,
        "metrics": rows,
        "evaluation": {
            "test_chromosomes": chroms,
            "windows": len(tiles),
            "bin_size": bin_size,
            "base_fraction": base_fraction,
            "threshold": cfg["threshold"],
        },
        **(extra or {}),
    }
    results["seconds"] = {
        **results.get("seconds", {}),
        "evaluate": round(time.perf_counter() - t0, 2),
    }
    write_bin_predictions(Path(run_dir) / "bin_predictions.parquet", frames)
    write_json(Path(run_dir) / "results.json", results)
    return results
