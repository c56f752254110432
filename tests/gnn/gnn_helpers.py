"""Small synthetic graphs shared by the gnn tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from qtlgraph.gnn.data import CellEdges, build_data


def neighbour_copy_graph(n: int = 400, d: int = 4, seed: int = 0, with_edges: bool = True):
    """One cell type; each bin has one incoming edge and its target is the source's x[0].

    Train on the first 60% of bins, validate on the next 10%, test on the rest.
    """
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(1, n, d)).astype(np.float32)
    source = rng.permutation(n).astype(np.int64)
    target = np.arange(n, dtype=np.int64)
    y = emb[0, source, 0][None, :, None].copy()
    attr = np.zeros((n, 5))
    attr[:, 0] = np.log1p(1.0)
    attr[:, 4] = (target - source) * 10_000.0
    edges = CellEdges(source, target, np.zeros(n, np.int64), attr)
    if not with_edges:
        edges = CellEdges(*(a[:0] for a in edges))
    part = np.zeros(n, np.int64)
    part[int(0.6 * n) : int(0.7 * n)] = 1
    part[int(0.7 * n) :] = 2
    masks = {"train": part == 0, "valid": part == 1, "test": part == 2}
    access = np.zeros((1, n, 1), np.float32)
    return build_data(emb, access, y, masks, [edges], edge_types=["H3K27ac"])


def _brute_force(run, enc, variant, bin_):
    """Every node of the graph recomputed with the variant's bin edited (own features too)."""
    from qtlgraph.gnn.distal_data import BinSequences
    from qtlgraph.gnn.score_run import allele_onehots, feature_rows, reembed

    data, n, d = run.inputs.data, enc.index.n_bins, enc.model.config.dim
    seqs = BinSequences(enc.sequence, enc.index)
    codes = torch.from_numpy(seqs.codes(np.arange(n)))
    bins = np.array([bin_])
    oh_ref, oh_alt = allele_onehots(enc, variant, bins)
    cells = np.arange(len(run.inputs.cell_types))
    own = cells * n + bin_
    outs = []
    for oh in (oh_ref, oh_alt):
        x = data.x.double().clone()
        x[own] = feature_rows(data, own, reembed(enc, oh, bins, cells)[0], oh[0], d)
        c = codes.clone()
        c[bin_] = torch.from_numpy(np.where(oh[0].sum(0) > 0, oh[0].argmax(0), 4).astype(np.uint8))
        inputs = (x, c, data.bin, data.edge_index, data.edge_attr.double(), data.n_in)
        with torch.no_grad():
            outs.append(run.model(*inputs).numpy())
    return outs[1] - outs[0]


def scoring_against_brute_force(run_dir) -> None:
    """A distal run's ``score_variants`` of one SNP equals :func:`_brute_force` at every node
    (a run with a fine-tuned local part recomputes the SNP's own bin with its own encoder)."""
    from qtlgraph.gnn.score_run import load_run, open_encoder, score_variants

    run = load_run(run_dir, "cpu")
    enc = open_encoder(run.config["data"]["embeddings"], run.device)
    tuned = getattr(run.model, "local_encoder", None)
    brute = enc if tuned is None else enc._replace(model=tuned)
    ei = run.inputs.data.edge_index
    bin_ = int(ei[0, 0] % enc.index.n_bins)  # a source bin with at least one target
    chrom = enc.index.chroms[enc.index.chrom_of_bins(np.array([bin_]))[0]]
    pos = int(enc.index.starts(np.array([bin_]))[0]) + 4321
    ref = enc.sequence.fetch(chrom, pos - 1, pos)
    alt = "A" if ref != "A" else "C"
    variant = pd.DataFrame({"chrom": [chrom], "pos": [pos], "ref": [ref], "alt": [alt]})
    variant["id"] = "v1"
    effects = score_variants(run_dir, variant, run=run, encoder=enc).effects
    assert (effects["hops"] == 1).any()  # linked targets reached
    delta = _brute_force(run, brute, variant, bin_)
    n = enc.index.n_bins
    cell = np.array([run.inputs.cell_types.index(c) for c in effects["cell_type"]])
    nodes = cell * n + effects["bin"].to_numpy()
    for m, mark in enumerate(run.inputs.marks):
        np.testing.assert_allclose(effects[f"delta_{mark}"], delta[nodes, m], atol=1e-10)
    rest = np.setdiff1d(np.arange(len(delta)), nodes)
    assert np.abs(delta[rest]).max() < 1e-12  # nothing else changes


def train_distal_cli(run_cli, tiny, out, *extra) -> int:
    """``qtlgraph train --model distal`` on the tiny pipeline (CPU, no bootstrap)."""
    args = ["train", "--model", "distal", "--dataset", str(tiny.dataset), *tiny.graph_args()]
    args += ["--embeddings", str(tiny.embeddings), "--device", "cpu", "--bootstrap", "0"]
    return run_cli([*args, "--batch-size", "128", "--out", str(out), *extra])
