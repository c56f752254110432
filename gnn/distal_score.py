"""Scoring variants with a distal run: the SNP edits its bin's sequence (every message
leaving the bin) and its bin's own embedding; the change is read at the bin itself and at
every target linked from it.

Per variant and cell type the variant's own node gets its node features recomputed from
the edited sequence (the embedding cache's encoder, as for the GNN:
:func:`qtlgraph.gnn.score_run.feature_rows`); each target of an edge leaving the variant's
bin is evaluated with its full in-neighbourhood and the edited source sequence
(:func:`qtlgraph.gnn.distal_effects.pair_outputs`). Reference and alternative are both
recomputed, in float64, so a change is exactly the model's difference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from qtlgraph.gnn.distal_data import BinSequences
from qtlgraph.gnn.distal_effects import SourceVectors, pair_outputs
from qtlgraph.gnn.score_run import LoadedRun, ScoreResult, variant_columns


def load_distal_model(run_dir: str | Path, config: dict, data_opts: dict):
    """A distal run's data (its ``config.json`` options), source-sequence reader and
    best-epoch model on the CPU, with a fine-tuned local part's node features recomputed.

    Returns:
        ``(model, GraphInputs, BinSequences)``.
    """
    from qtlgraph.gnn.distal import build_distal
    from qtlgraph.gnn.distal_local import refresh_loaded
    from qtlgraph.gnn.distal_train import load_distal_data
    from qtlgraph.gnn.train import load_trained

    inputs, seqs = load_distal_data(data_opts, config.get("options", {}).get("seed", 0))
    model = load_trained(build_distal(config["model_config"]), run_dir)
    refresh_loaded(model, inputs, seqs, data_opts)
    return model, inputs, seqs


def load_distal_run(run_dir: str | Path, config: dict, graph_specs: list[str], device="auto"):
    """Rebuild a distal run (data with the same options, best-epoch weights) as a
    :class:`qtlgraph.gnn.score_run.LoadedRun` (``hops`` = 1).
    """
    from qtlgraph.runtime import select_device

    data_opts = {**config["data"], "graphs": graph_specs}
    model, inputs, seqs = load_distal_model(run_dir, config, data_opts)
    dev = select_device(device)
    return LoadedRun(model.to(dev).eval(), inputs, config, 1, dev, seqs)


def _codes(onehot: np.ndarray) -> np.ndarray:
    """Shapes: ``(V, 4, L)`` one-hot -> ``(V, L)`` uint8 codes (all-zero columns = N)."""
    return np.where(onehot.sum(axis=1) > 0, onehot.argmax(axis=1), 4).astype(np.uint8)


def variant_pairs(data, n_bins: int, n_cells: int, bin_: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes changed by a SNP in ``bin_``: its own node in each cell type (hops 0) and every
    target of an edge leaving one of them (hops 1).

    Returns:
        ``(nodes, hops)`` ``(R,)`` int64, own nodes first, then targets ascending.
    """
    own = np.arange(n_cells, dtype=np.int64) * n_bins + bin_
    ei = data.edge_index.numpy()
    linked = np.unique(ei[1][np.isin(ei[0], own)])
    linked = linked[~np.isin(linked, own)]
    return np.concatenate([own, linked]), np.r_[np.zeros(len(own)), np.ones(len(linked))]


def _variant_rows(run, variant, bin_, nodes, hops, ref, alt, index) -> pd.DataFrame:
    bins = nodes % index.n_bins
    cols = variant_columns(run.inputs.cell_types, index, variant, nodes, index.n_bins)
    cols.update(
        {
            "hops": hops.astype(np.int64),
            "path": [str(bin_) if h == 0 else f"{bin_}>{b}" for h, b in zip(hops, bins)],
        }
    )
    for m, mark in enumerate(run.inputs.marks):
        cols[f"ref_{mark}"] = ref[:, m]
        cols[f"delta_{mark}"] = alt[:, m] - ref[:, m]
    return pd.DataFrame(cols)


def score_distal(run: LoadedRun, enc, variants: pd.DataFrame, batch_size: int = 64):
    """Predicted change per mark of every variant at its bin and its linked targets.

    Args:
        run: a distal run (:func:`load_distal_run`).
        enc: the run's embedding-cache encoder (:func:`qtlgraph.gnn.score_run.open_encoder`);
            a run with a fine-tuned local part uses its own encoder instead.
        variants: ``chrom, pos, ref, alt, id`` (ref alleles checked against the genome).
        batch_size: variants embedded per encoder call.

    Returns:
        :class:`qtlgraph.gnn.score_run.ScoreResult` (no edge attribution: ``edges`` empty).
    """
    from qtlgraph.gnn.score_run import allele_onehots, feature_rows, reembedded, variant_bins

    if getattr(run.model, "local_encoder", None) is not None:  # fine-tuned local part
        enc = enc._replace(model=run.model.local_encoder)
    run.model.double()
    enc.model.double()
    data, d = run.inputs.data, enc.model.config.dim
    seqs = BinSequences(enc.sequence, enc.index)
    bins = variant_bins(enc.index, variants)
    oh_ref, oh_alt = allele_onehots(enc, variants, bins)
    cells = np.array([list(enc.arrays.cell_types).index(c) for c in run.inputs.cell_types])
    vectors = SourceVectors(run.model, seqs)  # unchanged source bins encoded once
    frames = []
    for v, e_ref, e_alt in reembedded(enc, oh_ref, oh_alt, bins, cells, batch_size):
        nodes, hops = variant_pairs(data, enc.index.n_bins, len(cells), int(bins[v]))
        x, codes = [], []
        for emb, oh in ((e_ref, oh_ref[v]), (e_alt, oh_alt[v])):
            x.append(data.x[torch.from_numpy(nodes)].double())
            x[-1][: len(cells)] = feature_rows(data, nodes[: len(cells)], emb, oh, d)
            codes.append(torch.from_numpy(np.repeat(_codes(oh[None]), len(nodes), axis=0)))
        t, b = torch.from_numpy(nodes), torch.full((len(nodes),), int(bins[v]))
        # both alleles in one call (copies 2); unchanged source bins come from ``vectors``
        with torch.no_grad():
            both = pair_outputs(
                run.model,
                data,
                seqs,
                t,
                b,
                torch.cat(codes),
                torch.cat(x),
                copies=2,
                vectors=vectors,
            )
        ref, alt = both.cpu().numpy().reshape(2, len(nodes), -1)
        frames.append(
            _variant_rows(run, variants.iloc[v], int(bins[v]), nodes, hops, ref, alt, enc.index)
        )
    effects = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return ScoreResult(effects, pd.DataFrame())
