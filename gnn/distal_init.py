"""The distal model's filters started at training-chromosome QTL SNPs.

Before training, each source-encoder filter is set from the sequence around lead QTL SNPs
of the training chromosomes (validation and test chromosomes are never read):

1. ``--distal-init qtl`` (the default): the one-hot of the ``kernel`` bp centred on one
   SNP, drawn with the model's seed from the quarter of distinct SNPs with the largest
   standardised ``|beta|`` (:func:`snp_windows`);
2. ``--distal-init qtl-aligned`` (an option): that start, then aligned
   (:func:`align_filters`): the filter is re-estimated, :data:`ALIGN_ROUNDS` times,
   as the log-odds matrix (against uniform bases) of the ``kernel``-bp windows, on either
   strand and at any offset that covers the SNP, that it scores best among all those strong
   SNPs, keeping the best :data:`ALIGN_SHARE` of them.

A seed copies one site with its flanks, so it scores other sites of the same factor no
better than their shared bases allow; aligned, the positions the sites share carry most
of the weight and the flanks little, the way a motif finder (MEME's seed-and-refine, Bailey
and Elkan 1994) builds a matrix from many sites. docs/distal.md ("Aligned start") has the
trials.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

#: re-estimations of each filter from the windows it scores best
ALIGN_ROUNDS = 5
#: share of the strong SNPs' windows each re-estimation keeps (at least :data:`ALIGN_MIN`)
ALIGN_SHARE = 0.1
ALIGN_MIN = 10
#: pseudocount per base of the re-estimated matrices
ALIGN_PSEUDO = 0.5
#: the random part of a started filter, relative to its weights' scale
NOISE = 0.01


def strong_snps(rows, n: int) -> torch.Tensor:
    """Indices into ``rows`` (:class:`qtlgraph.gnn.distal_aux.AuxRows`): the strongest row
    of each distinct SNP, strongest standardised ``|beta|`` first, the top quarter of them
    (at least ``n``).
    """
    key = rows.snp_bin * (int(rows.offset.max()) + 1) + rows.offset
    order = torch.argsort(rows.z.abs(), descending=True, stable=True)
    _, first = np.unique(key[order].numpy(), return_index=True)
    order = order[np.sort(first)]
    return order[: max(n, len(order) // 4)]


def windows_at(rows, sequences, at: torch.Tensor, width: int) -> torch.Tensor:
    """Base codes of ``width`` bp around the SNPs of ``rows[at]``, the SNP at position
    ``width // 2``; N past a bin's ends. Shapes: -> ``(len(at), width)`` uint8.
    """
    codes = torch.from_numpy(sequences.codes(rows.snp_bin[at].numpy()))
    padded = F.pad(codes, (width, width), value=4)
    start = rows.offset[at] + width - width // 2
    return padded.gather(1, start[:, None] + torch.arange(width))


def snp_windows(rows, sequences, n: int, width: int, seed: int) -> torch.Tensor:
    """:func:`windows_at` ``n`` distinct SNPs drawn at random (generator seeded ``seed``)
    from :func:`strong_snps`; fewer where fewer distinct SNPs qualify.

    Shapes: -> ``(m, width)`` uint8, ``m <= n``
    """
    top = strong_snps(rows, n)
    g = torch.Generator().manual_seed(int(seed))
    return windows_at(rows, sequences, top[torch.randperm(len(top), generator=g)[:n]], width)


def strand_windows(wide: torch.Tensor, k: int) -> torch.Tensor:
    """Every ``k``-bp window of each row of ``wide`` on both strands, one-hot (N: zeros).

    Shapes: ``(C, W)`` codes -> ``(C, 2 * (W - k + 1), 4, k)``
    """
    from qtlgraph.encoders.bin_dataset import one_hot_codes

    reverse = torch.where(wide < 4, 3 - wide, 4).flip(-1)
    both = torch.cat([wide.unfold(-1, k, 1), reverse.unfold(-1, k, 1)], dim=1)
    return one_hot_codes(both.reshape(-1, k).numpy()).view(*both.shape[:2], 4, k)


def align_filters(seeds: torch.Tensor, windows: torch.Tensor, rounds: int = ALIGN_ROUNDS):
    """Re-estimate each seed matrix from the windows it scores best (above).

    Args:
        seeds: ``(m, 4, k)`` starting weights (the score of a window is the sum of its
            bases' weights).
        windows: ``(C, S, 4, k)`` one-hot candidate windows, ``S`` per SNP
            (:func:`strand_windows`); each round takes each SNP's best-scoring one, keeps
            the best :data:`ALIGN_SHARE` SNPs and counts their bases.
        rounds: re-estimations (0: the seeds unchanged).

    Returns:
        ``(m, 4, k)`` log-odds (natural log) of the kept windows' base frequencies against
        1/4, with :data:`ALIGN_PSEUDO` per base.
    """
    flat = windows.flatten(2)  # (C, S, 4k)
    keep = min(len(windows), max(ALIGN_MIN, int(ALIGN_SHARE * len(windows))))
    w = seeds.flatten(1)  # (m, 4k)
    for _ in range(rounds):
        best, at = torch.einsum("csp,mp->mcs", flat, w).max(dim=2)  # (m, C)
        top = best.topk(keep, dim=1).indices  # (m, keep)
        counts = flat[top, at.gather(1, top)].sum(1).view(seeds.shape) + ALIGN_PSEUDO
        w = (counts / counts.sum(1, keepdim=True) * 4).log().flatten(1)
    return w.view(seeds.shape)


def init_filters_from_snps(encoder, windows: torch.Tensor, seed: int, wide=None) -> None:
    """Start filter ``i`` of ``encoder`` (a :class:`qtlgraph.gnn.distal.SourceEncoder`) at
    ``windows[i]``: its one-hot centred over the four bases (N: zeros), aligned against
    ``wide`` when given (:func:`align_filters`; ``(C, 2 kernel - 1)`` codes around strong
    SNPs), centred over the bases again, plus noise of :data:`NOISE` of the weights' scale;
    filters past ``len(windows)`` keep their random start. Raw filters are scaled to the
    norm of the random start (Conv1d's uniform bound), standardised ones need no scale.
    Standardised, a filter started at one window (no alignment) scores an exact copy of it,
    on either strand, ``sqrt(3 kernel)`` standard deviations above uniform background: 6
    for the default 12 bp.
    """
    from qtlgraph.encoders.bin_dataset import one_hot_codes

    m = windows.shape[0]
    w = (one_hot_codes(windows.numpy()) - 0.25) * (windows < 4)[:, None, :]
    if wide is not None:  # log-odds, centred, at the norm of a centred one-hot of k bases
        w = align_filters(w, strand_windows(wide, encoder.kernel))
        w = w - w.mean(dim=1, keepdim=True)
        scale = (0.75 * encoder.kernel) ** 0.5 / w.flatten(1).norm(dim=1).clamp(min=1e-12)
        w = w * scale[:, None, None]
    g = torch.Generator().manual_seed(int(seed))
    w = w + NOISE * torch.randn(w.shape, generator=g)
    if not encoder.standardize:  # the random start's expected norm: U(-b, b) over 4 k
        # weights with b = 1 / sqrt(4 k) has squared norm 4 k b^2 / 3 = 1 / 3
        w = w * (3**-0.5 / w.flatten(1).norm(dim=1).clamp(min=1e-12))[:, None, None]
    with torch.no_grad():
        encoder.weight[:m] = w.to(encoder.weight)


def init_filters(encoder, rows, sequences, seed: int, align: bool = False) -> int:
    """Start the source encoder's filters at the SNPs of ``rows`` (training QTL rows), seeded
    by :func:`snp_windows` and, with ``align``, aligned over every strong SNP
    (:func:`align_filters`); how many were so started. ``rows`` None: none (the filters
    keep their random start).

    The caller passes every cluster's lead variant whether or not the model's graph keeps
    its edge, so an edge-shuffled control starts from the same filters as its model.
    """
    if rows is None:
        return 0
    n, k = encoder.channels, encoder.kernel
    windows = snp_windows(rows, sequences, n, k, seed)
    wide = windows_at(rows, sequences, strong_snps(rows, n), 2 * k - 1) if align else None
    init_filters_from_snps(encoder, windows, seed, wide)
    return len(windows)
