"""The distal model on hand-made graphs: local part, gradients, a source-only motif, effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from qtlgraph.encoders.losses import MaskedLoss
from qtlgraph.encoders.train import train_epoch
from qtlgraph.gnn.distal import DistalRegressor
from qtlgraph.gnn.distal_data import DistalBatches
from qtlgraph.gnn.distal_effects import SourceVectors, pair_outputs
from qtlgraph.gnn.distal_train import predict_distal
from qtlgraph.metrics import pearson

MOTIF = np.array([2, 0, 3, 3, 0, 1, 0, 2, 1, 3], np.uint8)  # GATTACAGCT


class ArraySequences:
    """Bin sequences held in memory (the test stand-in for a FASTA-backed reader)."""

    def __init__(self, codes: np.ndarray) -> None:
        self.array = codes

    def codes(self, bins) -> np.ndarray:
        return self.array[np.asarray(bins, np.int64)]


def toy_graph(n_targets=200, n_sources=3, length=400, seed=0, motif=True):
    """Targets ``0..T-1`` each linked from ``n_sources`` source nodes ``T..``; a target's
    value is the number of motif copies in its sources; node features are noise.
    """
    rng = np.random.default_rng(seed)
    n_src = n_targets * n_sources
    n = n_targets + n_src
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    copies = rng.integers(0, 3, n_src) if motif else np.zeros(n_src, int)
    for i, c in enumerate(copies):
        for j in range(c):
            at = 20 + j * (length // 2) + rng.integers(0, length // 2 - 40)
            codes[n_targets + i, at : at + len(MOTIF)] = MOTIF
    src = n_targets + np.arange(n_src)
    dst = np.repeat(np.arange(n_targets), n_sources)
    y = np.full((n, 1), np.nan, np.float32)
    y[:n_targets, 0] = np.bincount(dst, weights=copies, minlength=n_targets)
    part = np.full(n, -1)
    part[:n_targets] = np.r_[
        np.zeros(int(0.7 * n_targets)), np.ones(n_targets - int(0.7 * n_targets))
    ]
    data = Data(
        x=torch.from_numpy(rng.normal(size=(n, 3)).astype(np.float32)),
        y=torch.from_numpy(y),
        edge_index=torch.from_numpy(np.stack([src, dst]).astype(np.int64)),
        edge_attr=torch.zeros((n_src, 0)),
        bin=torch.arange(n),
        train_mask=torch.from_numpy(part == 0),
        test_mask=torch.from_numpy(part == 1),
    )
    data.num_nodes = n
    data.n_in = torch.bincount(data.edge_index[1], minlength=n)
    return data, ArraySequences(codes)


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault("channels", 16)
    return DistalRegressor(3, 1, acc_col=2, hidden=32, enc_dim=16, **kw)


def test_no_neighbours_is_exactly_the_local_part():
    data, seqs = toy_graph(n_targets=20)
    model = small_model().eval()
    nodes = torch.arange(20)
    batches = DistalBatches(data, nodes, seqs, k=0, batch_size=20, shuffle=False, part="train")
    ((inputs, _),) = list(batches)
    assert inputs[3].shape[1] == 0
    with torch.no_grad():
        assert torch.equal(model(*inputs)[:20], model.forward_local(data.x[:20]))
        full = predict_distal(model, data, seqs, nodes)[:20]
    assert not torch.allclose(full, model.forward_local(data.x[:20]))  # edges do matter


def test_gated_sources_with_silent_filters_send_nothing():
    """Gated messages: a source whose filters are all below threshold adds exactly nothing,
    whatever its accessibility and edge statistics; once a filter fires it does."""
    data, seqs = toy_graph(n_targets=20)
    data.edge_attr = torch.randn(data.edge_index.shape[1], 2)
    model = DistalRegressor(3, 1, acc_col=2, edge_dim=2, hidden=32, message="gated").eval()
    assert model.encoder.out.bias is None
    nodes = torch.arange(20)
    with torch.no_grad():
        model.encoder.bias.fill_(-1e6)  # every position below threshold
        silent = predict_distal(model, data, seqs, nodes)[:20]
        assert torch.equal(silent, model.forward_local(data.x[:20]))
        model.encoder.bias.zero_()
        firing = predict_distal(model, data, seqs, nodes)[:20]
    assert not torch.allclose(firing, silent)


def test_gated_model_rebuilds_from_its_config():
    from qtlgraph.gnn.distal import build_distal

    config = {"in_dim": 3, "out_dim": 2, "acc_col": 2, "edge_dim": 1, "hidden": 8}
    model = build_distal({**config, "message": "gated", "channels": 4})
    assert model.gated and model.encoder.out.out_features == 8
    assert not build_distal(config).gated  # runs written before the option: the MLP message


def test_gradient_reaches_the_source_encoder():
    data, seqs = toy_graph(n_targets=20)
    model = small_model()
    batches = DistalBatches(
        data, torch.arange(14), seqs, k=2, batch_size=14, shuffle=False, part="train"
    )
    ((inputs, target),) = list(batches)
    MaskedLoss("mse")(model(*inputs), target).backward()
    assert model.encoder.weight.grad.abs().sum() > 0


def _learn_toy_motif(seed: int, message: str, surrogate: bool = False) -> float:
    """Test Pearson of a source encoder with standardised ReLU filters on the toy graph
    after 40 epochs."""
    data, seqs = toy_graph()
    kw = {"channels": 12, "activation": "relu", "standardize": True, "message": message}
    kw["surrogate"] = surrogate
    model = small_model(seed=seed, **kw)
    torch.manual_seed(seed)
    train = torch.nonzero(data.train_mask).flatten()
    loader = DistalBatches(data, train, seqs, k=3, batch_size=35, shuffle=True, part="train")
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.01)
    for epoch in range(40):
        loader.set_epoch(epoch)
        train_epoch(model, loader, opt, MaskedLoss("mse"), "cpu")
    test = torch.nonzero(data.test_mask).flatten()
    pred = predict_distal(model, data, seqs, test)[test, 0].numpy()
    return pearson(data.y[test, 0].numpy(), pred)


@pytest.mark.parametrize("message, surrogate", [("gated", True), ("mlp", False)])
def test_source_only_motif_is_learned(message, surrogate):
    """The targets' own features are noise: only the sources' DNA predicts them. Over model
    seeds 0-5 the test Pearson was 0.93-0.97 with the gated message and the surrogate
    gradient, 0.80-0.96 gated with the exact gradient and 0.63-0.94 with the MLP message
    (raw ReLU filters, MLP message: 0.01-0.99; raw softplus filters, the trainer's default:
    0.10-0.28, it does not learn this motif in 40 epochs), so the median of three seeds is
    asserted, not one lucky seed.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: threads only contend
    try:
        scores = sorted(_learn_toy_motif(seed, message, surrogate) for seed in range(3))
    finally:
        torch.set_num_threads(threads)
    assert scores[1] > 0.75, scores
    assert scores[0] > 0.5, scores


def _full_forward(model, data, codes, x):
    """The whole graph at once: every node's sequence, every edge."""
    n = int(data.num_nodes)
    inputs = (
        x,
        torch.from_numpy(codes),
        torch.arange(n),
        data.edge_index,
        data.edge_attr,
        data.n_in,
    )
    return model(*inputs)


def test_pair_outputs_equal_a_full_recomputation_with_the_alt_sequence():
    data, seqs = toy_graph(n_targets=12, n_sources=3, seed=1)
    data.x = data.x.double()
    data.edge_index[0, 5] = data.edge_index[0, 1]  # one source feeds targets 0 and 1
    model = small_model(seed=2).double().eval()
    model.encoder.bias.data.zero_()  # untrained filters fire on some of any sequence
    snp_bin = int(data.edge_index[0, 1])
    alt = seqs.array.copy()
    alt[snp_bin, 100 : 100 + len(MOTIF)] = MOTIF  # an edit the filters can see
    targets = torch.tensor([0, 1, 2])  # 2 is not linked from the SNP's bin: no change
    bins = torch.full((3,), snp_bin)
    x_t = data.x[targets].clone()
    x_t[0, 0] += 0.5  # the target's own features may change too
    with torch.no_grad():
        ref = pair_outputs(model, data, seqs, targets, bins)
        got = pair_outputs(
            model, data, seqs, targets, bins, torch.from_numpy(alt[[snp_bin] * 3]), x_t
        )
        x_alt = data.x.clone()
        x_alt[0, 0] += 0.5
        full_ref = _full_forward(model, data, seqs.array, data.x)[targets]
        full_alt = _full_forward(model, data, alt, x_alt)[targets]
    torch.testing.assert_close(ref, full_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(got[1:], full_alt[1:], rtol=0, atol=1e-12)
    # pair 0 sees the edited x of node 0 only, as the full graph does
    torch.testing.assert_close(got[0], full_alt[0], rtol=0, atol=1e-12)
    assert (got[1] - ref[1]).abs().item() > 1e-6  # the edit reaches target 1
    torch.testing.assert_close(got[2], ref[2], rtol=0, atol=1e-12)  # not linked: unchanged
    # reference sources encoded once and reused (variant scoring): the same outputs
    vectors = SourceVectors(model, seqs)
    with torch.no_grad():
        for _ in range(2):  # the second call reads every reference bin from the cache
            again = pair_outputs(
                model,
                data,
                seqs,
                targets,
                bins,
                torch.from_numpy(alt[[snp_bin] * 3]),
                x_t,
                vectors=vectors,
            )
            torch.testing.assert_close(again, got, rtol=0, atol=1e-12)
        assert vectors(torch.zeros(0, dtype=torch.long)).shape == (0, 16)
