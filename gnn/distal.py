"""The distal model: linked source bins embedded from their DNA, trained through the target.

A target node's prediction is its local part (the GNN's node features: cached bin
embedding and accessibility, through an MLP) plus what its QTL-linked source bins send.
Each source bin's 10 kb sequence goes through :class:`SourceEncoder` (a narrow convolution
with motif-count-like pooling); with the source node's accessibility and the edge's
features it becomes one message; messages are averaged over the sampled sources and
rescaled by the target's full in-degree (``degree ** aggr_power``), so a sample of K
sources estimates the sum over all of them. The whole model is trained by the target's
loss, so the source encoder learns what acts at a distance, whatever the motif. Without
edges the message term is exactly zero and the model is its local part.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"relu": F.relu, "softplus": F.softplus}


class SourceEncoder(nn.Module):
    """One bin's DNA -> a vector: strand-symmetric Conv1d -> ReLU -> per-kb sum and max -> Linear.

    Every filter also runs as its reverse complement (weights flipped in base and position)
    and the two strands are pooled together, so a motif counts the same on either strand
    with one set of weights. The per-kb sum of ReLU activations counts motif-like matches
    (a filter whose bias keeps background below zero fires only at its matches); the max
    says whether one is present. Stride 1 keeps the filters translation-equivariant: with
    a stride ``s`` each filter sees a motif at one phase in ``s`` only, and on a hand-made
    source-only motif (tests/gnn/test_distal.py) stride 5 memorised the training targets
    without generalising, where stride 1 learned the motif.

    Args:
        channels: learned filters (each applied on both strands).
        kernel: filter width in bp.
        stride: filter step in bp.
        dim: output size.
        activation: ``relu`` (exact zeros below the threshold) or ``softplus`` (a gradient
            at every position, also where no filter matches yet).

    Shapes:
        - **input:** codes ``(B, L)`` uint8 (0-3 = A, C, G, T, 4 = N)
        - **output:** ``(B, dim)``
    """

    def __init__(
        self,
        channels: int = 12,
        kernel: int = 12,
        stride: int = 1,
        dim: int = 32,
        activation: str = "relu",
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r}: expected one of {list(ACTIVATIONS)}")
        self.channels, self.kernel, self.stride, self.dim = channels, kernel, stride, dim
        self.activation = activation
        self.weight = nn.Parameter(torch.empty(channels, 4, kernel))
        self.bias = nn.Parameter(torch.empty(channels))
        self.out = nn.Linear(2 * channels, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(4 * self.kernel)  # Conv1d's default scale
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.constant_(self.bias, -1.0)  # background starts below the threshold
        self.out.reset_parameters()

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(codes.long(), 5)[..., :4].transpose(1, 2).to(self.weight.dtype)
        weight = torch.cat([self.weight, self.weight.flip(1, 2)])  # rows A,C,G,T: flip = complement
        pad = (self.kernel - self.stride) // 2
        act = ACTIVATIONS[self.activation](
            F.conv1d(onehot, weight, self.bias.repeat(2), self.stride, pad)
        )
        c = self.channels
        per_kb = (act[:, :c] + act[:, c:]).sum(dim=-1) * (1000.0 / codes.shape[-1])
        peak = torch.maximum(act[:, :c].amax(dim=-1), act[:, c:].amax(dim=-1))
        return self.out(torch.cat([per_kb, peak], dim=-1))


class DistalRegressor(nn.Module):
    """Local MLP over the target's own features plus aggregated source-sequence messages.

    ``h = local(x_t)``; for each edge ``s -> t``: ``m = msg([enc(seq_s), acc_s, e_st])``;
    ``a_t = mean_s(m) * degree_t ** aggr_power``; ``y_t = head(h + W a_t)`` (``W`` has no
    bias, so ``a_t = 0`` gives exactly ``head(h)``, the local part).

    Args:
        in_dim: node feature size (embedding + accessibility, standardised).
        out_dim: targets per node (marks).
        acc_col: the column of ``x`` holding the accessibility summary (read at sources).
        edge_dim: edge feature size (0: none).
        hidden: hidden width.
        dropout: dropout on the hidden state.
        aggr_power: exponent of the in-degree rescaling (0 mean, 0.5 sqrt, 1 sum).
        channels, kernel, stride, enc_dim, activation: the :class:`SourceEncoder`.

    Shapes:
        - **input:** x ``(N, in_dim)``; seq ``(U, L)`` uint8 codes of the distinct source
          bins; seq_index ``(N,)`` long, the row of ``seq`` of each node (-1: none);
          edge_index ``(2, E)`` (row 0 source, row 1 target, local ids); edge_attr
          ``(E, edge_dim)``; degree ``(N,)`` full in-degree of each node
        - **output:** ``(N, out_dim)``
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        acc_col: int,
        edge_dim: int = 0,
        hidden: int = 64,
        dropout: float = 0.0,
        aggr_power: float = 0.5,
        channels: int = 12,
        kernel: int = 12,
        stride: int = 1,
        enc_dim: int = 32,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.acc_col, self.edge_dim, self.aggr_power = acc_col, edge_dim, aggr_power
        self.local = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, hidden)
        )
        self.encoder = SourceEncoder(channels, kernel, stride, enc_dim, activation)
        self.message = nn.Sequential(
            nn.Linear(enc_dim + 1 + edge_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden)
        )
        self.mix = nn.Linear(hidden, hidden, bias=False)
        self.head = nn.Sequential(nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    def forward_local(self, x: torch.Tensor) -> torch.Tensor:
        """The local part alone. Shapes: ``(N, in_dim) -> (N, out_dim)``."""
        return self.head(self.local(x))

    def aggregate(
        self,
        x: torch.Tensor,
        seq: torch.Tensor,
        seq_index: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor | None,
        degree: torch.Tensor,
    ) -> torch.Tensor:
        """``a_t`` per node (zero where no edge arrives). Shapes: -> ``(N, hidden)``."""
        src, dst = edge_index[0], edge_index[1]
        vec = self.encoder(seq)[seq_index[src]]
        parts = [vec, x[src, self.acc_col : self.acc_col + 1].to(vec.dtype)]
        if self.edge_dim:
            parts.append(edge_attr.to(vec.dtype))
        msg = self.message(torch.cat(parts, dim=-1))
        n = x.shape[0]
        total = torch.zeros(n, msg.shape[1], dtype=msg.dtype, device=msg.device)
        total = total.index_add(0, dst, msg)
        count = torch.bincount(dst, minlength=n).clamp(min=1).to(msg.dtype)
        scale = degree.to(msg.dtype).clamp(min=1) ** self.aggr_power / count
        return total * scale[:, None]

    def forward(
        self,
        x: torch.Tensor,
        seq: torch.Tensor,
        seq_index: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor | None,
        degree: torch.Tensor,
    ) -> torch.Tensor:
        # also without edges (a = 0 exactly, so y = head(h)): every parameter then takes
        # part in every step, as DistributedDataParallel requires
        a = self.aggregate(x, seq, seq_index, edge_index, edge_attr, degree)
        return self.head(self.local(x) + self.mix(a))


def build_distal(config: dict) -> DistalRegressor:
    """Rebuild a model from a run's ``config.json`` ``model_config`` section."""
    keys = ("edge_dim", "hidden", "dropout", "aggr_power", "channels", "kernel", "stride")
    keys += ("activation",)
    kwargs = {k: config[k] for k in keys if k in config}
    if "enc_dim" in config:
        kwargs["enc_dim"] = config["enc_dim"]
    return DistalRegressor(config["in_dim"], config["out_dim"], acc_col=config["acc_col"], **kwargs)
