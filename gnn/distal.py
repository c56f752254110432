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

ACTIVATIONS = {"relu": F.relu, "softplus": F.softplus, "relu2": F.relu}
#: activations whose sum is over ReLU outputs (exact zeros below the threshold); ``relu2``
#: sums their squares: a match far above the threshold counts much more than the many
#: background positions just above it
RELU_LIKE = ("relu", "relu2")
MESSAGES = ("mlp", "gated")
MATCHES = ("mean", "gc")


def gc_content(codes: torch.Tensor) -> torch.Tensor:
    """Share of G or C among a bin's called bases (0.5 for a bin of N only).

    Shapes: ``(B, L)`` uint8 -> ``(B,)`` float32
    """
    called = (codes < 4).sum(dim=1)
    gc = ((codes == 1) | (codes == 2)).sum(dim=1)
    share = gc.float() / called.clamp(min=1).float()
    return torch.where(called > 0, share, torch.full_like(share, 0.5))


class SourceEncoder(nn.Module):
    """One bin's DNA -> a vector: strand-symmetric Conv1d -> ReLU -> per-kb sum and max -> Linear.

    Every filter also runs as its reverse complement (weights flipped in base and position)
    and the two strands are pooled together, so a motif counts the same on either strand
    with one set of weights. The per-kb sum of ReLU activations counts motif-like matches
    (a filter whose bias keeps background below zero fires only at its matches); the max
    says whether one is present. With ``standardize`` the filters are standardised (weight
    standardisation, Qiao et al. 2019, arXiv:1903.10520): each position's weights are centred
    over the four bases and the filter is divided by the standard deviation of its score on
    uniform random sequence, so a pre-activation is a z-score against that background and
    the bias a threshold in its standard deviations, starting at -:attr:`THRESHOLD`. A motif
    detector then needs its weights to point the right way, not to grow from their initial
    scale to one where a match stands out of 10 kb of background, which the few optimiser
    steps of a small training set did not give them (raw softplus filters stayed near their
    initial norms, and a SNP moved the target by 1e-4 of the true change). The trainer
    offers it as ``--distal-filters standardized``; docs/distal.md has the trials and why
    it is not the default. Stride 1 keeps the filters translation-equivariant: with a
    stride ``s`` each filter sees a motif at one phase in ``s`` only, and on a hand-made
    source-only motif (tests/gnn/test_distal.py) stride 5 memorised the training targets
    without generalising, where stride 1 learned the motif.

    The convolution runs as table lookups: its input is one-hot, so with the filter cut
    into chunks of at most :attr:`CHUNK` positions, each output is the sum over chunks of
    one row of a table holding the chunk's score for every k-mer (base 5, N scoring 0),
    built from the weights on every call. That is ``F.conv1d`` with zero padding, up to
    float rounding. Bins are pooled a block at a time so the activations stay in the
    cache, and the backward recomputes them instead of keeping them.

    Args:
        channels: learned filters (each applied on both strands).
        kernel: filter width in bp.
        stride: filter step in bp.
        dim: output size.
        activation: ``relu`` (exact zeros below the threshold) or ``softplus`` (a gradient
            at every position, also where no filter matches yet).
        standardize: standardised filters (above); ``False``: the weights as learnt.
        bias: a bias in the output layer (``False``: a bin whose filters are all silent
            encodes to exactly zero).
        threshold: the initial threshold of standardised filters, in standard deviations
            (raw filters start at a bias of -1).
        levels: extra counts per filter, ReLU filters only: for each level ``l`` (> 0) the
            per-kb sum of ``ReLU(a - l)`` of the filter's activations ``a``, i.e. of its
            pre-activation ``l`` above the threshold. The output layer weighs them with the
            plain sum, so a weighted sum of hinges can bend the response at any of those
            levels: ``ReLU(a - 1) - ReLU(a - 2)``, for one, counts matches at 1-2 SD above the
            threshold and no more for stronger ones. A filter at a low threshold counts
            weak sites and much background; these let the model count strong matches apart
            from it (docs/distal.md, "Where a variant's change goes").
        background: bins of genome background (``background`` x ``length`` codes, set by
            :meth:`set_background`) whose mean pooled features are subtracted from every
            bin's before the output layer, so a typical background bin encodes to zero and
            a bin sends something only for what sets it apart from the genome's background
            (its sites), not for being a bin (docs/distal.md, "Background-centred
            sources"). 0: none.
        length: the bins' length (with ``background``).
        match: ``mean`` (every bin centred on the background bins' mean) or ``gc`` (on
            the background bins of similar GC content, :meth:`centre`): a filter's
            background firing rises with the GC content of its bin when its motif is
            GC-rich, and the genome's GC varies along it.
        frozen_in_training: the filters (weights and thresholds) get no gradient in training
            mode; in eval mode with gradients on (the QTL-effect pass,
            :func:`qtlgraph.gnn.distal_aux.aux_loss`) they do. The filters are then what the
            QTL effects teach, and the targets' loss trains only how counts are read.
        surrogate: with ``relu``, the backward takes softplus' slope (the logistic of the
            pre-activation) at every position instead of ReLU's step; the forward is
            unchanged. A filter below threshold near a QTL's SNP then still learns from the
            QTL-effect loss, which with the exact gradient it cannot: a SNP where no filter
            fires changes nothing, so its term has no gradient at all (docs/distal.md,
            "Surrogate gradient").

    Shapes:
        - **input:** codes ``(B, L)`` uint8 (0-3 = A, C, G, T, 4 = N)
        - **output:** ``(B, dim)``
    """

    CHUNK = 6  # a table of 5**6 rows: 1.5 MB for 12 filters, about the L2 cache
    BLOCK = 20_000  # output positions pooled at a time per thread (2 bins of 10 kb): in cache
    #: initial threshold of standardised filters, in standard deviations of their score on
    #: uniform random sequence: about 1 position in 740 of such sequence is above it
    THRESHOLD = 3.0
    #: GC-matched centring (``match="gc"``): the kernel's standard deviation, in GC fraction
    GC_BANDWIDTH = 0.02

    def __init__(
        self,
        channels: int = 12,
        kernel: int = 12,
        stride: int = 1,
        dim: int = 32,
        activation: str = "relu",
        standardize: bool = False,
        bias: bool = True,
        surrogate: bool = False,
        threshold: float = THRESHOLD,
        levels: tuple[float, ...] = (),
        background: int = 0,
        length: int = 0,
        frozen_in_training: bool = False,
        match: str = "mean",
    ):
        super().__init__()
        if match not in MATCHES:
            raise ValueError(f"match {match!r}: expected one of {MATCHES}")
        self.frozen_in_training, self.match = frozen_in_training, match
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r}: expected one of {list(ACTIVATIONS)}")
        levels = tuple(float(v) for v in levels)
        if activation == "relu2" and (levels or surrogate):
            raise ValueError("relu2 filters take no levels and no surrogate gradient")
        if levels and (activation != "relu" or surrogate or min(levels) <= 0):
            raise ValueError(f"levels {levels}: expected levels > 0 on ReLU filters, exact slope")
        self.levels = levels
        self.channels, self.kernel, self.stride, self.dim = channels, kernel, stride, dim
        self.activation, self.standardize, self.surrogate = activation, standardize, surrogate
        self.threshold = threshold
        self.weight = nn.Parameter(torch.empty(channels, 4, kernel))
        self.bias = nn.Parameter(torch.empty(channels))
        self.out = nn.Linear((2 + len(levels)) * channels, dim, bias=bias)
        if background and length < 1:
            raise ValueError(f"background {background}: expected the bins' length")
        codes = torch.full((background, length), 4, dtype=torch.uint8) if background else None
        self.register_buffer("background", codes)
        self._centre: tuple | None = None  # (parameter versions, centre) without gradient
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(4 * self.kernel)  # Conv1d's default scale
        nn.init.uniform_(self.weight, -bound, bound)
        # background starts below the threshold
        nn.init.constant_(self.bias, -self.threshold if self.standardize else -1.0)
        self.out.reset_parameters()

    def set_background(self, codes: torch.Tensor) -> None:
        """The background bins' codes. Shapes: ``(background, length)`` uint8."""
        if self.background is None or codes.shape != self.background.shape:
            shape = None if self.background is None else tuple(self.background.shape)
            raise ValueError(f"background codes {tuple(codes.shape)}: expected {shape}")
        self.background.copy_(codes)
        self._centre = None

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if self.background is None:
            return self.out(self.features(codes))
        if torch.is_grad_enabled():  # the centre's gradient counts: encode both together
            both = self.features(torch.cat([codes, self.background.to(codes.device)]))
            own, bg = both[: len(codes)], both[len(codes) :]
        else:
            own, bg = self.features(codes), self.background_features(codes.device)
        return self.out(own - self.centre(codes, bg))

    def centre(self, codes: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
        """What each bin's features are centred on: the background bins' mean features
        ``bg``, or with ``match="gc"`` their mean weighted by a Gaussian kernel of GC
        content (bandwidth :attr:`GC_BANDWIDTH`) around each bin's own GC.

        Shapes: codes ``(B, L)``, bg ``(M, F)`` -> ``(B, F)`` or ``(F,)``
        """
        if self.match != "gc":
            return bg.mean(dim=0)
        own, other = (gc_content(c).to(bg.dtype) for c in (codes, self.background.to(codes.device)))
        weight = torch.exp(-0.5 * ((own[:, None] - other[None]) / self.GC_BANDWIDTH) ** 2)
        weight = weight / weight.sum(dim=1, keepdim=True).clamp(min=1e-30)
        return weight @ bg

    def background_features(self, device=None) -> torch.Tensor:
        """Pooled features of the background bins without gradient, kept while the
        filters, the bins and the output dtype stay as they are. Shapes: -> ``(M, F)``.
        """
        w, b, bg = self.weight, self.bias, self.background
        key = (w.data_ptr(), w._version, b.data_ptr(), b._version, bg.data_ptr(), bg._version)
        key += (self.out.weight.dtype, str(device))
        if self._centre is None or self._centre[0] != key:
            with torch.no_grad():
                self._centre = (key, self.features(bg.to(device or w.device)))
        return self._centre[1]

    def features(self, codes: torch.Tensor) -> torch.Tensor:
        """The pooled counts the output layer reads: per-kb sums, peaks and the levels'
        per-kb hinge sums, both strands together. Shapes: ``(B, L)`` -> ``(B, in_features)``.
        """
        rows, grid = self.kmer_rows(codes)
        out_dtype = self.out.weight.dtype  # float64 sums under a float64 output layer
        slope = "softplus" if self.surrogate else self.activation
        tables = self.tables()
        if self.frozen_in_training and self.training:
            tables = tables.detach()
        args = (tables, rows, grid, self.activation, out_dtype, slope, self.levels)
        total, top, above = self._PooledLookup.apply(*args)
        c, per = self.channels, 1000.0 / codes.shape[-1]
        per_kb = (total[:, :c] + total[:, c:]) * per  # out_dtype sums
        peak = torch.maximum(top[:, :c], top[:, c:]).to(out_dtype)
        counts = [per_kb, peak]
        for i in range(len(self.levels)):  # level-major: both strands of level i
            at = above[:, 2 * c * i : 2 * c * (i + 1)]
            counts.append((at[:, :c] + at[:, c:]) * per)
        return torch.cat(counts, dim=-1)

    def chunking(self) -> tuple[int, int]:
        """``(length, count)`` of the filter chunks; the last one may end in zero weights."""
        count = -(-self.kernel // self.CHUNK)
        return -(-self.kernel // count), count

    def filters(self) -> torch.Tensor:
        """The weights the convolution applies: standardised, or as learnt.

        Shapes: -> ``(channels, 4, kernel)``
        """
        if not self.standardize:
            return self.weight
        centred = self.weight - self.weight.mean(dim=1, keepdim=True)
        variance = centred.pow(2).mean(dim=1, keepdim=True).sum(dim=2, keepdim=True)
        return centred / (variance + 1e-12).sqrt()

    def tables(self) -> torch.Tensor:
        """Every chunk's k-mer scores, stacked chunk after chunk, the bias in the first.

        Row ``h * 5**n + sum_j d_j 5**j`` holds ``sum_j w[:, d_j, h * n + j]`` for both
        strands (``d = 4``, N, and positions past the kernel add 0).

        Shapes: -> ``(count * 5 ** length, 2 * channels)``
        """
        n, count = self.chunking()
        w = self.filters()
        both = torch.cat([w, w.flip(1, 2)])  # rows A,C,G,T: flip = complement
        both = F.pad(both, (0, n * count - self.kernel, 0, 1))  # (2c, 5, n * count), N row 0
        rows = both.permute(2, 1, 0)  # (position, base, 2c)
        tables = []
        for h in range(count):
            table = rows[h * n] + self.bias.repeat(2) if h == 0 else rows[h * n]
            for j in range(h * n + 1, h * n + n):  # base j - h * n: the next power of 5
                table = (rows[j][:, None] + table[None]).reshape(-1, table.shape[-1])
            tables.append(table)
        return torch.cat(tables)

    def kmer_rows(self, codes: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """The k-mer (of one chunk's length) at every position some chunk starts at.

        Codes are padded with N as ``F.conv1d`` pads with zeros, ``(kernel - stride) // 2``
        on each side (and more on the right, read by zero weights only). Chunk ``h`` of
        output ``o`` reads k-mer ``o * step + h * shift``; ``grid`` is
        ``(L_out, step, shift, count)``.

        Shapes: ``(B, L)`` -> ``(B, step * (L_out - 1) + shift * (count - 1) + 1)`` int64,
        base 5, first base lowest
        """
        n, count = self.chunking()
        pad = (self.kernel - self.stride) // 2
        n_out = (codes.shape[-1] + 2 * pad - self.kernel) // self.stride + 1
        every = math.gcd(self.stride, n)  # chunks start on this grid of positions
        grid = (n_out, self.stride // every, n // every, count)
        size = grid[1] * (n_out - 1) + grid[2] * (count - 1) + 1
        padded = F.pad(codes.long(), (pad, every * (size - 1) + n - codes.shape[-1] - pad), value=4)
        kmer = padded.new_zeros(codes.shape[0], size)
        for j in reversed(range(n)):  # Horner: kmer = base_j + 5 * kmer
            torch.add(padded[:, j : j + every * (size - 1) + 1 : every], kmer, alpha=5, out=kmer)
        return kmer, grid

    class _PooledLookup(torch.autograd.Function):
        """Summed table lookups per position -> activation -> sum and max over positions.

        Returns the sum of the activations, the activation of the maximum (the maximum
        of the activations: both are monotone) and, for each of ``levels``, the sum of
        ``ReLU(activation - level)`` (ReLU filters only), level after level. The backward
        recomputes the lookups a block at a time and adds each position's gradient into the
        table rows it read (``index_add_``). Block-sized buffers are reused within a call.

        Shapes: table ``(count * 5**n, C)``, rows ``(B, R)`` -> two of ``(B, C)`` and
        ``(B, len(levels) * C)``
        """

        @staticmethod
        def forward(ctx, table, rows, grid, activation, sum_dtype, slope, levels=()):
            # sums in ``sum_dtype``: float64 where the caller reads small differences (a SNP
            # changes a few of 10,000 terms, and a float32 sum's rounding is a large part of
            # that change), the table's own dtype otherwise (cheaper)
            total = table.new_empty(rows.shape[0], table.shape[1], dtype=sum_dtype)
            top = table.new_empty(total.shape)
            where = total.new_empty(total.shape, dtype=torch.long)
            c = table.shape[1]
            above = total.new_zeros(rows.shape[0], len(levels) * c)
            # ReLU with its own gradient: the backward needs only the positions where some
            # filter fires (a few percent of them), so keep those instead of recomputing all
            relu_like = activation in RELU_LIKE
            sparse = relu_like and slope == activation and ctx.needs_input_grad[0]
            square = activation == "relu2"
            active, fired = [], []
            for b in SourceEncoder._blocks(rows.shape[0], grid[0]):
                pre = SourceEncoder._lookup(table, rows[b], grid)
                top[b], where[b] = SourceEncoder._peak(pre)
                if relu_like:
                    pre.clamp_(min=0)
                else:
                    torch.ops.aten.softplus.out(pre, 1, 20, out=pre)
                if not sparse and not levels:
                    torch.sum(
                        pre.square_() if square else pre, dim=1, dtype=sum_dtype, out=total[b]
                    )
                    continue
                flat = pre.view(-1, pre.shape[-1])
                # ReLU outputs are >= 0: their sum is > 0 where one is (mv: a fast
                # reduction over the channels, which amax over the last dim is not)
                at = torch.mv(flat, flat.new_ones(flat.shape[1])).nonzero().squeeze(1)
                values = flat[at]
                if sum_dtype == table.dtype and not square:
                    torch.sum(pre, dim=1, out=total[b])
                else:  # a wider sum of the positions that fired only: the others add 0
                    total[b] = 0
                    summed = values.square() if square else values
                    total[b].index_add_(0, at // grid[0], summed.to(sum_dtype))
                for i, level in enumerate(levels):  # from the positions that fired only
                    hinge = (values - level).clamp_(min=0).to(sum_dtype)
                    above[b, i * c : (i + 1) * c].index_add_(0, at // grid[0], hinge)
                if sparse:
                    active.append(at + b.start * grid[0])
                    fired.append(values if levels or square else values > 0)
            ctx.save_for_backward(table, rows, top, where)
            ctx.grid, ctx.slope, ctx.levels = grid, slope, levels  # the derivative taken
            ctx.square = square
            ctx.active = (torch.cat(active), torch.cat(fired)) if active else None
            return total, ACTIVATIONS[activation](top), above

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, grad_total, grad_top, grad_above):
            table, rows, top, where = ctx.saved_tensors
            n_out, step, shift, count = ctx.grid
            slope = SourceEncoder._slope
            grad_top = slope(ctx.slope, grad_top, top, torch.empty_like(top))  # relu2's: ReLU
            grad = torch.zeros_like(table)
            tables = grad.view(count, -1, table.shape[1])
            none = (None,) * 6
            if ctx.active is not None:
                SourceEncoder._sparse_backward(
                    tables, rows, ctx, grad_total, grad_top, where, grad_above
                )
                return grad, *none
            blocks = SourceEncoder._blocks(rows.shape[0], n_out)
            size = blocks[0].stop - blocks[0].start if blocks else 0
            buffer = table.new_empty(size, n_out, table.shape[1])
            for b in blocks:
                pre = SourceEncoder._lookup(table, rows[b], ctx.grid)
                g = buffer[: pre.shape[0]]
                g.copy_(grad_total[b, None].expand_as(g))
                slope(ctx.slope, g, pre, g)
                if ctx.square:  # d/dx relu(x)^2 = 2 relu(x)
                    g.mul_(pre.clamp(min=0)).mul_(2)
                g.scatter_add_(1, where[b, None], grad_top[b, None])
                for h in range(count):
                    read = rows[b, h * shift : h * shift + step * (n_out - 1) + 1 : step]
                    tables[h].index_add_(0, read.reshape(-1), g.view(-1, table.shape[1]))
            return grad, *none

    @staticmethod
    def _sparse_backward(tables, rows, ctx, grad_total, grad_top, where, grad_above) -> None:
        """The table gradient of ReLU filters from the positions where some filter fired.

        ``ctx.active``: those positions (``bin * L_out + output``, ascending) and which
        filters fired there (with ``ctx.levels``: their activations). Every other position
        has a zero gradient, and the maximum of a filter that fired is among them (of one
        that did not, ReLU passes nothing).

        Shapes: tables ``(count, 5**n, C)`` (added into), rows ``(B, R)``, grad_total,
        grad_top (ReLU's slope applied), where ``(B, C)``; grad_above ``(B, levels * C)``
        """
        n_out, step, shift, count = ctx.grid
        at, fired = ctx.active
        ctx.active = None
        bins, out = at // n_out, at % n_out
        dtype, width = tables.dtype, tables.shape[-1]
        if ctx.square:  # fired holds the activations a: d(a^2) = 2 a
            g = grad_total.to(dtype)[bins] * (2 * fired)
        elif not ctx.levels:
            g = grad_total.to(dtype)[bins] * fired
        else:  # fired holds the activations: each hinge passes its gradient above its level
            g = grad_total.to(dtype)[bins] * (fired > 0)
            for i, level in enumerate(ctx.levels):
                part = grad_above[:, i * width : (i + 1) * width].to(dtype)
                g += part[bins] * (fired > level)
        hit = grad_top != 0
        if hit.any():
            b, c = hit.nonzero(as_tuple=True)
            row = torch.searchsorted(at, b * n_out + where[b, c])
            g.index_put_((row, c), grad_top[b, c], accumulate=True)
        for h in range(count):
            tables[h].index_add_(0, rows[bins, h * shift + out * step], g)

    @staticmethod
    def _blocks(n_bins: int, n_out: int) -> list[slice]:
        """Consecutive bins, about :attr:`BLOCK` output positions per thread at a time."""
        size = max(1, SourceEncoder.BLOCK * torch.get_num_threads() // max(n_out, 1))
        return [slice(i, i + size) for i in range(0, n_bins, size)]

    @staticmethod
    def _peak(pre: torch.Tensor, group: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """Maximum over positions and a position holding it: ``(B, L, C)`` -> two ``(B, C)``.

        ``max(dim=1)`` with indices is slow on CPU; ``amax`` over positions taken
        ``group`` at a time is not, and leaves one position in ``group`` to search.
        """
        n, length, c = pre.shape
        q = length // group
        if q == 0:
            return pre.max(1)
        head = pre[:, : q * group].reshape(n, q, group, c)
        _, phase = head.reshape(n, q, group * c).amax(1).view(n, group, c).max(1)
        top, where = head.gather(2, phase[:, None, None].expand(n, q, 1, c))[:, :, 0].max(1)
        where = where * group + phase
        if q * group < length:
            tail, at = pre[:, q * group :].max(1)
            later = tail > top
            top, where = torch.where(later, tail, top), torch.where(later, at + q * group, where)
        return top, where

    @staticmethod
    def _lookup(table: torch.Tensor, rows: torch.Tensor, grid: tuple) -> torch.Tensor:
        """Pre-activations: ``(B, R)`` k-mer rows -> ``(B, L_out, C)``."""
        n_out, step, shift, count = grid
        first = torch.arange(count, device=rows.device) * (table.shape[0] // count)
        index = rows.new_empty(rows.shape[0], n_out, count)
        torch.add(rows.unfold(1, shift * (count - 1) + 1, step)[..., ::shift], first, out=index)
        pre = F.embedding_bag(index.view(-1, count), table, mode="sum")
        return pre.view(rows.shape[0], n_out, -1)

    @staticmethod
    def _slope(activation: str, grad: torch.Tensor, x: torch.Tensor, out: torch.Tensor):
        """``out = grad * activation'(x)`` as autograd computes it, in one pass."""
        if activation in RELU_LIKE:  # relu2: the caller multiplies by 2 relu(x)
            return torch.ops.aten.threshold_backward.grad_input(grad, x, 0, grad_input=out)
        return torch.ops.aten.softplus_backward.grad_input(grad, x, 1, 20, grad_input=out)


class DistalRegressor(nn.Module):
    """Local MLP over the target's own features plus aggregated source-sequence messages.

    ``h = local(x_t)``; for each edge ``s -> t``: ``m = msg([enc(seq_s), acc_s, e_st])``;
    ``a_t = mean_s(m) * degree_t ** aggr_power``; ``y_t = head(h + W a_t)`` (``W`` has no
    bias, so ``a_t = 0`` gives exactly ``head(h)``, the local part).

    With ``message="gated"`` the message is the source's sequence vector scaled by a gate
    read from the rest: ``m = enc(seq_s) * 2 sigmoid(gate([acc_s, e_st]))``, with ``enc``'s
    output layer bias-free. A source then sends only what its DNA encodes: a bin whose
    filters are silent sends nothing, whatever its accessibility and QTL statistics. With
    the ``mlp`` message a source can send a constant (its accessibility or edge statistics
    through the MLP), and the levels of QTL targets are explained by how many sources they
    have; every source bin of a QTL carries the variant's site, so the levels alone do not
    tell the two apart, but a SNP's effect is the site's whole contribution only in the
    gated form (docs/distal.md, "Gated messages").

    Args:
        in_dim: node feature size (embedding + accessibility, standardised).
        out_dim: targets per node (marks).
        acc_col: the column of ``x`` holding the accessibility summary (read at sources).
        edge_dim: edge feature size (0: none).
        hidden: hidden width.
        dropout: dropout on the hidden state.
        aggr_power: exponent of the in-degree rescaling (0 mean, 0.5 sqrt, 1 sum).
        channels, kernel, stride, enc_dim, activation, standardize: the
            :class:`SourceEncoder` (``enc_dim`` unused with the gated message, whose
            sequence vector has the hidden width).
        message: ``mlp`` or ``gated`` (above).
        surrogate, threshold, levels, background, length: the :class:`SourceEncoder`'s
            surrogate gradient, initial threshold, hinge levels and background bins.
        background_match: the :class:`SourceEncoder`'s ``match``.
        filter_loss: ``both`` (the filters learn from the targets' loss and the QTL-effect
            term) or ``qtl`` (from the QTL-effect term only: ``frozen_in_training``).

    Shapes:
        - **input:** x ``(N, in_dim)``; seq ``(U, L)`` uint8 codes of the distinct source
          bins, or their :class:`SourceEncoder` outputs ``(U, enc_dim)`` (float: e.g.
          cached by variant scoring, :class:`qtlgraph.gnn.distal_effects.SourceVectors`);
          seq_index ``(N,)`` long, the row of ``seq`` of each node (-1: none);
          edge_index ``(2, E)`` (row 0 source, row 1 target, local ids); edge_attr
          ``(E, edge_dim)``; degree ``(N,)`` full in-degree of each node; then, with a
          local encoder (:meth:`set_local_encoder`), optionally ``codes (T, L)``, ``acc
          (T, P)[, flank (T, F)]`` of the first ``T`` nodes, whose embedding columns of
          ``x`` are then computed from them
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
        standardize: bool = False,
        message: str = "mlp",
        surrogate: bool = False,
        threshold: float = SourceEncoder.THRESHOLD,
        levels: tuple[float, ...] = (),
        background: int = 0,
        length: int = 0,
        filter_loss: str = "both",
        background_match: str = "mean",
    ) -> None:
        super().__init__()
        if message not in MESSAGES:
            raise ValueError(f"message {message!r}: expected one of {MESSAGES}")
        self.acc_col, self.edge_dim, self.aggr_power = acc_col, edge_dim, aggr_power
        self.gated = message == "gated"
        self.local = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, hidden)
        )
        enc = (channels, kernel, stride, hidden if self.gated else enc_dim, activation)
        self.encoder = SourceEncoder(
            *enc, standardize, bias=not self.gated, surrogate=surrogate, threshold=threshold,
            levels=levels, background=background, length=length,
            frozen_in_training=filter_loss == "qtl", match=background_match,
        )  # fmt: skip
        width = 1 + edge_dim + (0 if self.gated else enc_dim)
        self.message = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.mix = nn.Linear(hidden, hidden, bias=False)
        self.head = nn.Sequential(nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))
        self.local_encoder: nn.Module | None = None  # set_local_encoder

    def set_local_encoder(self, encoder: nn.Module, mean: torch.Tensor, scale: torch.Tensor):
        """Fine-tune ``encoder`` (a trained ``BinEncoder``) as the source of the embedding
        columns of the targets' features (:mod:`qtlgraph.gnn.distal_local`); ``mean`` and
        ``scale`` are those columns' standardisation. Its mark head is not used.
        """
        self.local_encoder = encoder.eval()
        encoder.head.requires_grad_(False)
        self.register_buffer("emb_mean", mean.detach().clone().float())
        self.register_buffer("emb_scale", scale.detach().clone().float())
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if self.local_encoder is not None:  # BatchNorm keeps its trained statistics
            self.local_encoder.eval()
        return self

    def standardized_embedding(self, *local: torch.Tensor) -> torch.Tensor:
        """The local encoder's embedding of ``(codes, acc[, flank])``, in the units of the
        standardised features. Shapes: -> ``(T, dim)``.
        """
        emb = self.local_encoder.embed(*local)
        return (emb - self.emb_mean.to(emb.dtype)) / self.emb_scale.to(emb.dtype)

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
        rows = seq if seq.is_floating_point() else self.encoder(seq)  # encoded already
        vec = rows[seq_index[src]]
        parts = [x[src, self.acc_col : self.acc_col + 1].to(vec.dtype)]
        if self.edge_dim:
            parts.append(edge_attr.to(vec.dtype))
        if self.gated:
            msg = vec * 2.0 * torch.sigmoid(self.message(torch.cat(parts, dim=-1)))
        else:
            msg = self.message(torch.cat([vec, *parts], dim=-1))
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
        *local: torch.Tensor,
    ) -> torch.Tensor:
        if local:  # fine-tuned local part: the first len(codes) nodes' embedding columns
            emb = self.standardized_embedding(*local).to(x.dtype)
            t, d = emb.shape
            x = torch.cat([torch.cat([emb, x[:t, d:]], dim=1), x[t:]])
        # also without edges (a = 0 exactly, so y = head(h)): every parameter then takes
        # part in every step, as DistributedDataParallel requires
        a = self.aggregate(x, seq, seq_index, edge_index, edge_attr, degree)
        return self.head(self.local(x) + self.mix(a))


def build_distal(config: dict) -> DistalRegressor:
    """Rebuild a model from a run's ``config.json`` ``model_config`` section."""
    keys = ("edge_dim", "hidden", "dropout", "aggr_power", "channels", "kernel", "stride")
    keys += ("activation", "standardize", "message", "surrogate", "threshold")
    keys += ("background", "length", "filter_loss", "background_match")
    kwargs = {k: config[k] for k in keys if k in config}
    kwargs["levels"] = tuple(config.get("levels", ()))  # runs before levels have none
    if "enc_dim" in config:
        kwargs["enc_dim"] = config["enc_dim"]
    model = DistalRegressor(
        config["in_dim"], config["out_dim"], acc_col=config["acc_col"], **kwargs
    )
    if config.get("local_encoder"):  # weights and standardisation come with the state dict
        from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig

        enc = BinEncoder(BinEncoderConfig.from_dict(config["local_encoder"]))
        dim = enc.config.dim
        model.set_local_encoder(enc, torch.zeros(dim), torch.ones(dim))
    return model
