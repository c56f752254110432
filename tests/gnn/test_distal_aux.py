"""The QTL-effect loss: lead variants, edges in the model's graph, one dropout mask per pair."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from test_distal import small_model, toy_graph

from qtlgraph.gnn.distal_aux import AuxRows, Float64View, aux_loss, has_edge, lead_rows
from qtlgraph.gnn.distal_effects import pair_outputs, pair_subgraph


def test_lead_rows_keep_the_smallest_p_of_each_cluster():
    q = pd.DataFrame(
        {
            "cell_type": ["a", "a", "a", "a", "b"],
            "mark": ["m"] * 5,
            "variant_id": ["v1", "v2", "v3", "v4", "v2"],
            "snp_bin": [1, 1, 1, 2, 1],
            "target_bin": [9, 9, 8, 9, 9],
            "value": [0.1, 0.2, 0.3, 0.4, 0.5],
            "pvalue": [1e-3, 1e-6, 1e-2, 0.5, 0.2],
        }
    )
    got = lead_rows(q)
    # (a, 1, 9): v2 beats v1; (a, 1, 8), (a, 2, 9) and (b, 1, 9) have one row each
    assert list(got["variant_id"]) == ["v2", "v3", "v4", "v2"]
    assert lead_rows(q.assign(pvalue=np.nan)).equals(q.assign(pvalue=np.nan))


def test_has_edge_reads_the_graph_the_model_sees():
    data, _ = toy_graph(n_targets=4, n_sources=2)
    src, dst = data.edge_index.numpy()
    assert has_edge(data, src, dst).all()
    assert not has_edge(data, dst, src).any()  # edges are directed
    assert list(has_edge(data, [src[0], src[0]], [dst[0], dst[-1]])) == [True, False]


def test_sampled_copies_share_their_neighbours():
    data, _ = toy_graph(n_targets=5, n_sources=6, seed=3)
    torch.manual_seed(0)
    nodes, ei, _, pair = pair_subgraph(data, torch.tensor([0, 3]), k=4, copies=2)
    assert torch.bincount(pair).tolist() == [4, 4, 4, 4]  # 6 sources capped at 4
    sources = nodes[ei[0]]
    assert torch.equal(sources[pair == 0], sources[pair == 2])  # copy 2 = copy 1
    assert torch.equal(sources[pair == 1], sources[pair == 3])
    full = pair_subgraph(data, torch.tensor([0, 3]))
    assert torch.bincount(full[3]).tolist() == [6, 6]


def test_aux_changes_are_the_snp_effect_alone_despite_dropout():
    data, seqs = toy_graph(n_targets=6, n_sources=3, seed=1)
    model = small_model(seed=2, dropout=0.5, activation="softplus").train()
    targets = torch.arange(6)
    bins = data.edge_index[0, ::3].clone()  # the first source of each target
    ref = torch.from_numpy(seqs.codes(bins.numpy()))
    offset = torch.full((6,), 100, dtype=torch.long)
    zeros = torch.zeros(6, dtype=torch.long)
    rows = AuxRows(targets, bins, zeros, offset, ref[:, 100].clone(), torch.ones(6))
    # alt = ref: the changes are exactly zero, so the loss is its value at delta = 0
    loss = aux_loss(model, data, seqs, rows, torch.arange(6))
    assert model.training  # the training state is restored
    torch.testing.assert_close(loss, torch.tensor(1.0))  # mean(z ** 2)
    loss.backward()  # zero changes everywhere: the gradient stays finite
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.zero_grad()
    rows = rows._replace(base=(ref[:, 100] + 1) % 4)  # a different base at offset 100
    alt = rows.alt_codes(torch.arange(6), ref)
    assert ((alt != ref).sum(dim=1) == 1).all() and (alt[:, 100] == rows.base).all()
    with torch.no_grad():  # the changes in float64 after the encoder, as the term does
        wide = Float64View(copy.deepcopy(model).eval())
        both = pair_outputs(wide, data, seqs, targets, bins, torch.cat([ref, alt]), copies=2)
    d = both[6:, 0] - both[:6, 0]
    assert d.abs().min() > 0  # the base edit reaches every target
    rms = d.pow(2).mean().sqrt().item()
    rows = rows._replace(z=(d / rms).float())
    model.train()  # dropout 0.5 would dominate alt - ref if the two had their own masks
    loss = aux_loss(model, data, seqs, rows, torch.arange(6))
    # only the 1e-6 guard of the scale is left; masks would give ~1, and float32 outputs
    # (changes under 1e-4 of them here) about 1e-4 from their rounding
    assert loss.dtype == torch.float32 and loss.item() < max(1e-6, 4 * (1e-6 / rms) ** 2)
    loss.backward()
    # the term trains the source encoder only; how messages become levels is the main loss's
    for name, param in model.named_parameters():
        assert (param.grad is not None) == name.startswith("encoder."), name
        assert param.grad is None or param.grad.dtype == torch.float32  # the model's own
        assert param.requires_grad  # restored after the pass


def test_the_snp_edge_is_always_in_the_sample():
    data, _ = toy_graph(n_targets=5, n_sources=6, seed=3)
    targets = torch.tensor([0, 3])
    src = data.edge_index[0]
    snp = torch.stack([src[data.edge_index[1] == t][4] for t in targets])  # 5th source each
    for seed in range(5):
        torch.manual_seed(seed)
        nodes, ei, _, pair = pair_subgraph(data, targets, k=1, first_bins=snp)
        assert torch.equal(data.bin[nodes[ei[0]]], snp[pair])
        nodes, ei, _, pair = pair_subgraph(data, targets, k=2, first_bins=snp)
        assert torch.bincount(pair).tolist() == [2, 2]  # the cap holds in every pair
        assert all((data.bin[nodes[ei[0]]][pair == p] == snp[p]).sum() == 1 for p in (0, 1))
