"""Genome-browser exports: predicted tracks as bigWig, edges as BEDPE and UCSC interact.

bigWig: one value per 10 kb bin (the model's prediction, log1p of the bin mean), bins
without a value left out, the last bin of a chromosome clipped to its end. BEDPE: the
10-column standard (``chrom1 start1 end1 chrom2 start2 end2 name score strand1 strand2``)
plus ``value``; source = SNP bin, target = target bin. Interact: UCSC's ``interact``
(bed5+13) text, one ``track type=interact`` line first, loadable as a custom track.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qtlgraph import bigwig
from qtlgraph.errors import InputError

BEDPE_COLUMNS = (
    "chrom1",
    "start1",
    "end1",
    "chrom2",
    "start2",
    "end2",
    "name",
    "score",
    "strand1",
    "strand2",
    "value",
)
INTERACT_COLUMNS = (
    "chrom",
    "chromStart",
    "chromEnd",
    "name",
    "score",
    "value",
    "exp",
    "color",
    "sourceChrom",
    "sourceStart",
    "sourceEnd",
    "sourceName",
    "sourceStrand",
    "targetChrom",
    "targetStart",
    "targetEnd",
    "targetName",
    "targetStrand",
)


def write_bigwig(path: str | Path, index, bins: np.ndarray, values: np.ndarray) -> int:
    """Write one value per bin as a bigWig (NaN bins skipped); returns the intervals written.

    Shapes: bins, values ``(n,)``; bins are global ids of ``index``.
    """
    from qtlgraph.outputs import atomic_path

    bins, values = np.asarray(bins, np.int64), np.asarray(values, np.float64)
    dense = np.full(index.n_bins, np.nan)
    keep = np.isfinite(values)
    dense[bins[keep]] = values[keep]
    per_chrom = [(c, 0, v) for c, v in zip(index.chroms, np.split(dense, index.offsets[1:-1]))]
    sizes = list(zip(index.chroms, index.genome.lengths))
    with atomic_path(path) as tmp:
        return bigwig.write_bigwig(
            tmp, sizes, per_chrom, index.bin_size, fixed_step=False, max_zooms=4
        )


def predictions_for(
    run_dir: str | Path, part: str = "all", device: str = "auto"
) -> tuple[pd.DataFrame, object]:
    """A run's predictions ``cell_type, mark, bin, pred, target`` for every bin (``all``) or
    one split part, recomputed from its checkpoint; and the run's bin index.
    """
    import torch

    from qtlgraph.genome import BinIndex
    from qtlgraph.gnn.evaluate import prediction_frame
    from qtlgraph.gnn.score_run import load_run
    from qtlgraph.gnn.train import predict_nodes
    from qtlgraph.manifest import load_dataset

    if part not in ("all", "train", "valid", "test"):
        raise InputError(f"--part {part}: expected all, train, valid or test")
    run = load_run(run_dir, device)
    data = run.inputs.data
    if part == "all":
        data.all_mask = data.x.new_ones(data.num_nodes, dtype=torch.bool)
    if run.sequences is not None:  # a distal run reads source sequences, not embeddings
        from qtlgraph.gnn.distal_train import predict_distal

        nodes = torch.from_numpy(np.flatnonzero(data[f"{part}_mask"].numpy()))
        pred = predict_distal(run.model, data, run.sequences, nodes, run.device)
    else:
        pred = predict_nodes(run.model, data, run.device)
    frame = prediction_frame(data.cpu(), pred, run.inputs.cell_types, run.inputs.marks, part)
    index = BinIndex(load_dataset(run.config["data"]["dataset"]).genome, run.inputs.bin_size)
    return frame, index


def export_bigwigs(
    run_dir: str | Path,
    out: str | Path,
    *,
    part: str = "all",
    targets: bool = False,
    device: str = "auto",
    force: bool = False,
    allow_unfinished: bool = False,
) -> list[Path]:
    """``OUT/<cell>.<mark>.pred.bw`` (and ``.target.bw`` with ``targets``) for a GNN run.

    The run must have finished (unless ``allow_unfinished``) on inputs unchanged since
    (:func:`qtlgraph.runs.check_run`).
    """
    from qtlgraph import runs
    from qtlgraph.outputs import check_output_dir, check_writable, staged_dir

    check_writable(check_output_dir(out, force))
    runs.check_run(run_dir, allow_unfinished)
    frame, index = predictions_for(run_dir, part, device)
    written = []
    with staged_dir(out, force) as tmp:
        for (cell, mark), g in frame.groupby(["cell_type", "mark"], sort=False):
            kinds = [("pred", g["pred"])] + ([("target", g["target"])] if targets else [])
            for kind, col in kinds:
                name = f"{cell}.{mark}.{kind}.bw"
                write_bigwig(tmp / name, index, g["bin"].to_numpy(), col.to_numpy())
                written.append(Path(out) / name)
    return written


def _scores(value: np.ndarray) -> np.ndarray:
    """0-1000 browser scores from |value| (largest = 1000)."""
    a = np.abs(np.nan_to_num(np.asarray(value, np.float64)))
    top = a.max(initial=0.0)
    return np.round(1000 * a / top).astype(np.int64) if top > 0 else np.zeros(len(a), np.int64)


def edge_intervals(edges: pd.DataFrame, index) -> pd.DataFrame:
    """Bin coordinates of ``source_bin`` / ``target_bin`` columns: ``s_chrom, s_start,
    s_end, t_chrom, t_start, t_end``.
    """
    lengths = np.asarray(index.genome.lengths, np.int64)
    out = {}
    for p, col in (("s", "source_bin"), ("t", "target_bin")):
        b = edges[col].to_numpy(np.int64)
        if len(b) and (b.min() < 0 or b.max() >= index.n_bins):
            raise InputError(f"edges: column {col}: bin ids outside [0, {index.n_bins})")
        code = index.chrom_of_bins(b)
        start = index.starts(b)
        out[f"{p}_chrom"] = np.asarray(index.chroms, dtype=object)[code]
        out[f"{p}_start"] = start
        out[f"{p}_end"] = np.minimum(start + index.bin_size, lengths[code])
    return pd.DataFrame(out)


def bedpe_frame(edges: pd.DataFrame, index, value: str) -> pd.DataFrame:
    """BEDPE rows for ``edges`` (``source_bin, target_bin, edge_type, <value>``)."""
    iv = edge_intervals(edges, index)
    v = edges[value].to_numpy(np.float64)
    return pd.DataFrame(
        {
            "chrom1": iv["s_chrom"],
            "start1": iv["s_start"],
            "end1": iv["s_end"],
            "chrom2": iv["t_chrom"],
            "start2": iv["t_start"],
            "end2": iv["t_end"],
            "name": edges["edge_type"].astype(str).to_numpy(),
            "score": _scores(v),
            "strand1": ".",
            "strand2": ".",
            "value": v,
        }
    )


def interact_frame(
    edges: pd.DataFrame, index, value: str, colors: dict[str, str] | None = None
) -> pd.DataFrame:
    """UCSC interact rows; an edge joining two chromosomes spans only its source bin."""
    iv = edge_intervals(edges, index)
    v = edges[value].to_numpy(np.float64)
    same = iv["s_chrom"].to_numpy() == iv["t_chrom"].to_numpy()
    types = edges["edge_type"].astype(str).to_numpy()
    palette = colors or {}
    return pd.DataFrame(
        {
            "chrom": iv["s_chrom"],
            "chromStart": np.where(same, np.minimum(iv["s_start"], iv["t_start"]), iv["s_start"]),
            "chromEnd": np.where(same, np.maximum(iv["s_end"], iv["t_end"]), iv["s_end"]),
            "name": types,
            "score": _scores(v),
            "value": v,
            "exp": types,
            "color": [palette.get(t, "0") for t in types],
            "sourceChrom": iv["s_chrom"],
            "sourceStart": iv["s_start"],
            "sourceEnd": iv["s_end"],
            "sourceName": edges["source_bin"].astype(str).to_numpy(),
            "sourceStrand": ".",
            "targetChrom": iv["t_chrom"],
            "targetStart": iv["t_start"],
            "targetEnd": iv["t_end"],
            "targetName": edges["target_bin"].astype(str).to_numpy(),
            "targetStrand": ".",
        }
    )


def write_edges(
    edges: pd.DataFrame, index, out: str | Path, *, value: str, name: str, force: bool = False
) -> list[Path]:
    """``OUT/<name>.bedpe`` and ``OUT/<name>.interact.txt`` (sorted by source position)."""
    from qtlgraph.outputs import staged_dir

    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise InputError(
            f"--name {name!r}: expected a plain file name stem (no path, no dot first)"
        )
    missing = [
        c for c in ("source_bin", "target_bin", "edge_type", value) if c not in edges.columns
    ]
    if missing:
        raise InputError(f"edges: missing column(s) {missing}")
    edges = edges.sort_values(["source_bin", "target_bin"], kind="stable").reset_index(drop=True)
    with staged_dir(out, force) as tmp:
        bedpe_frame(edges, index, value).to_csv(
            tmp / f"{name}.bedpe", sep="\t", index=False, header=False
        )
        with open(tmp / f"{name}.interact.txt", "w") as fh:
            fh.write(
                f'track type=interact name="{name}" description="{name}: {value}" useScore=on\n'
            )
            interact_frame(edges, index, value).to_csv(fh, sep="\t", index=False, header=False)
    return [Path(out) / f"{name}.bedpe", Path(out) / f"{name}.interact.txt"]


def observed_edges(graph_dir: str | Path) -> tuple[pd.DataFrame, object]:
    """A graph directory's ``edges.parquet`` (value ``n_qtl``) and its bin index."""
    from qtlgraph.genome import BinIndex, Genome
    from qtlgraph.graph import load_graph_dir

    g = load_graph_dir(graph_dir)
    gm = g.meta["genome"]
    index = BinIndex(
        Genome(gm["name"], tuple(gm["chroms"]), tuple(gm["lengths"])), int(g.meta["bin_size"])
    )
    return g.edges, index


def attribution_edges(path: str | Path, marks_prefix: str = "carried_") -> pd.DataFrame:
    """Learned edges from a ``score-variants`` edges table: per (cell type, source, target,
    types) the largest |carried| change over variants, changed bins and marks (``value``).
    """
    from qtlgraph.inputs import read_table

    t = read_table(path, "score-variants edges table")
    cols = [c for c in t.columns if c.startswith(marks_prefix)]
    if not cols or not {"source_bin", "target_bin", "edge_type", "cell_type"} <= set(t.columns):
        raise InputError(
            f"{path}: not a score-variants edges table (needs source_bin, target_bin, "
            f"edge_type, cell_type, carried_<mark>)"
        )
    t["value"] = t[cols].abs().max(axis=1)
    agg = t.groupby(["cell_type", "source_bin", "target_bin", "edge_type"], as_index=False)[
        "value"
    ].max()
    agg["edge_type"] = agg["cell_type"] + ":" + agg["edge_type"]
    return agg


def run_index(run_dir: str | Path, allow_unfinished: bool = False):
    """The bin index of a finished GNN run's dataset (:func:`qtlgraph.runs.check_run`)."""
    from qtlgraph import runs
    from qtlgraph.genome import BinIndex
    from qtlgraph.manifest import load_dataset
    from qtlgraph.runtime import read_json

    config = runs.check_run(run_dir, allow_unfinished)
    if "data" not in config:
        raise InputError(f"{run_dir}/config.json: not a GNN run")
    bin_size = int(read_json(Path(config["data"]["embeddings"]) / "embed.json")["bin_size"])
    return BinIndex(load_dataset(config["data"]["dataset"]).genome, bin_size)
