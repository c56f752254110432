"""Scoring variants with a trained GNN run: re-embed the variant's bin, propagate, tabulate.

For each variant and cell type the bin encoder of the run's embedding cache (the
``qtlgraph train-local`` run named in ``embed.json``) embeds the variant's 10 kb bin twice
in fp32, with the reference and with the alternative allele (the cell type's accessibility
inputs unchanged); both rows replace the bin's node features and
:func:`qtlgraph.gnn.scoring.propagate` gives the change per mark at the bin and downstream of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from qtlgraph.errors import InputError


class LoadedRun(NamedTuple):
    """A trained GNN run rebuilt from its directory."""

    model: object  # qtlgraph.gnn.models.GraphRegressor, eval mode
    inputs: object  # qtlgraph.gnn.data.GraphInputs
    config: dict
    hops: int  # message-passing layers (0 for the local baseline)
    device: object
    sequences: object = None  # a distal run's BinSequences (None for a GNN run)


class Encoder(NamedTuple):
    """The bin encoder of an embedding cache, with what it reads per bin."""

    model: object  # qtlgraph.encoders.bin_encoder.BinEncoder, eval mode
    index: object  # qtlgraph.genome.BinIndex
    arrays: object  # qtlgraph.encoders.bin_dataset.BinArrays (accessibility inputs)
    sequence: object  # qtlgraph.sequence.GenomeSequence


class ScoreResult(NamedTuple):
    """``effects``: one row per variant, cell type and changed bin; ``edges``: one row per
    variant, ablated edge and downstream bin (empty without attribution).
    """

    effects: pd.DataFrame
    edges: pd.DataFrame


def _graph_spec(spec: str) -> str:
    name, sep, path = spec.partition("=")
    p = Path(path if sep else spec)
    if not p.is_dir():
        raise InputError(
            f"config.json: graph directory {p} not found "
            "(run from the folder the run was trained in)"
        )
    return f"{name}={p.absolute()}" if sep else str(p.absolute())


def load_run(run_dir: str | Path, device: str = "auto") -> LoadedRun:
    """Rebuild a ``qtlgraph train`` run: its data (same options) and its checkpoint."""
    from qtlgraph.gnn.data import run_graph_data
    from qtlgraph.gnn.models import build_model
    from qtlgraph.runtime import load_checkpoint, read_json, select_device

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / "checkpoint.pt").is_file():
        raise InputError(
            f"{run_dir}: not a qtlgraph train run (needs config.json and checkpoint.pt)"
        )
    config = read_json(run_dir / "config.json")
    if "model_config" not in config or "data" not in config:
        raise InputError(
            f"{run_dir / 'config.json'}: not a GNN run (no model_config / data section)"
        )
    d = config["data"]
    if config.get("model") == "distal":  # source sequences, not a GNN over embeddings
        from qtlgraph.gnn.distal_score import load_distal_run

        return load_distal_run(run_dir, config, [_graph_spec(g) for g in d["graphs"]], device)
    inputs = run_graph_data(config, [_graph_spec(g) for g in d["graphs"]])
    dev = select_device(device)
    model = build_model(config["model_config"])
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    model.load_state_dict((ckpt.get("best") or ckpt)["model"])  # the best validation epoch
    model = model.to(dev).eval()
    mc = config["model_config"]
    hops = int(mc.get("layers", 2)) if mc.get("message_passing", True) else 0
    return LoadedRun(model, inputs, config, hops, dev)


def open_encoder(embed_dir: str | Path, device="cpu") -> Encoder:
    """The encoder run named in ``embed_dir/embed.json`` and its dataset's per-bin inputs."""
    from qtlgraph.encoders.bin_dataset import load_bin_arrays
    from qtlgraph.encoders.embed import load_local_model
    from qtlgraph.genome import BinIndex
    from qtlgraph.manifest import load_dataset
    from qtlgraph.runtime import read_json
    from qtlgraph.sequence import open_sequence

    meta = read_json(Path(embed_dir) / "embed.json")
    model, config = load_local_model(meta["run"], device)
    dataset = load_dataset(config["dataset"])
    index = BinIndex(dataset.genome, model.config.bin_size)
    arrays = load_bin_arrays(dataset, index, model.config, targets=False)
    return Encoder(model, index, arrays, open_sequence(dataset))


def variant_bins(index, variants: pd.DataFrame, where: str = "variants") -> np.ndarray:
    """Global bin of each variant; InputError naming the first row off the genome.

    Shapes: ``(V,)`` int64.
    """
    bins = index.bin_of(
        index.chrom_codes(variants["chrom"]), variants["pos"].to_numpy(np.int64), one_based=True
    )
    bad = np.flatnonzero(bins < 0)
    if bad.size:
        r = variants.iloc[bad[0]]
        raise InputError(
            f"{where}: row {bad[0] + 1}: {r['chrom']}:{r['pos']} is not on the genome "
            f"({', '.join(index.chroms)})"
        )
    return bins


def allele_onehots(
    enc: Encoder, variants: pd.DataFrame, bins: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reference and alternative one-hot of each variant's bin (ref allele checked).

    Shapes: -> ref, alt ``(V, 4, bin_size)`` float32.
    """
    from qtlgraph.sequence import substitute

    bs = enc.index.bin_size
    starts = enc.index.starts(bins)
    ref = np.stack(
        [enc.sequence.one_hot(c, int(s), int(s) + bs) for c, s in zip(variants["chrom"], starts)]
    )
    alt = np.empty_like(ref)
    for i, (c, p, r, a, s) in enumerate(
        zip(variants["chrom"], variants["pos"], variants["ref"], variants["alt"], starts)
    ):
        alt[i] = substitute(ref[i], int(p) - 1 - int(s), r, a, where=f"{c}:{p}")
    return ref, alt


def reembedded(enc: Encoder, onehot_ref, onehot_alt, bins: np.ndarray, cells, batch_size=64):
    """Each variant's reference and alternative embeddings, re-embedded in batches.

    Yields:
        ``(v, e_ref, e_alt)``: the variant's row and its two ``(len(cells), d)`` embeddings
        (:func:`reembed`), with a progress bar over the variants.
    """
    from tqdm.auto import tqdm

    for lo in tqdm(range(0, len(bins), batch_size), desc="scoring variants", disable=None):
        sl = slice(lo, lo + batch_size)
        e_ref = reembed(enc, onehot_ref[sl], bins[sl], cells, batch_size)
        e_alt = reembed(enc, onehot_alt[sl], bins[sl], cells, batch_size)
        for j in range(e_ref.shape[0]):
            yield lo + j, e_ref[j], e_alt[j]


def reembed(
    enc: Encoder, onehot: np.ndarray, bins: np.ndarray, cells: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """Embed each bin's (possibly edited) sequence for each cell type (the model's dtype).

    Args:
        enc: the embedding cache's encoder and its input arrays.
        onehot: sequence per bin.
        bins: global bin ids (accessibility inputs).
        cells: indices into ``enc.arrays.cell_types``.
        batch_size: rows per forward pass.

    Shapes: onehot ``(V, 4, L)``, bins ``(V,)`` -> ``(V, len(cells), d)`` float64.
    """
    import torch

    from qtlgraph.encoders.access_rows import access_batch

    dev, dtype = next(enc.model.parameters()).device, next(enc.model.parameters()).dtype
    v_idx, c_idx = np.repeat(np.arange(len(bins)), len(cells)), np.tile(cells, len(bins))
    out = np.empty((len(v_idx), enc.model.config.dim), np.float64)
    a = enc.arrays
    with torch.no_grad():
        for lo in range(0, len(v_idx), batch_size):
            v, c = v_idx[lo : lo + batch_size], c_idx[lo : lo + batch_size]
            acc, flank = access_batch(a, c, bins[v])
            args = [onehot[v], acc, flank]
            args = [t if t is None else torch.from_numpy(t).to(dev, dtype) for t in args]
            out[lo : lo + len(v)] = enc.model.embed(*args).cpu().numpy()
    return out.reshape(len(bins), len(cells), -1)


def feature_rows(data, nodes, emb: np.ndarray, onehot: np.ndarray, d: int):
    """Node feature rows of ``nodes`` with their embedding and k-mer columns recomputed from
    an edited sequence, in the units the model was trained on (the run's standardisation).

    Args:
        data: the run's graph ``Data`` (``x`` and, when present, ``x_mean``, ``x_scale``,
            ``kmer``, ``kmer_columns`` from :func:`qtlgraph.gnn.data.load_graph_data`).
        nodes: node ids of one bin in each cell type.
        emb: the bin's embedding per cell type.
        onehot: the bin's sequence.
        d: embedding width.

    Shapes: nodes ``(C,)``, emb ``(C, d)``, onehot ``(4, L)`` -> ``(C, F)`` float64 tensor.
    """
    import torch

    from qtlgraph.gnn.data import kmer_rows

    x = data.x[torch.as_tensor(nodes)].double()
    mean = getattr(data, "x_mean", None)
    scale = getattr(data, "x_scale", None)
    raw = x * scale + mean if mean is not None else x.clone()
    raw[:, :d] = torch.from_numpy(emb)
    k = getattr(data, "kmer", 0)
    if k:
        cols = getattr(data, "kmer_columns", None)
        codes = np.where(onehot.sum(axis=0) > 0, onehot.argmax(axis=0), 4).astype(np.uint8)[None]
        words = kmer_rows(codes, int(k), None if cols is None else cols.numpy())
        raw[:, d : d + words.shape[1]] = torch.from_numpy(words.astype(np.float64))
    return (raw - mean) / scale if mean is not None else raw


def _bin_columns(index, bins: np.ndarray, prefix: str) -> dict:
    chrom = np.asarray(index.chroms, dtype=object)[index.chrom_of_bins(bins)]
    return {f"{prefix}chrom": chrom, f"{prefix}start": index.starts(bins).astype(np.int64)}


def variant_columns(cell_types, index, variant: pd.Series, nodes: np.ndarray, n: int) -> dict:
    """The leading columns of an effects table: the variant, then each node's cell type and
    bin (``bin, bin_chrom, bin_start``) and its distance from the variant (bin midpoint - pos).

    Shapes: nodes ``(A,)`` (node = cell type * n + bin) -> columns of length ``A``.
    """
    bins = nodes % n
    cols = {
        "variant_id": variant["id"],
        "chrom": variant["chrom"],
        "pos": int(variant["pos"]),
        "ref": variant["ref"],
        "alt": variant["alt"],
        "cell_type": np.asarray(cell_types, dtype=object)[nodes // n],
        "bin": bins,
        **_bin_columns(index, bins, "bin_"),
    }
    cols["distance_bp"] = cols["bin_start"] + index.bin_size // 2 - int(variant["pos"])
    return cols


def effect_frame(run: LoadedRun, index, variant: pd.Series, effect, attribution) -> pd.DataFrame:
    """Rows of one variant: every changed node with its change per mark, distance and path."""
    from qtlgraph.gnn.scoring import Downstream, node_path

    n = int(run.inputs.data.bin.max()) + 1
    nodes = effect.nodes
    cols = variant_columns(run.inputs.cell_types, index, variant, nodes, n)
    cols["hops"] = effect.depth
    down = Downstream(effect.nodes, effect.depth, effect.parent)
    cols["path"] = [">".join(str(p % n) for p in node_path(down, int(x))) for x in nodes]
    for m, mark in enumerate(run.inputs.marks):
        cols[f"ref_{mark}"] = effect.ref[:, m]
        cols[f"delta_{mark}"] = effect.delta[:, m]
    if attribution is not None:
        cols["top_edge"] = _top_edges(run, attribution, n)
    return pd.DataFrame(cols)


def _links(run: LoadedRun, att, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source node, target node and edge types (``,``-joined) of each ablated link."""
    data = run.inputs.data
    first = np.array([e[0] for e in att.edges], np.int64)
    ei = data.edge_index[:, torch_index(first)].numpy().reshape(2, -1)
    names = np.asarray(run.inputs.edge_types, dtype=object)
    types = np.array(
        [",".join(names[data.edge_type[torch_index(e)].numpy()]) for e in att.edges], dtype=object
    )
    return ei[0], ei[1], types


def torch_index(idx) -> object:
    import torch

    return torch.as_tensor(np.asarray(idx, np.int64))


def _top_edges(run: LoadedRun, att, n: int) -> list[str]:
    """Per changed node, the ablated link carrying the most change (sum of |carried| over marks)."""
    if not len(att.edges):
        return [""] * att.carried.shape[1]
    src, dst, types = _links(run, att, n)
    names = np.array([f"{s % n}>{t % n}:{ty}" for s, t, ty in zip(src, dst, types)], dtype=object)
    strength = np.abs(att.carried).sum(axis=2)  # (K, A)
    best = strength.argmax(axis=0)
    return [names[b] if strength[b, a] > 0 else "" for a, b in enumerate(best)]


def edge_frame(run: LoadedRun, index, variant: pd.Series, effect, att) -> pd.DataFrame:
    """Rows of one variant's attribution: (ablated link, changed bin) pairs the link can reach."""
    n = int(run.inputs.data.bin.max()) + 1
    if not len(att.edges):
        return pd.DataFrame()
    src, dst, types = _links(run, att, n)
    k, a = np.nonzero(np.abs(att.carried).sum(axis=2) > 0)
    cols = {
        "variant_id": variant["id"],
        "cell_type": np.asarray(run.inputs.cell_types, dtype=object)[dst[k] // n],
        "source_bin": src[k] % n,
        "target_bin": dst[k] % n,
        "edge_type": types[k],
        **_bin_columns(index, src[k] % n, "source_"),
        **_bin_columns(index, dst[k] % n, "target_"),
        "bin": effect.nodes[a] % n,
    }
    for m, mark in enumerate(run.inputs.marks):
        cols[f"carried_{mark}"] = att.carried[k, a, m]
    return pd.DataFrame(cols)


def score_variants(
    run_dir: str | Path,
    variants: pd.DataFrame,
    *,
    batch_size: int = 64,
    device: str = "auto",
    attribute: bool = True,
    max_edges: int = 64,
    run: LoadedRun | None = None,
    encoder: Encoder | None = None,
) -> ScoreResult:
    """Score variants (``qtlgraph.variants.read_variants`` frame) with a trained GNN run.

    Args:
        run_dir: a ``qtlgraph train`` run.
        variants: ``chrom, pos, ref, alt, id`` (1-based positions).
        batch_size: bins per encoder forward pass.
        device: ``cpu``, ``cuda`` or ``auto``.
        attribute: ablate the edges that can carry each change (:mod:`qtlgraph.gnn.scoring`).
        max_edges: at most this many ablated edges per variant.
        run: an already loaded run (to score several files without reloading).
        encoder: an already opened encoder, likewise.

    Returns:
        :class:`ScoreResult`; ``effects`` columns ``variant_id, chrom, pos, ref, alt,
        cell_type, bin, bin_chrom, bin_start, distance_bp, hops, path, ref_<mark>,
        delta_<mark>[, top_edge]`` (``hops`` 0 = the variant's own bin).
    """
    from qtlgraph.gnn.scoring import propagate

    run = run or load_run(run_dir, device)
    enc = encoder or open_encoder(run.config["data"]["embeddings"], run.device)
    if run.config.get("model") == "distal":
        from qtlgraph.gnn.distal_score import score_distal

        return score_distal(run, enc, variants, batch_size)
    run.model.double()  # allele effects are small differences: compute them in float64
    enc.model.double()
    x = run.inputs.data.x.to(run.device)
    d = enc.model.config.dim
    if x.shape[1] <= d:
        raise InputError(
            f"{run_dir}: node features have {x.shape[1]} columns, the encoder embeds {d}"
        )
    bins = variant_bins(enc.index, variants)
    onehot_ref, onehot_alt = allele_onehots(enc, variants, bins)
    cells = np.array([list(enc.arrays.cell_types).index(c) for c in run.inputs.cell_types])
    n, ei, ea = (
        enc.index.n_bins,
        run.inputs.data.edge_index.to(run.device),
        run.inputs.data.edge_attr.to(run.device),
    )
    effects, edges = [], []
    for v, e_ref, e_alt in reembedded(enc, onehot_ref, onehot_alt, bins, cells, batch_size):
        nodes = np.arange(len(cells)) * n + bins[v]
        ref_rows = feature_rows(run.inputs.data, nodes, e_ref, onehot_ref[v], d).to(x)
        alt_rows = feature_rows(run.inputs.data, nodes, e_alt, onehot_alt[v], d).to(x)
        effect, att = propagate(
            run.model,
            x,
            ei,
            ea,
            nodes,
            ref_rows,
            alt_rows,
            run.hops,
            attribute=attribute,
            max_edges=max_edges,
        )
        effects.append(effect_frame(run, enc.index, variants.iloc[v], effect, att))
        if att is not None:
            edges.append(edge_frame(run, enc.index, variants.iloc[v], effect, att))
    eff = pd.concat(effects, ignore_index=True) if effects else pd.DataFrame()
    return ScoreResult(eff, pd.concat(edges, ignore_index=True) if edges else pd.DataFrame())
