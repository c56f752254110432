"""The distal model's local part from the trained bin encoder, frozen or fine-tuned.

By default (``--local-part frozen``) a target's own representation comes from the
embedding cache: the trained bin encoder (``qtlgraph train-local``) applied once to every
(cell type, bin) and never changed. With ``--local-part finetune`` that encoder becomes
part of the distal model: each training step embeds the batch's target nodes from their
sequence and accessibility, the embedding takes the cache's place in the node features
(standardised as the cache was), and the encoder's weights are trained by the targets'
loss at :data:`FINETUNE_LR_SCALE` times the learning rate. Its BatchNorm layers keep the
statistics they were trained with (the encoder stays in evaluation mode; only its weights
move), so at the first step the fine-tuned model computes what the frozen one does, up to
the cache's storage precision (tested).

After training, every node's features are recomputed with the fine-tuned encoder
(:func:`refresh_embeddings`), so predictions, variant scoring and attribution read the
node features as for a frozen run; variant scoring re-embeds a variant's own bin with the
fine-tuned encoder (``qtlgraph.gnn.distal_score``).
"""

from __future__ import annotations

import numpy as np
import torch

LOCAL_PARTS = ("frozen", "finetune")
#: the fine-tuned encoder's learning rate, relative to the rest of the model's: its
#: weights start trained, and at the model's rate (5e-3 by default) the first steps would
#: undo what ``train-local`` learnt before the message path has learnt anything
FINETUNE_LR_SCALE = 0.1


class LocalInputs:
    """The bin encoder's inputs of (cell type, bin) nodes: base codes, accessibility, flank.

    Args:
        arrays: ``qtlgraph.encoders.bin_dataset.BinArrays`` of the dataset (accessibility).
        sequences: a :class:`qtlgraph.gnn.distal_data.BinSequences` reader.
        cell_types: the graph's cell types, in node order (node = cell * n_bins + bin).
        n_bins: bins per cell type.
    """

    def __init__(self, arrays, sequences, cell_types, n_bins: int) -> None:
        self.arrays, self.sequences, self.n_bins = arrays, sequences, int(n_bins)
        names = list(arrays.cell_types)
        self.cells = np.array([names.index(c) for c in cell_types], np.int64)

    def inputs(self, nodes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(codes (T, L) uint8, acc (T, P)[, flank (T, F)])`` of ``nodes`` (global ids)."""
        nodes = np.asarray(nodes, np.int64)
        cell, bins = self.cells[nodes // self.n_bins], nodes % self.n_bins
        from qtlgraph.encoders.access_rows import access_batch

        acc, flank = access_batch(self.arrays, cell, bins)
        codes = self.sequences.codes(bins)
        return tuple(torch.from_numpy(x) for x in (codes, acc, flank) if x is not None)


def embeddings_encoder(embed_dir):
    """The trained bin encoder named in ``embed_dir/embed.json`` (eval mode, CPU)."""
    from qtlgraph.encoders.embed import load_local_model
    from qtlgraph.runtime import read_json

    meta = read_json(f"{embed_dir}/embed.json")
    model, _ = load_local_model(meta["run"])
    return model


def open_local_inputs(dataset_path, encoder, sequences, inputs) -> LocalInputs:
    """:class:`LocalInputs` of ``inputs``' nodes (a run's ``GraphInputs``) over the
    dataset's accessibility tracks, read once.
    """
    from qtlgraph.encoders.bin_dataset import load_bin_arrays
    from qtlgraph.genome import BinIndex
    from qtlgraph.manifest import load_dataset

    ds = load_dataset(dataset_path)
    index = BinIndex(ds.genome, encoder.config.bin_size)
    arrays = load_bin_arrays(ds, index, encoder.config, targets=False)
    n_bins = int(inputs.data.num_nodes) // len(inputs.cell_types)
    return LocalInputs(arrays, sequences, inputs.cell_types, n_bins)


def refresh_embeddings(model, data, local: LocalInputs, batch_size: int = 256) -> None:
    """Replace the embedding columns of every node's features with the model's encoder's
    (standardised as in training), in place.
    """
    enc = model.local_encoder
    d = enc.config.dim
    dtype = data.x.dtype
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    with torch.no_grad():
        for lo in range(0, int(data.num_nodes), batch_size):
            nodes = torch.arange(lo, min(lo + batch_size, int(data.num_nodes)))
            parts = [t.to(device) for t in local.inputs(nodes)]
            emb = model.standardized_embedding(*parts)
            data.x[nodes, :d] = emb.to(dtype).cpu()
    model.train(was)


def refresh_loaded(model, inputs, sequences, data_opts: dict) -> None:
    """For a loaded run with a fine-tuned local part: recompute every node's embedding
    columns with its encoder (:func:`refresh_embeddings`); nothing otherwise.
    """
    if getattr(model, "local_encoder", None) is None:
        return
    local = open_local_inputs(data_opts["dataset"], model.local_encoder, sequences, inputs)
    refresh_embeddings(model, inputs.data, local)
