"""QTL effects as a training signal for the distal model (``--qtl-aux-weight W``).

Each training step adds ``W`` times an auxiliary loss over a random draw of QTL rows of
the TRAINING chromosomes only (SNP and target there; validation and test rows are never
read): the model's change at the row's target and mark between the alternative and the
reference sequence of the SNP's bin (:func:`qtlgraph.gnn.distal_effects.pair_outputs`),
against the row's beta. Both sides are put on one scale (the predicted changes divided by
their root mean square over the draw, the betas by theirs over all rows), so the term
asks for the sign and the relative size of the effects and leaves their units to the
main loss. Validation losses (computed without gradients) leave the term out. Under
torchrun every rank computes the whole term (:class:`WithQtlAux`).
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np
import torch

#: QTL rows per auxiliary draw
AUX_ROWS = 8
#: in-neighbours of each row's target in the auxiliary pass: the SNP's bin and one
#: other drawn at random (the sampled estimate of the rest; the pass costs ~ rows x this)
AUX_NEIGHBOURS = 2
#: parameters the auxiliary term trains (name prefixes): the source encoder only
AUX_TRAINS = ("encoder.",)


class AuxRows(NamedTuple):
    """Training QTL rows ready for :func:`pair_outputs`: the SNP as its offset in the bin
    and its alternative base (the bin's sequence is read when a row is drawn, so the rows
    cost a few bytes each, not a bin of sequence).

    ``z`` is ``beta`` over its root mean square across the rows (:func:`standardised`).

    Shapes: target, snp_bin, mark, offset ``(R,)`` long; base ``(R,)`` uint8; z ``(R,)``;
    beta ``(R,)`` float64 (None where rows are made by hand).
    """

    target: torch.Tensor
    snp_bin: torch.Tensor
    mark: torch.Tensor
    offset: torch.Tensor
    base: torch.Tensor
    z: torch.Tensor
    beta: torch.Tensor | None = None

    def alt_codes(self, draw: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """``ref`` (the drawn rows' bin codes, ``(n, bin_size)``) with each SNP's base."""
        alt = ref.clone()
        alt[torch.arange(len(draw)), self.offset[draw]] = self.base[draw]
        return alt


def lead_rows(q):
    """The lead variant (smallest p-value, first on ties) of each cell type, mark, source
    bin and target bin: the one SNP of an LD cluster most likely to be causal.

    Tags in LD with a causal SNP share its beta without touching the sequence that acts,
    so taking every significant row teaches the model that arbitrary base changes carry
    the cluster's effect. Rows without p-values are all kept.
    """
    if not len(q) or q["pvalue"].isna().all():
        return q
    key = ["cell_type", "mark", "snp_bin", "target_bin"]
    order = q.sort_values("pvalue", kind="stable", na_position="last")
    return order.drop_duplicates(key).sort_index()


def has_edge(data, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Whether the graph ``data`` has an edge ``source -> target`` (any edge type), per row.

    A row whose SNP bin does not send to its target in the graph the model reads (an
    edge-shuffled control, a graph built at another threshold) has no path for its effect.
    """
    ei = data.edge_index.numpy().astype(np.int64)
    n = int(data.num_nodes)
    return np.isin(
        np.asarray(source, np.int64) * n + np.asarray(target, np.int64), ei[0] * n + ei[1]
    )


def reference_bases(sequences, bins: np.ndarray, offsets: np.ndarray, chunk: int = 4096):
    """The genome's base code at each ``(bin, offset)``, reading ``chunk`` bins at a time."""
    out = np.empty(len(bins), np.uint8)
    for lo in range(0, len(bins), chunk):
        sl = slice(lo, lo + chunk)
        out[sl] = sequences.codes(bins[sl])[np.arange(len(out[sl])), offsets[sl]]
    return out


def standardised(beta: torch.Tensor) -> torch.Tensor:
    """``beta`` (float64) over its root mean square, as float32."""
    rms = max(float(beta.pow(2).mean().sqrt()), 1e-12)
    return (beta / rms).float()


def linked_rows(rows: AuxRows | None, data) -> AuxRows | None:
    """The rows whose SNP bin sends an edge to their target in the graph ``data``
    (:func:`has_edge`), ``z`` standardised over them; None when none is left.
    """
    if rows is None:
        return None
    source = rows.target - data.bin[rows.target] + rows.snp_bin  # same cell type's node
    keep = torch.from_numpy(has_edge(data, source.numpy(), rows.target.numpy()))
    if not keep.any():
        return None
    kept = AuxRows(*(None if t is None else t[keep] for t in rows))
    return kept if kept.beta is None else kept._replace(z=standardised(kept.beta))


def training_rows(
    data_opts: dict, inputs, sequences, fdr: float = 0.05, lead: bool = True, edges: bool = True
) -> AuxRows | None:
    """QTL rows (FDR < ``fdr``) with SNP and target on training chromosomes, distal only,
    single-base alleles whose reference matches the genome, whose SNP bin sends an edge to
    the target in the model's graph (:func:`linked_rows`; every row with ``edges=False``);
    with ``lead``, only each cluster's lead variant (:func:`lead_rows`; its clusters share
    SNP bin and target, so the edge test drops whole clusters). None when no row qualifies.
    """
    from qtlgraph.gnn.score_eval import parse_variant_ids, qtl_rows
    from qtlgraph.manifest import load_dataset
    from qtlgraph.sequence import codes

    ds = load_dataset(data_opts["dataset"])
    index = sequences.index
    q = qtl_rows(ds, index, "train", fdr)
    train = inputs.data.train_mask.numpy()
    if len(q):
        q = q[(q["snp_bin"] >= 0) & (q["target_bin"] >= 0) & (q["snp_bin"] != q["target_bin"])]
        cell = np.array([inputs.cell_types.index(c) for c in q["cell_type"]], np.int64)
        q = q.assign(node=cell * index.n_bins + q["target_bin"].to_numpy(np.int64))
        q = q[train[q["node"].to_numpy()]].reset_index(drop=True)
        if lead:
            q = lead_rows(q).reset_index(drop=True)
    if not len(q):
        return None
    v = parse_variant_ids(q["variant_id"])
    offset = v["pos"].to_numpy() - 1 - index.starts(q["snp_bin"].to_numpy())
    snv = (v["ref"].str.len() == 1) & (v["alt"].str.len() == 1)
    ref = reference_bases(sequences, q["snp_bin"].to_numpy(), np.clip(offset, 0, None))
    keep = snv.to_numpy() & (offset >= 0) & (ref == codes("".join(v["ref"].str[:1])))
    q, v, offset = q[keep], v[keep], offset[keep]
    if not len(q):
        return None
    beta = torch.from_numpy(q["value"].to_numpy(np.float64).copy())
    rows = AuxRows(
        torch.from_numpy(q["node"].to_numpy(np.int64).copy()),
        torch.from_numpy(q["snp_bin"].to_numpy(np.int64).copy()),
        torch.tensor([inputs.marks.index(m) for m in q["mark"]], dtype=torch.long),
        torch.from_numpy(offset.astype(np.int64)),
        torch.from_numpy(codes("".join(v["alt"]))),
        standardised(beta),
        beta,
    )
    return linked_rows(rows, inputs.data) if edges else rows


def aux_loss(model, data, sequences, rows: AuxRows, draw: torch.Tensor, k=None) -> torch.Tensor:
    """The auxiliary term over the rows ``draw`` (indices into ``rows``), the model's outputs
    computed in float64 (:class:`Float64View`).

    Args:
        model: the :class:`qtlgraph.gnn.distal.DistalRegressor` being trained.
        data: the run's prepared graph.
        sequences: the run's :class:`qtlgraph.gnn.distal_data.BinSequences`.
        rows: the training QTL rows (:func:`training_rows`).
        draw: indices into ``rows``.
        k: in-neighbours per target, the SNP's bin among them (None: all of them).
    """
    from qtlgraph.gnn.distal_effects import pair_outputs

    t, b = rows.target[draw], rows.snp_bin[draw]
    ref_codes = torch.from_numpy(sequences.codes(b.numpy()))
    # one call for both alleles: every linked source bin is encoded once. Dropout off
    # (gradients kept): with independent masks for the two alleles, alt - ref would be
    # the masks' difference, orders of magnitude above the SNP's own effect.
    was_training = model.training
    model.eval()
    # the term trains what the model reads from a source's DNA (the source encoder) only;
    # how messages turn into levels is left to the targets' loss
    frozen = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(AUX_TRAINS)
    ]
    for p in frozen:
        p.requires_grad_(False)
    try:
        both = pair_outputs(
            Float64View(model),
            data,
            sequences,
            t,
            b,
            torch.cat([ref_codes, rows.alt_codes(draw, ref_codes)]),
            k=k,
            copies=2,
        )
    finally:
        model.train(was_training)
        for p in frozen:
            p.requires_grad_(True)
    ref, alt = both[: len(t)], both[len(t) :]
    marks = rows.mark[draw].to(ref.device)
    delta = (alt - ref).gather(1, marks[:, None])[:, 0]
    # the tiny floor under the square root keeps its gradient finite when every change is
    # exactly zero (a ReLU encoder below threshold at the SNP): sqrt'(0) would give NaN
    scaled = delta / ((delta.pow(2).mean() + 1e-20).sqrt() + 1e-6)
    return (scaled - rows.z[draw].to(delta)).pow(2).mean().float()


class Float64View:
    """``model`` evaluated in float64 after its source encoder's filters, gradients flowing to
    its own parameters.

    A SNP's change is a small difference of two outputs (5e-6 of them on the tiny preset at
    initialisation, 3e-5 after one epoch): in float32 their rounding was a median 8%, then
    1%, of each change, noise in the term that also made it depend on the order of
    floating-point sums (e.g. on how a batch is split across torchrun ranks).
    What :func:`qtlgraph.gnn.distal_effects.pair_outputs` uses of a model: ``parameters()``
    (for the dtype and device) and the call.
    """

    def __init__(self, model) -> None:
        self.model = model
        # the source encoder's filters stay in float32: its lookups are most of the cost
        # (float64 tripled the demo's epoch); it sums them in float64, and its output layer
        # and everything after it run in float64
        filters = ("encoder.weight", "encoder.bias")
        self.params = {n: p if n in filters else p.double() for n, p in model.named_parameters()}

    def parameters(self):
        return iter(self.params.values())

    def __call__(self, *inputs):
        return torch.func.functional_call(self.model, self.params, inputs)


class WithQtlAux:
    """``loss(pred, target) + weight * aux`` during training steps; ``loss`` alone without
    gradients (validation), so the chosen epoch depends on the targets' loss only.

    Under torchrun (``ctx``) the targets' loss is weighted by this rank's share of the
    global batch's finite targets (:func:`qtlgraph.distributed.global_batch_loss`), and
    every rank computes the whole auxiliary term: the rows are drawn from torch's global
    generator, which the ranks share as long as nothing else draws from it differently on
    each (dropout does, with masks sized by each rank's share of the batch). With equal
    terms on every rank, the DDP average of the gradients is one process's. The term is
    not split across ranks: its scale (the root mean square of the changes over the draw)
    ties the rows together, and it costs a small part of a step (``AUX_ROWS`` targets with
    ``AUX_NEIGHBOURS`` sources against ``--batch-size`` targets with ``--neighbours``).
    """

    #: weighs its own parts: :func:`qtlgraph.distributed.global_batch_loss` leaves it as is
    global_batch = True

    def __init__(
        self, loss, weight: float, model, data, sequences, rows: AuxRows, k=None, ctx=None
    ) -> None:
        from qtlgraph.distributed import global_batch_loss

        self.loss, self.weight, self.model = loss, weight, model
        self.data, self.sequences, self.rows = data, sequences, rows
        self.k = k
        self.train_loss = loss if ctx is None else global_batch_loss(loss, ctx)

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return self.loss(pred, target)
        main = self.train_loss(pred, target)
        n = len(self.rows.target)
        draw = torch.randint(n, (min(AUX_ROWS, n),))
        aux = aux_loss(self.model, self.data, self.sequences, self.rows, draw, self.k)
        return main + self.weight * aux


def with_qtl_aux(loss, model, data, sequences, opts, rows: AuxRows | None, ctx=None):
    """``loss`` itself when ``opts.qtl_aux_weight`` is 0, else :class:`WithQtlAux` over
    ``rows`` (:func:`training_rows` of the model's graph; ``ctx``: the process group under
    torchrun).
    """
    if not opts.qtl_aux_weight:
        return loss
    if rows is None:  # e.g. an edge-shuffled graph keeps none of the QTL pairs
        print(
            "note: no QTL row qualifies for --qtl-aux-weight; trained without it", file=sys.stderr
        )
        return loss
    k = min(opts.k, AUX_NEIGHBOURS)
    return WithQtlAux(loss, opts.qtl_aux_weight, model, data, sequences, rows, k, ctx)
