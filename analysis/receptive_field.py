"""Empirical receptive-field probes for any sequence model (report section 4.3).

Every probe takes ``(model, X, ...)``: ``model`` maps one-hot DNA ``(batch, 4, length)`` to
``(batch, tracks, length')`` and ``X`` holds the random inputs ``(n, 4, length)`` (see
:func:`random_onehot`). Probes batch internally and return a :class:`ProbeResult`.

* :func:`perturbation_probe` (window method): substitute one base of each input (the
  centre, an edge, or any index) and take ``|f(x') - f(x)|`` at every output position.
  Needs only forward passes, so it suits large models (Enformer).
* :func:`gradient_probe`: ``|d f(x)[j] / d x|`` summed over the 4 channels, for one output
  position ``j``; zero outside the receptive field by construction.

Output positions are mapped back to input coordinates (bp, 0-based, the centre of the
window an output summarises) by ``output_to_input(j) -> bp``, taken in this order: the
``output_to_input`` argument, the model's own ``output_to_input`` attribute, or the
"same padding" rule ``j * s + (s - 1) / 2`` with stride ``s = length // length'`` (exact
for U-Nets, where ``s = 1``, and for models built from 'same'-padded blocks).

What counts as "non-zero" (documented tolerance): an effect is reach when it exceeds
``max(abs_tol, rel_tol * largest effect)``. ``rel_tol`` defaults to ``100 * eps`` of the
probe's precision (2.2e-14 in float64, 1.2e-5 in float32), so float rounding is not
reach; ``abs_tol`` (default 1e-30) makes a model that ignores its input report span 0.
Outside the structural receptive field of a convolutional model the computation is
bit-identical, so differences there are exactly zero; inside it, effects that decay to
1e-16 in float64 are real but vanish in float32, which is why float64 is the default.
Probes run in float64 by default on a copy of the model (``precision=None`` keeps the
model's own dtype) and always in eval mode, so batch norm does not mix the batch.

Spans: ``span`` is the extent from the first to the last affected position (in bp,
counting each output window's full stride for the perturbation probe), the union over
all inputs; ``effective_width`` is the central ``quantile`` of the mean effect's mass.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from qtlgraph.errors import InputError

OutputMap = Callable[[np.ndarray], np.ndarray]


class ProbeResult(NamedTuple):
    """One probe's outcome.

    Attributes:
        method: ``"perturbation"`` or ``"gradient"``.
        offsets: (P,) bp relative to the mutated base (perturbation: the input coordinate
            of each output position minus the mutation) or to the probed output's input
            coordinate (gradient: each input base minus it).
        profile: (P,) mean absolute effect over the inputs (max over tracks).
        peak: (P,) largest absolute effect over the inputs.
        span: bp from the first to the last affected offset (0 when nothing is affected).
        start: first affected offset (NaN when none).
        end: last affected offset (NaN when none).
        effective_width: bp between the ``(1 - q) / 2`` and ``(1 + q) / 2`` quantiles of
            the profile's mass (0 when nothing is affected).
        threshold: absolute effect above which a position counts as affected.
        position: the mutated input base (perturbation) or probed output index (gradient).
        n_inputs: number of random inputs.
    """

    method: str
    offsets: np.ndarray
    profile: np.ndarray
    peak: np.ndarray
    span: int
    start: float
    end: float
    effective_width: int
    threshold: float
    position: int
    n_inputs: int


def random_onehot(
    n: int, length: int, seed: int = 0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Random one-hot DNA, uniform over A, C, G, T.

    Shapes:
        -> (n, 4, length)
    """
    if n < 1 or length < 1:
        raise InputError(f"random_onehot: n ({n}) and length ({length}) must be >= 1")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=gen)
    return nn.functional.one_hot(idx, 4).permute(0, 2, 1).to(dtype).contiguous()


def same_padding_map(length_in: int, length_out: int) -> OutputMap:
    """``j -> j * s + (s - 1) / 2`` with ``s = length_in // length_out``.

    The outputs tile the input.
    """
    if length_out < 1 or length_in % length_out:
        raise InputError(
            f"output length {length_out} does not divide input length {length_in}: pass "
            "output_to_input (output index -> input bp) to place the outputs"
        )
    s = length_in // length_out
    return lambda j: np.asarray(j, dtype=np.float64) * s + (s - 1) / 2


def output_coordinates(
    model: nn.Module, length_in: int, length_out: int, output_to_input: OutputMap | None = None
) -> np.ndarray:
    """Input coordinate (bp) of every output position. Shapes: -> (length_out,) float64."""
    fn = (
        output_to_input
        or getattr(model, "output_to_input", None)
        or same_padding_map(length_in, length_out)
    )
    return np.asarray(fn(np.arange(length_out)), dtype=np.float64)


def _check_x(X: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim != 3 or X.shape[1] != 4:
        shape = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
        raise InputError(f"probe input X: expected a tensor (n, 4, length), got {shape}")


def _resolve_index(position: str | int, length: int, what: str) -> int:
    if position == "center":
        return length // 2
    if position == "edge":
        return 0
    try:
        p = int(position)
    except (TypeError, ValueError):
        raise InputError(f"{what} {position!r}: expected center, edge or an integer") from None
    if not 0 <= p < length:
        raise InputError(f"{what} {p}: outside 0..{length - 1}")
    return p


def prepare_model(model: nn.Module, precision: torch.dtype | None) -> nn.Module:
    """A copy in eval mode at ``precision`` (or the model itself in eval mode when None)."""
    if precision is None:
        return model.eval()
    return copy.deepcopy(model).to(precision).eval()


def _model_dtype(model: nn.Module) -> torch.dtype:
    p = next(iter(model.parameters()), None)
    return p.dtype if p is not None else torch.get_default_dtype()


def _call(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    y = model(x)
    if not isinstance(y, torch.Tensor) or y.ndim != 3:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise InputError(f"probe: the model must return (batch, tracks, length'), got {shape}")
    return y


def _mutate(x: torch.Tensor, position: int, gen: torch.Generator) -> torch.Tensor:
    """Substitute the base at ``position`` by one of the three others, chosen at random."""
    out = x.clone()
    base = x[:, :, position].argmax(dim=1)
    shift = torch.randint(1, 4, base.shape, generator=gen)
    out[:, :, position] = 0
    out[torch.arange(len(x)), (base + shift) % 4, position] = 1
    return out


def _batches(n: int, batch_size: int, progress: bool, desc: str):
    from tqdm import tqdm

    return tqdm(range(0, n, batch_size), desc=desc, disable=not progress, leave=False)


def perturbation_probe(
    model: nn.Module,
    X: torch.Tensor,
    position: str | int = "center",
    *,
    output_to_input: OutputMap | None = None,
    batch_size: int = 8,
    quantile: float = 0.95,
    rel_tol: float | None = None,
    abs_tol: float = 1e-30,
    precision: torch.dtype | None = torch.float64,
    seed: int = 0,
    progress: bool = False,
) -> ProbeResult:
    """Window-perturbation receptive field: which outputs move when one base changes.

    Args:
        model: maps (batch, 4, L) to (batch, tracks, L').
        X: random one-hot inputs.
        position: mutated input base: ``"center"`` (L // 2), ``"edge"`` (0) or an index.
        output_to_input: output index -> input bp (see the module docstring).
        batch_size: inputs per forward pass (each pass carries the originals and mutants).
        quantile: mass fraction defining ``effective_width``.
        rel_tol: relative part of the "non-zero" tolerance (module docstring).
        abs_tol: absolute part of the "non-zero" tolerance (module docstring).
        precision: dtype the probe runs in (a copy of the model); None keeps the model's.
        seed: seeds the choice of substituted bases.
        progress: show a tqdm bar.

    Shapes:
        X: (n, 4, L); result offsets, profile, peak: (L',)
    """
    _check_x(X)
    net = prepare_model(model, precision)
    dtype = _model_dtype(net)
    p = _resolve_index(position, X.shape[-1], "perturbation position")
    gen = torch.Generator().manual_seed(seed)
    effects = []
    with torch.no_grad():
        for i in _batches(len(X), batch_size, progress, "perturbation probe"):
            x = X[i : i + batch_size].to(dtype)
            y = _call(net, torch.cat([x, _mutate(x, p, gen)]))
            effects.append((y[len(x) :] - y[: len(x)]).abs().amax(dim=1).double().numpy())
    effects = np.concatenate(effects)
    coords = output_coordinates(net, X.shape[-1], effects.shape[1], output_to_input)
    stride = float(np.median(np.diff(coords))) if len(coords) > 1 else 1.0
    return summarise(
        "perturbation", coords - p, effects, stride, p, quantile, _rel(rel_tol, dtype), abs_tol
    )


def gradient_probe(
    model: nn.Module,
    X: torch.Tensor,
    output_position: str | int = "center",
    *,
    track: int | None = None,
    output_to_input: OutputMap | None = None,
    batch_size: int = 8,
    quantile: float = 0.95,
    rel_tol: float | None = None,
    abs_tol: float = 1e-30,
    precision: torch.dtype | None = torch.float64,
    progress: bool = False,
) -> ProbeResult:
    """Gradient receptive field: which input bases move one output position.

    The gradient is of the output at ``output_position`` summed over tracks (or of one
    ``track``), taken with respect to every input base; ``|grad|`` is summed over the 4
    channels. Inputs are independent in eval mode, so one backward pass serves a batch.

    Args:
        model: maps (batch, 4, L) to (batch, tracks, L').
        X: random one-hot inputs.
        output_position: ``"center"`` (L' // 2), ``"edge"`` (0) or an output index.
        track: one output track, or None for the sum over tracks.
        output_to_input: as in :func:`perturbation_probe`.
        batch_size: as in :func:`perturbation_probe`.
        quantile: as in :func:`perturbation_probe`.
        rel_tol: as in :func:`perturbation_probe`.
        abs_tol: as in :func:`perturbation_probe`.
        precision: as in :func:`perturbation_probe`.
        progress: as in :func:`perturbation_probe`.

    Shapes:
        X: (n, 4, L); result offsets, profile, peak: (L,)
    """
    _check_x(X)
    net = prepare_model(model, precision)
    dtype = _model_dtype(net)
    effects, j, n_out = [], None, None
    for i in _batches(len(X), batch_size, progress, "gradient probe"):
        x = X[i : i + batch_size].to(dtype).detach().clone().requires_grad_(True)
        y = _call(net, x)
        if j is None:
            n_out = y.shape[-1]
            j = _resolve_index(output_position, n_out, "output position")
            if track is not None and not 0 <= track < y.shape[1]:
                raise InputError(f"track {track}: the model has {y.shape[1]} output tracks")
        out = y[:, :, j] if track is None else y[:, track : track + 1, j]
        (grad,) = torch.autograd.grad(out.sum(), x)
        effects.append(grad.abs().sum(dim=1).double().numpy())
    effects = np.concatenate(effects)
    centre = output_coordinates(net, X.shape[-1], n_out, output_to_input)[j]
    offsets = np.arange(X.shape[-1], dtype=np.float64) - centre
    return summarise("gradient", offsets, effects, 1.0, j, quantile, _rel(rel_tol, dtype), abs_tol)


def _rel(rel_tol: float | None, dtype: torch.dtype) -> float:
    return 100 * torch.finfo(dtype).eps if rel_tol is None else rel_tol


def summarise(
    method: str,
    offsets: np.ndarray,
    effects: np.ndarray,
    stride: float,
    position: int,
    quantile: float = 0.95,
    rel_tol: float = 1e-12,
    abs_tol: float = 1e-30,
) -> ProbeResult:
    """Spans and profiles from per-input effects.

    Args:
        method: label stored in the result.
        offsets: bp offset of every effect column.
        effects: absolute effects, one row per input.
        stride: bp one column covers (the output stride; 1 for gradients).
        position: stored in the result.
        quantile: as in :func:`perturbation_probe`.
        rel_tol: as in :func:`perturbation_probe`.
        abs_tol: as in :func:`perturbation_probe`.

    Shapes:
        offsets: (P,); effects: (n, P)
    """
    if not 0 < quantile <= 1:
        raise InputError(f"quantile {quantile}: expected 0 < q <= 1")
    profile, peak = effects.mean(axis=0), effects.max(axis=0)
    threshold = max(abs_tol, rel_tol * float(peak.max(initial=0.0)))
    hit = np.flatnonzero(peak > threshold)
    if hit.size == 0:
        return ProbeResult(
            method,
            offsets,
            profile,
            peak,
            0,
            math.nan,
            math.nan,
            0,
            threshold,
            position,
            len(effects),
        )
    start, end = float(offsets[hit[0]]), float(offsets[hit[-1]])
    span = int(round(end - start + stride))
    mass = np.cumsum(np.where(peak > threshold, profile, 0.0))
    lo = int(np.searchsorted(mass, mass[-1] * (1 - quantile) / 2, side="right"))
    hi = int(np.searchsorted(mass, mass[-1] * (1 + quantile) / 2))
    hi = min(hi, len(offsets) - 1)
    width = int(round(offsets[hi] - offsets[lo] + stride))
    return ProbeResult(
        method, offsets, profile, peak, span, start, end, width, threshold, position, len(effects)
    )


def sequential_receptive_field(model: nn.Module) -> int:
    """Analytic receptive field (bp) of a plain stack of Conv1d / pooling layers.

    Walks the leaf modules in registration order, as in gReLU's ``ConvTower``: a conv adds
    ``(kernel - 1) * dilation * jump``, a pool ``(kernel - 1) * jump``, and ``jump`` is the
    product of the strides so far. Other leaf layers are treated as pointwise, so this
    holds only for models that apply their layers in that order (no skips, no attention).
    """
    rf, jump = 1, 1
    for m in model.modules():
        if isinstance(m, nn.Conv1d):
            rf += (m.kernel_size[0] - 1) * m.dilation[0] * jump
            jump *= m.stride[0]
        elif isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            rf += (k - 1) * (m.dilation if isinstance(m, nn.MaxPool1d) else 1) * jump
            jump *= s
    return rf
