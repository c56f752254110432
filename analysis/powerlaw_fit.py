"""Power-law fits of region degrees with the ``powerlaw`` package (Clauset et al. 2009).

A discrete power law is fitted to the positive degrees, ``xmin`` chosen by the smallest
Kolmogorov-Smirnov distance within a bounded range (the full search over every distinct
value is slow on 303k degrees and adds nothing: hubs lie far above 100), then compared by
log-likelihood ratio against a lognormal, an exponential and a truncated power law.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

ALTERNATIVES = ("lognormal", "exponential", "truncated_power_law")
MIN_TAIL = 10  # fewer tail points than this give no meaningful alpha
# powerlaw bounds alpha to [0, 3] by default, which clips steep degree distributions (a graph
# of lead eQTLs, nearly all degrees 1, has alpha near 4); the bound is widened here.
ALPHA_RANGE = (0.0, 8.0)


class Comparison(NamedTuple):
    """Log-likelihood ratio test of the power law against one alternative.

    ``ratio`` > 0 favours the power law, < 0 the alternative; ``p`` is the significance
    of its sign (small p: the sign can be trusted).
    """

    ratio: float
    p: float


class DegreeFit(NamedTuple):
    """A discrete power-law fit; NaN fields and a ``note`` when no fit was possible."""

    alpha: float
    xmin: float
    ks_distance: float
    n_tail: int
    comparisons: dict[str, Comparison]
    sigma: float = math.nan
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.note


def _not_possible(note: str, n_tail: int = 0) -> DegreeFit:
    nan = math.nan
    comparisons = {name: Comparison(nan, nan) for name in ALTERNATIVES}
    return DegreeFit(nan, nan, nan, n_tail, comparisons, nan, note)


def fit_power_law(
    degrees: np.ndarray,
    xmin_range: tuple[int, int] = (1, 100),
    alternatives: tuple[str, ...] = ALTERNATIVES,
) -> DegreeFit:
    """Fit a discrete power law to the positive entries of ``degrees``.

    Zeros (regions without links) are left out: a power law has no mass at 0.

    Args:
        degrees: integer degrees, one per region (zeros allowed).
        xmin_range: candidates for ``xmin`` are the distinct degrees in
            ``[xmin_range[0], xmin_range[1])``.
        alternatives: distributions (``powerlaw`` names) to compare against.

    Returns:
        A :class:`DegreeFit`. When fewer than two distinct positive degrees or fewer
        than ``MIN_TAIL`` values lie in the tail, every number is NaN and ``note`` says
        why; this is not an error.

    Shapes:
        degrees: (n_regions,)
    """
    values = np.asarray(degrees)
    positive = np.sort(values[values > 0]).astype(np.float64)
    if positive.size == 0:
        return _not_possible("no region has any link")
    if positive.size < MIN_TAIL or np.unique(positive).size < 2:
        return _not_possible(
            f"{positive.size} positive degrees, fewer than {MIN_TAIL} or a single value",
            int(positive.size),
        )
    try:
        return _fit_sorted(positive, xmin_range, alternatives)
    except (ValueError, ZeroDivisionError, FloatingPointError) as exc:  # degenerate tails
        return _not_possible(f"fit failed: {exc}", int(positive.size))


def _fit_sorted(
    positive: np.ndarray, xmin_range: tuple[int, int], alternatives: tuple[str, ...]
) -> DegreeFit:
    import powerlaw

    lo, hi = xmin_range
    hi = min(hi, float(positive[-1]))  # powerlaw never tries the largest value as xmin
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        searchable = hi > lo and np.unique(positive[(positive >= lo) & (positive < hi)]).size >= 2
        fit = _powerlaw_fit(powerlaw, positive, (lo, hi) if searchable else float(lo))
        if not np.isfinite(fit.xmin) and searchable:  # the search found no xmin: use the lowest
            fit = _powerlaw_fit(powerlaw, positive, float(lo))
        n_tail = int(np.sum(positive >= fit.xmin)) if np.isfinite(fit.xmin) else 0
        if n_tail < MIN_TAIL:
            above = int(np.sum(positive > lo))
            return _not_possible(
                f"only {n_tail} values in the tail (need {MIN_TAIL}; xmin "
                f"{fit.xmin:g} chosen in [{lo:g}, {hi:g}], {above} degrees above {lo:g})",
                n_tail,
            )
        law = fit.power_law
        if not np.isfinite(law.alpha) or law.alpha >= ALPHA_RANGE[1] * (1 - 1e-4):
            return _not_possible(
                f"alpha reached the bound {ALPHA_RANGE[1]:g} of its search at xmin "
                f"{fit.xmin:g} ({int(np.sum(positive > fit.xmin))} of {n_tail} tail degrees "
                "above xmin): too steep for a power law, no fit",
                n_tail,
            )
        comparisons = {name: _compare(fit, name) for name in alternatives}
        sigma = law.standard_err if hasattr(type(law), "standard_err") else law.sigma
    return DegreeFit(
        float(law.alpha), float(fit.xmin), float(law.D), n_tail, comparisons, float(sigma)
    )


def _powerlaw_fit(powerlaw, positive: np.ndarray, xmin):
    return powerlaw.Fit(
        positive,
        discrete=True,
        xmin=xmin,
        verbose=False,
        parameter_ranges={"alpha": list(ALPHA_RANGE)},
    )


def _compare(fit, name: str) -> Comparison:
    ratio, p = fit.distribution_compare("power_law", name)
    return Comparison(float(ratio), float(p))


def fit_record(fit: DegreeFit) -> dict:
    """A flat, JSON- and TSV-friendly dict of a fit (``lr_<alt>`` / ``p_<alt>`` columns)."""
    record = {
        "alpha": fit.alpha,
        "sigma": fit.sigma,
        "xmin": fit.xmin,
        "ks_distance": fit.ks_distance,
        "n_tail": fit.n_tail,
    }
    for name, comparison in fit.comparisons.items():
        record[f"lr_{name}"] = comparison.ratio
        record[f"p_{name}"] = comparison.p
    record["note"] = fit.note
    return record
