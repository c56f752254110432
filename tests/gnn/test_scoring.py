import numpy as np
import pandas as pd
import pytest
import torch

from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex, Genome
from qtlgraph.gnn.models import GraphRegressor, mean_adjacency
from qtlgraph.gnn.score_eval import concordance_metrics, parse_variant_ids
from qtlgraph.gnn.score_run import Encoder, allele_onehots, variant_bins
from qtlgraph.gnn.scoring import downstream, node_path, propagate
from qtlgraph.sequence import decode, one_hot

# 0 -> 1 -> 2 is the variant's chain; 5 -> 3 -> 4 is a separate component
EDGES = torch.tensor([[0, 1, 5, 3], [1, 2, 3, 4]])


def _model(layer="graphconv", layers=2, edge_dim=0):
    torch.manual_seed(0)
    return (
        GraphRegressor(3, 2, hidden=8, layers=layers, layer=layer, edge_dim=edge_dim)
        .double()
        .eval()
    )


def _case(seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    alt = x[[0]] + torch.tensor([[1.0, -0.5, 0.25]], dtype=torch.float64)
    return x, alt


def test_downstream_depths_parents_and_path():
    down = downstream(EDGES.numpy(), [0], hops=2)
    assert down.nodes.tolist() == [0, 1, 2]
    assert down.depth.tolist() == [0, 1, 2]
    assert down.parent.tolist() == [-1, 0, 1]
    assert node_path(down, 2) == [0, 1, 2]
    assert downstream(EDGES.numpy(), [0], hops=1).nodes.tolist() == [0, 1]


def test_only_linked_nodes_change_and_subgraph_equals_whole_graph():
    model, (x, alt) = _model(), _case()
    effect, _ = propagate(model, x, EDGES, None, [0], x[[0]], alt, hops=2)
    x_alt = x.clone()
    x_alt[0] = alt[0]
    adj = mean_adjacency(EDGES, 6).to(torch.float64)  # float64 model: float64 adjacency
    with torch.no_grad():
        whole = (model(x_alt, adj) - model(x, adj)).numpy()
    assert effect.nodes.tolist() == [0, 1, 2]
    np.testing.assert_allclose(effect.delta, whole[[0, 1, 2]], atol=1e-12)
    assert np.all(whole[[3, 4, 5]] == 0)  # not connected: exactly no change
    assert np.all(np.abs(effect.delta).sum(axis=1) > 1e-6)  # own bin and both linked targets change


def test_one_layer_model_reaches_one_hop():
    model, (x, alt) = _model(layers=1), _case()
    effect, _ = propagate(model, x, EDGES, None, [0], x[[0]], alt, hops=1)
    assert effect.nodes.tolist() == [0, 1]


def test_gatv2_with_edge_features_matches_whole_graph():
    model, (x, alt) = _model("gatv2", edge_dim=2), _case()
    ea = torch.arange(8, dtype=torch.float64).reshape(4, 2) / 8
    effect, _ = propagate(model, x, EDGES, ea, [0], x[[0]], alt, hops=2)
    x_alt = x.clone()
    x_alt[0] = alt[0]
    with torch.no_grad():
        whole = (model(x_alt, EDGES, ea) - model(x, EDGES, ea)).numpy()
    np.testing.assert_allclose(effect.delta, whole[[0, 1, 2]], atol=1e-12)


def test_edge_ablation_on_a_chain():
    model, (x, alt) = _model(), _case()
    effect, att = propagate(model, x, EDGES, None, [0], x[[0]], alt, hops=2, attribute=True)
    links = [tuple(EDGES[:, e[0]].tolist()) for e in att.edges]
    assert links == [(0, 1), (1, 2)] and att.complete
    c01, c12 = att.carried[0], att.carried[1]
    # everything reaching 1 and 2 went through 0->1; 1->2 carries nothing to 1, all to 2
    np.testing.assert_allclose(c01[1:], effect.delta[1:], atol=1e-12)
    assert np.all(c01[0] == 0) and np.all(c12[:2] == 0)
    np.testing.assert_allclose(c12[2], effect.delta[2], atol=1e-12)


class _Seq:
    text = "ACGTACGTAC" * 3  # chr1, 30 bp

    def one_hot(self, chrom, start, end):
        return one_hot(self.text[start:end])


def _encoder():
    return Encoder(None, BinIndex(Genome("t", ("chr1",), (30,)), 10), None, _Seq())


def test_alt_allele_substituted_in_its_bin():
    enc = _encoder()
    v = pd.DataFrame({"chrom": ["chr1"], "pos": [13], "ref": ["G"], "alt": ["T"], "id": ["a"]})
    bins = variant_bins(enc.index, v)
    ref, alt = allele_onehots(enc, v, bins)
    assert bins.tolist() == [1]
    assert decode(ref[0]) == "ACGTACGTAC" and decode(alt[0]) == "ACTTACGTAC"


def test_ref_mismatch_and_off_genome_are_input_errors():
    enc = _encoder()
    v = pd.DataFrame({"chrom": ["chr1"], "pos": [13], "ref": ["A"], "alt": ["T"], "id": ["a"]})
    with pytest.raises(InputError, match="chr1:13: ref allele mismatch"):
        allele_onehots(enc, v, variant_bins(enc.index, v))
    off = v.assign(pos=[31])
    with pytest.raises(InputError, match="row 1: chr1:31 is not on the genome"):
        variant_bins(enc.index, off)


def test_parse_variant_ids():
    df = parse_variant_ids(pd.Series(["1:12264_G_A", "chrX:5:AC:T"]))
    assert df[["chrom", "pos", "ref", "alt"]].values.tolist() == [
        ["chr1", 12264, "G", "A"],
        ["chrX", 5, "AC", "T"],
    ]
    with pytest.raises(InputError, match="row 2"):
        parse_variant_ids(pd.Series(["1:1_A_C", "rs123"]))


def test_concordance_metrics_hand_case():
    rows = pd.DataFrame(
        {
            "mark": ["K"] * 4,
            "value": [1.0, -2.0, 3.0, 0.5],
            "pred": [0.1, 0.2, 0.3, 0.0],
            "reached": [True, True, True, False],
        }
    )
    (k, _all) = concordance_metrics(rows, "x")
    assert k["n"] == 4 and k["n_reached"] == 3
    assert k["sign_concordance"] == pytest.approx(2 / 3)
    assert k["spearman_reached"] == pytest.approx(0.5)  # ranks (2,1,3) vs (1,2,3)


def test_feature_rows_rebuild_standardised_features_from_sequence():
    """The reference allele reproduces the run's own feature row; the alternative allele
    changes the k-mer columns it touches, in the run's standardised units."""
    import numpy as np
    import torch
    from torch_geometric.data import Data

    from qtlgraph.gnn.data import feature_stats, kmer_rows
    from qtlgraph.gnn.score_run import feature_rows
    from qtlgraph.sequence import one_hot

    seqs = ["ACGTACGTAA", "CCCCGGGGAA", "ATATATATAT"]
    emb = np.array([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]])
    codes = np.stack(
        [np.where(one_hot(s).sum(0) > 0, one_hot(s).argmax(0), 4) for s in seqs]
    ).astype(np.uint8)
    words = kmer_rows(codes, 2, None)
    raw = np.concatenate([emb, words, np.array([[0.1], [0.2], [0.3]])], axis=1)
    rows = np.array([True, True, True])
    mean, scale = feature_stats(raw, rows)
    data = Data(
        x=torch.from_numpy(((raw - mean) / scale).astype(np.float32)),
        kmer=2,
        x_mean=torch.from_numpy(mean),
        x_scale=torch.from_numpy(scale),
    )
    data.kmer_columns = None
    ref = feature_rows(data, np.array([0]), emb[:1], one_hot(seqs[0]), d=2)
    assert torch.allclose(ref, data.x[:1].double(), atol=1e-5)
    alt_seq = "ACGTACGTAC"  # last base A -> C changes the AA word into AC
    alt = feature_rows(data, np.array([0]), emb[:1], one_hot(alt_seq), d=2)
    changed = (alt - ref).abs()[0] > 1e-9
    assert not changed[:2].any() and not changed[-1]  # embedding and accessibility kept
    assert changed[2:-1].any()
