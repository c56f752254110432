"""Allele effects through the distal model: a SNP edits its bin's sequence, hence the
message of every edge leaving that bin, hence the prediction at each linked target.

:func:`pair_outputs` evaluates the model at target nodes, one independent copy of each
target's full in-neighbourhood per (SNP, target) pair, with the SNP's bin read from a given
sequence (the alternative allele) wherever it is a source, and optionally the target's own
node features replaced (a SNP in the target bin changes its embedding). Variant scoring
(:mod:`qtlgraph.gnn.distal_score`) and the QTL auxiliary loss
(:mod:`qtlgraph.gnn.distal_aux`) are both differences of two such calls.
"""

from __future__ import annotations

import torch

from qtlgraph.gnn.sampler import InNeighbourSampler, keep_smallest

_CSC: dict[int, tuple] = {}


class SourceVectors:
    """The source encoder's output for reference bins, computed once per bin (no gradient).

    Variant scoring evaluates every target of a SNP's bin with its whole in-neighbourhood;
    all sources but the SNP's bin are unchanged from one variant to the next, so their
    encoding is reused. For a model whose weights do not change while it is used.

    Args:
        model: a :class:`qtlgraph.gnn.distal.DistalRegressor` (its dtype and device).
        sequences: the run's :class:`qtlgraph.gnn.distal_data.BinSequences`.
    """

    def __init__(self, model, sequences) -> None:
        self.model, self.sequences = model, sequences
        self.rows: dict[int, torch.Tensor] = {}

    def encode(self, codes: torch.Tensor) -> torch.Tensor:
        """Encoder outputs of base codes, each distinct row encoded once.

        Shapes: ``(B, L)`` uint8 -> ``(B, enc_dim)``.
        """
        device = next(self.model.parameters()).device
        uniq, inv = torch.unique(codes, dim=0, return_inverse=True)
        with torch.no_grad():
            return self.model.encoder(uniq.to(device))[inv.to(device)]

    def __call__(self, bins: torch.Tensor) -> torch.Tensor:
        """Encoder outputs of the reference sequence of ``bins``. Shapes: ``(U,)`` -> ``(U, d)``."""
        if not len(bins):
            p = next(self.model.parameters())
            return p.new_zeros(0, self.model.encoder.out.out_features)
        missing = [b for b in bins.tolist() if b not in self.rows]
        if missing:
            codes = torch.from_numpy(self.sequences.codes(missing))
            for b, row in zip(missing, self.encode(codes)):
                self.rows[b] = row
        return torch.stack([self.rows[b] for b in bins.tolist()])


def _all_in_edges(data):
    """The graph's edges in CSC order (one :class:`InNeighbourSampler` kept per graph)."""
    ei = data.edge_index
    hit = _CSC.get(id(ei))
    if hit is None or hit[0] is not ei:
        _CSC.clear()
        hit = _CSC[id(ei)] = (ei, InNeighbourSampler(ei, int(data.num_nodes), None))
    return hit[1]


def pair_subgraph(
    data, targets: torch.Tensor, k: int | None = None, copies: int = 1, first_bins=None
) -> tuple[torch.Tensor, ...]:
    """Every in-edge of each target (or up to ``k`` drawn at random, edges from the pair's
    ``first_bins`` bin always among them), as a disjoint union over the pairs, repeated
    ``copies`` times with the same edges in every copy.

    Nodes of the union: the ``copies * R`` targets first, then one source node per edge.

    Returns:
        ``(nodes, edge_index, edge_ids, pair_of_edge)``: global node of each union node
        ``(copies * (R + E),)``, local edges ``(2, copies * E)``, the edges' ids in
        ``data`` and the pair (``0 .. copies * R - 1``) each edge belongs to.
    """
    sampler = _all_in_edges(data)
    targets = targets.long().cpu()
    pos, pair = sampler.pick(targets)
    if k is not None and len(pos):
        key = torch.rand(len(pos))  # the training step's RNG: reproducible on resume
        if first_bins is not None:  # the SNP's own edge first: never left out of the sample
            first = data.bin[sampler.source[pos]] == first_bins.long()[pair]
            key = torch.where(first, 0.0, 0.5 + key / 2)
        keep = keep_smallest(pair, key, k)
        pos, pair = pos[keep], pair[keep]
    R, E = len(targets), len(pos)
    pos, pair = pos.repeat(copies), torch.cat([pair + c * R for c in range(copies)])
    nodes = torch.cat([targets.repeat(copies), sampler.source[pos]])
    edge_index = torch.stack([copies * R + torch.arange(copies * E), pair])
    return nodes, edge_index, sampler.edge_of[pos], pair


def pair_outputs(
    model,
    data,
    sequences,
    targets: torch.Tensor,
    snp_bins: torch.Tensor,
    alt_codes: torch.Tensor | None = None,
    target_x: torch.Tensor | None = None,
    k: int | None = None,
    copies: int = 1,
    vectors: SourceVectors | None = None,
) -> torch.Tensor:
    """The model's output at each target, its SNP's bin edited (gradients kept).

    Args:
        model: a :class:`qtlgraph.gnn.distal.DistalRegressor`.
        data: the run's prepared graph (:func:`qtlgraph.gnn.distal_data.prepare_data`).
        sequences: the run's :class:`qtlgraph.gnn.distal_data.BinSequences`.
        targets: target node of each pair.
        snp_bins: the bin holding each pair's SNP (global bin id).
        alt_codes: the SNP bin's edited base codes per pair and copy (None: the reference).
        target_x: replacement node features of each target and copy (None: unchanged).
        k: in-neighbours per target (None: all), the SNP bin's edge always among them.
        copies: evaluations per pair on the same neighbours (e.g. 2: reference and
            alternative, whose difference is then the SNP's effect alone).
        vectors: reuse the encodings of reference source bins (no gradient through the
            source encoder then; for scoring, not for training).

    Shapes:
        targets, snp_bins ``(R,)``; alt_codes ``(copies * R, bin_size)`` uint8; target_x
        ``(copies * R, in_dim)`` -> ``(copies * R, n_marks)``.
    """
    device = next(model.parameters()).device
    first = snp_bins if k is not None else None
    nodes, edge_index, edge_ids, pair = pair_subgraph(data, targets, k, copies, first)
    R = copies * len(targets)
    snp_bins = snp_bins.long().repeat(copies)
    src_bins = data.bin[nodes[R:]]
    uniq, inv = torch.unique(src_bins, return_inverse=True)
    if vectors is None:
        seq = torch.from_numpy(sequences.codes(uniq.numpy()))
    else:
        seq = vectors(uniq)
    seq_index = torch.full((len(nodes),), -1, dtype=torch.long)
    seq_index[R:] = inv
    if alt_codes is not None:
        edited = src_bins == snp_bins[pair]
        alt = torch.as_tensor(alt_codes, dtype=torch.uint8)
        seq = torch.cat([seq, alt if vectors is None else vectors.encode(alt).to(seq)])
        seq_index[R:][edited] = len(uniq) + pair[edited]
    dtype = next(model.parameters()).dtype  # float64 for scoring: small differences
    x = data.x[nodes].to(dtype)
    if target_x is not None:
        x[:R] = target_x.to(dtype)
    inputs = (x, seq, seq_index, edge_index, data.edge_attr[edge_ids], data.n_in[nodes])
    inputs = tuple(t.to(device, dtype) if t.is_floating_point() else t.to(device) for t in inputs)
    return model(*inputs)[:R]
