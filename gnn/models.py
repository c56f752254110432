"""Message-passing regressors over the QTL graph, and the local baseline (architecture only).

The local baseline is the same module with message passing switched off: every layer is
called with an empty edge set, so it keeps only the node's own transform. A GNN whose
graph has no edges therefore gives exactly the local model's output for the same weights.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

LAYERS = ("graphconv", "sage", "gatv2", "transformer")


def make_conv(layer: str, hidden: int, edge_dim: int) -> nn.Module:
    """One stock PyG layer, ``hidden -> hidden``.

    ``gatv2`` and ``transformer`` read the edge features (attributes and edge type);
    ``graphconv`` and ``sage`` use the wiring only and aggregate by summing over a
    normalised sparse adjacency (see :func:`mean_adjacency`; the neighbours' mean by
    default, hubs stay on scale). A learned per-edge weight for ``graphconv`` was measured at
    about 3.6x the cost of the unweighted gather-scatter on CPU, so it is left out.
    """
    from torch_geometric.nn import GATv2Conv, GraphConv, SAGEConv, TransformerConv

    if layer == "graphconv":
        return GraphConv(hidden, hidden, aggr="add")  # normalised by the adjacency
    if layer == "sage":
        return SAGEConv(hidden, hidden, aggr="sum")
    if layer == "gatv2":
        return GATv2Conv(hidden, hidden, heads=1, edge_dim=edge_dim or None)
    if layer == "transformer":
        return TransformerConv(hidden, hidden, heads=1, edge_dim=edge_dim or None)
    raise ValueError(f"layer {layer!r}: expected one of {', '.join(LAYERS)}")


AGGRS = ("mean", "sqrt", "sum")
#: each aggregation as the exponent of the in-degree that rescales a mean over sources
AGGR_POWER = {"mean": 0.0, "sqrt": 0.5, "sum": 1.0}


def uses_adjacency(layer: str) -> bool:
    """Whether ``layer`` aggregates through a sparse adjacency (:func:`mean_adjacency`)
    rather than reading ``edge_index`` and edge features itself.
    """
    return layer in ("graphconv", "sage")


def _csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """``(n, n)`` CSR from COO entries already sorted by row then column.

    Row pointers are the cumulative row counts (public ops only, no sort). Indices are
    int32 when they fit: the CPU sparse matmul converts int64 indices to int32 on every
    call (two copies of the index arrays, about 15% of a 1.7 M-edge matmul).
    """
    small = max(n, len(values)) < 2**31 - 1
    itype = torch.int32 if small else torch.int64
    crow = torch.zeros(n + 1, dtype=itype, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    with warnings.catch_warnings():  # "CSR support is in beta": used as PyG itself does
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, cols.to(itype), values, (n, n), check_invariants=False)


def mean_adjacency(edge_index: torch.Tensor, num_nodes: int, aggr: str = "mean") -> torch.Tensor:
    """Sparse CSR ``adj_t`` (rows = targets, columns = sources) for one graph.

    Values: ``1 / in-degree`` (``mean``: the neighbours' mean, hubs stay on scale),
    ``1 / sqrt(in-degree)`` (``sqrt``: grows like the square root of the degree) or
    ``1`` (``sum``). ``adj_t @ h`` is one sparse matmul, about half the time of PyG's
    gather-scatter on CPU and with no per-edge intermediate. Build it once per graph
    and pass it to :class:`GraphRegressor` as its ``edge_index``.

    Its transpose (rows = sources), which the backward pass multiplies by, is built here
    too, from the same sorted edges, and travels with it (:func:`adjacency_matmul`):
    without it every backward pass would transpose the CSR again (a sort of all edges).

    Shapes: edge_index ``(2, E)`` -> ``(num_nodes, num_nodes)`` sparse CSR.
    """
    if aggr not in AGGRS:
        raise ValueError(f"aggr {aggr!r}: expected one of {', '.join(AGGRS)}")
    edge_index = edge_index.long()
    src, dst = edge_index[0], edge_index[1]
    order = torch.argsort(dst * num_nodes + src)
    src, dst = src[order], dst[order]
    deg = torch.bincount(dst, minlength=num_nodes).clamp(min=1).to(torch.float32)
    scale = {"mean": 1.0 / deg, "sqrt": deg.rsqrt(), "sum": torch.ones_like(deg)}[aggr]
    values = scale[dst]
    adj = _csr(dst, src, values, num_nodes)
    back = torch.argsort(src * num_nodes + dst)
    adj.transposed = _csr(src[back], dst[back], values[back], num_nodes)
    return adj


def _transposed(adj: torch.Tensor) -> torch.Tensor:
    """The transpose built with ``adj`` (:func:`mean_adjacency`), else built once here."""
    if getattr(adj, "transposed", None) is None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            adj.transposed = adj.t().to_sparse_csr()
    return adj.transposed


class _AdjacencyMatmul(torch.autograd.Function):
    """``base + adj @ h`` (``adj @ h`` without ``base``); the gradient in ``h`` is
    ``adj.T @ grad``, read from the transpose built with ``adj``.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, adj: torch.Tensor, base: torch.Tensor | None):
        ctx.adj, ctx.has_base = adj, base is not None
        return adj @ h if base is None else torch.addmm(base, adj, h)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _transposed(ctx.adj) @ grad, None, grad if ctx.has_base else None


def adjacency_matmul(
    adj: torch.Tensor, h: torch.Tensor, base: torch.Tensor | None = None
) -> torch.Tensor:
    """``base + adj @ h`` for a :func:`mean_adjacency` CSR, differentiable in ``h`` and
    ``base`` (not ``adj``); one sparse ``addmm``, no zero-filled intermediate.

    Shapes: adj ``(N, N)`` sparse, h and base ``(N, F)`` -> ``(N, F)``.
    """
    if torch.is_grad_enabled():
        return _AdjacencyMatmul.apply(h, adj, base)
    return adj @ h if base is None else torch.addmm(base, adj, h)


def adjacency_conv(conv: nn.Module, h: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """A stock ``GraphConv`` or ``SAGEConv`` (``sum``, no projection or normalisation) over a
    sparse adjacency, from its own weights: what ``conv(h, adj)`` returns.

    The layer computes ``W_rel (adj @ h) + b + W_root h``; here it is summed as
    ``(W_root h + b) + adj @ (W_rel h)`` (the same by linearity), so the aggregation is one
    sparse ``addmm`` onto the root term, and its backward pass reads the cached transpose.

    Shapes: h ``(N, F)``, adj ``(N, N)`` sparse -> ``(N, F_out)``.
    """
    import torch.nn.functional as F

    rel, root = (
        (conv.lin_rel, conv.lin_root) if hasattr(conv, "lin_rel") else (conv.lin_l, conv.lin_r)
    )
    base = F.linear(h, root.weight, rel.bias)
    return adjacency_matmul(adj, F.linear(h, rel.weight), base)


def is_adjacency(graph: torch.Tensor) -> bool:
    """Whether ``graph`` is a sparse adjacency rather than a ``(2, E)`` edge index."""
    return graph.layout != torch.strided


class GraphRegressor(nn.Module):
    """Input projection, residual message-passing blocks, a linear head per target.

    ``h0 = act(W_in x)``; each block ``h <- h + act(conv(h, graph))``; ``y = W_out h``.
    With ``message_passing=False`` the convolutions see no edges (the local baseline).

    ``graphconv`` and ``sage`` aggregate through a sparse adjacency: pass the one
    :func:`mean_adjacency` built (``graph_adjacency`` in :mod:`qtlgraph.gnn.train` builds it from a
    ``Data``) as ``edge_index``; a ``(2, E)`` edge index is also accepted and converted
    on every call (correct, but slower when the same graph is reused). ``gatv2`` and
    ``transformer`` take the ``(2, E)`` edge index and ``edge_attr``.

    Args:
        in_dim: node feature size (embedding + accessibility summary).
        out_dim: number of targets per node (marks).
        hidden: hidden width.
        layers: number of message-passing blocks.
        layer: one of ``graphconv``, ``sage``, ``gatv2``, ``transformer``.
        edge_dim: edge feature size (0: no edge features).
        message_passing: ``False`` for the local baseline.
        dropout: dropout on the hidden state after each block.
        aggr: neighbour weights of the adjacency layers (``mean``, ``sqrt``, ``sum``;
            see :func:`mean_adjacency`).

    Shapes:
        - **input:** x ``(N, in_dim)``, edge_index ``(2, E)`` or sparse ``(N, N)``,
          edge_attr ``(E, edge_dim)``
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
        aggr: str = "mean",
    ) -> None:
        super().__init__()
        if aggr not in AGGRS:
            raise ValueError(f"aggr {aggr!r}: expected one of {', '.join(AGGRS)}")
        self.layer = layer
        self.message_passing = message_passing
        self.edge_dim = edge_dim
        self.aggr = aggr
        self.inp = nn.Linear(in_dim, hidden)
        self.convs = nn.ModuleList(make_conv(layer, hidden, edge_dim) for _ in range(layers))
        self.head = nn.Linear(hidden, out_dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def _graph(self, edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
        """What the convolutions read: no edges for the local model, else the adjacency
        (adjacency layers) or the edge index (attention layers).
        """
        if not self.message_passing:
            edge_index = torch.zeros((2, 0), dtype=torch.long, device=edge_index.device)
        if not uses_adjacency(self.layer):
            if is_adjacency(edge_index):
                raise ValueError(
                    f"layer {self.layer!r} reads edge features: pass a (2, E) edge_index"
                )
            return edge_index
        if is_adjacency(edge_index):
            if tuple(edge_index.shape) != (num_nodes, num_nodes):
                raise ValueError(
                    f"adjacency of shape {tuple(edge_index.shape)} for {num_nodes} nodes"
                )
            return edge_index
        return mean_adjacency(edge_index, num_nodes, self.aggr)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None = None
    ) -> torch.Tensor:
        graph = self._graph(edge_index, x.shape[0])
        if edge_attr is not None and not self.message_passing:
            edge_attr = edge_attr[:0]
        if not self.edge_dim or uses_adjacency(self.layer):
            edge_attr = None
        h = self.act(self.inp(x))
        for conv in self.convs:
            if uses_adjacency(self.layer) and is_adjacency(graph):
                out = adjacency_conv(conv, h, graph)
            else:
                out = conv(h, graph) if edge_attr is None else conv(h, graph, edge_attr)
            h = self.drop(h + self.act(out))
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
        aggr=config.get("aggr", "mean"),
    )
