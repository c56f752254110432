"""Power-law fit time on 303,114 degrees (one per hg38 10 kb bin), the size of a real graph.

Degrees are synthetic and seeded (92% zeros as in the BLUEPRINT graphs, the rest drawn
from a discrete power law): the fit's cost depends on the number of values and distinct
values, not on where they came from. Reference, in the same run: powerlaw's default xmin
search over every distinct value instead of the restricted xmin in [1, 100).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qtlgraph.analysis.powerlaw_fit import fit_power_law  # noqa: E402

N_BINS = 303_114


def synthetic_degrees(seed: int = 0, alpha: float = 2.2, linked: float = 0.08) -> np.ndarray:
    rng = np.random.default_rng(seed)
    degrees = np.zeros(N_BINS, dtype=np.int64)
    n_linked = int(N_BINS * linked)
    degrees[rng.choice(N_BINS, n_linked, replace=False)] = np.minimum(
        rng.zipf(alpha, n_linked), 5_000
    )
    return degrees


def timed(fn, repeats: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def main() -> int:
    for alpha in (2.2, 1.7):
        bench(synthetic_degrees(alpha=alpha))
    return 0


def bench(degrees: np.ndarray) -> None:
    import powerlaw

    positive = np.sort(degrees[degrees > 0]).astype(float)
    print(
        f"{N_BINS:,} degrees, {positive.size:,} positive, {np.unique(positive).size} distinct, "
        f"max {int(positive[-1])}"
    )
    t_fit, fit = timed(lambda: fit_power_law(degrees, alternatives=()))
    print(
        f"fit, xmin in [1, 100): {t_fit:.3f} s  alpha={fit.alpha:.3f} xmin={fit.xmin:g} "
        f"D={fit.ks_distance:.4f}"
    )
    for name in ("lognormal", "exponential", "truncated_power_law"):
        t, _ = timed(lambda name=name: fit_power_law(degrees, alternatives=(name,)), repeats=3)
        print(f"fit + compare vs {name}: {t:.3f} s")
    t_all, _ = timed(lambda: fit_power_law(degrees), repeats=3)
    print(f"fit + all three comparisons: {t_all:.3f} s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ref, ref = timed(
            lambda: powerlaw.Fit(positive, discrete=True, verbose=False).power_law.alpha
        )
    print(
        f"reference, full xmin search: {t_ref:.3f} s  alpha={ref:.3f}; "
        f"ratio reference / restricted = {t_ref / t_fit:.1f}x"
    )


if __name__ == "__main__":
    sys.exit(main())
