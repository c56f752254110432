"""Message-passing regressors over the QTL graph, and the local baseline (architecture only).

The local baseline is the same module with message passing switched off: every layer is
called with an empty edge set, so it keeps only the node's own transform. A GNN whose
graph has no edges therefore gives exactly the local model's output for the same weights.
"""
from __future__ import annotations

import torch
from torch import nn

LAYERS = ("graphconv", "sage", "gatv2", "transformer")


def make_conv(layer: str, hidden: int, edge_dim: int) -> nn.Module:
    """One stock PyG layer, ``hidden -> hidden``.

    ``gatv2`` and ``transformer`` read the edge features (attributes and edge type);
    ``graphconv`` and ``sage`` use the wiring only and aggregate the neighbours' mean
    (hubs stay on scale) through a row-normalised sparse adjacency (see
    :func:`mean_adjacency`). A learned per-edge weight for ``graphconv`` was measured at
    about 3.6x the cost of the unweighted gather-scatter on CPU, so it is left out.
    """
    from torch_geometric.nn import GATv2Conv, GraphConv, SAGEConv, TransformerConv

    if layer == "graphconv":
        return GraphConv(hidden, hidden, aggr="add")  # mean via the normalised adjacency
    if layer == "sage":
        return SAGEConv(hidden, hidden, aggr="sum")
    if layer == "gatv2":
        return GATv2Conv(hidden, hidden, heads=1, edge_dim=edge_dim or None)
    if layer == "transformer":
        return TransformerConv(hidden, hidden, heads=1, edge_dim=edge_dim or None)
    raise ValueError(f"layer {layer!r}: expected one of {', '.join(LAYERS)}")


def mean_adjacency(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Sparse CSR ``adj_t`` (rows = targets) with values ``1 / in-degree``.

    ``adj_t @ h`` is the mean over each node's sources: one sparse matmul, about half
    the time of PyG's gather-scatter on CPU and with no per-edge intermediate.

    Shapes: edge_index ``(2, E)`` -> ``(num_nodes, num_nodes)`` sparse CSR.
    """
    src, dst = edge_index[0], edge_index[1]
    order = torch.argsort(dst * num_nodes + src)
    src, dst = src[order], dst[order]
    deg = torch.bincount(dst, minlength=num_nodes).clamp(min=1).to(torch.float32)
    crow = torch.ops.aten._convert_indices_from_coo_to_csr(dst, num_nodes)
    return torch.sparse_csr_tensor(crow, src, 1.0 / deg[dst], (num_nodes, num_nodes),
                                   check_invariants=False)


class GraphRegressor(nn.Module):
    """Input projection, residual message-passing blocks, a linear head per target.

    ``h0 = act(W_in x)``; each block ``h <- h + act(conv(h, edges))``; ``y = W_out h``.
    With ``message_passing=False`` the convolutions see no edges (the local baseline).

    Args:
        in_dim: node feature size (embedding + accessibility summary).
        out_dim: number of targets per node (marks).
        hidden: hidden width.
        layers: number of message-passing blocks.
        layer: one of ``graphconv``, ``sage``, ``gatv2``, ``transformer``.
        edge_dim: edge feature size (0: no edge features).
        message_passing: ``False`` for the local baseline.
        dropout: dropout on the hidden state after each block.

    Shapes:
        - **input:** x ``(N, in_dim)``, edge_index ``(2, E)``, edge_attr ``(E, edge_dim)``
        - **output:** ``(N, out_dim)``
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        hidden: int = 64,
        layers: int = 2,
        layer: str = "graphconv",
        edge_dim: int = 0,
        message_passing: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.layer = layer
        self.message_passing = message_passing
        self.edge_dim = edge_dim
        self.inp = nn.Linear(in_dim, hidden)
        self.convs = nn.ModuleList(make_conv(layer, hidden, edge_dim) for _ in range(layers))
        self.head = nn.Linear(hidden, out_dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self._adj_key, self._adj = None, None

    def _adjacency(self, edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
        key = (edge_index.data_ptr(), tuple(edge_index.shape), edge_index._version,
               num_nodes, edge_index.device)
        if key != self._adj_key:  # the same graph every epoch: build it once
            self._adj_key, self._adj = key, mean_adjacency(edge_index, num_nodes)
        return self._adj

    def _conv(self, i: int, h, edge_index, edge_attr):
        if self.layer in ("graphconv", "sage"):
            return self.convs[i](h, edge_index)
        return self.convs[i](h, edge_index, edge_attr)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None = None
    ) -> torch.Tensor:
        if not self.message_passing:
            edge_index = edge_index.new_zeros((2, 0))
            edge_attr = None if edge_attr is None else edge_attr[:0]
        if edge_attr is not None and not self.edge_dim:
            edge_attr = None
        if self.layer in ("graphconv", "sage"):
            edge_index = self._adjacency(edge_index, x.shape[0])
        h = self.act(self.inp(x))
        for i in range(len(self.convs)):
            h = h + self.act(self._conv(i, h, edge_index, edge_attr))
            h = self.drop(h)
        return self.head(h)


def build_model(config: dict) -> GraphRegressor:
    """Rebuild a model from a run's ``config.json`` ``model`` section."""
    return GraphRegressor(
        config["in_dim"],
        config["out_dim"],
        hidden=config.get("hidden", 64),
        layers=config.get("layers", 2),
        layer=config.get("layer", "graphconv"),
        edge_dim=config.get("edge_dim", 0),
        message_passing=config.get("message_passing", True),
        dropout=config.get("dropout", 0.0),
    )
