"""Bootstrap intervals over seeds (scipy.stats.bootstrap; the resampling unit is the seed).

BCa where it is defined, the percentile method otherwise (BCa is undefined, and scipy
returns NaN, when the jackknife has no spread, e.g. with two seeds or identical values).
Resampling uses a fixed generator, so the same inputs give the same interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

RNG_SEED = 0


@dataclass(frozen=True)
class Interval:
    mean: float
    lo: float
    hi: float
    n: int
    method: str  # "BCa", "percentile", "degenerate" (all equal) or "none" (n < 2)


def bootstrap_mean(values, confidence: float = 0.95, n_resamples: int = 9999) -> Interval:
    """Mean of the finite `values` with a bootstrap interval; NaN/Inf values are dropped."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, "none")
    mean = float(x.mean())
    if len(x) == 1:
        return Interval(mean, float("nan"), float("nan"), 1, "none")
    if np.all(x == x[0]):
        return Interval(mean, mean, mean, len(x), "degenerate")
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa's "degenerate" warning: handled below
            res = stats.bootstrap(
                (x,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method=method,
                rng=np.random.default_rng(RNG_SEED),
            )
        lo, hi = res.confidence_interval
        if np.isfinite(lo) and np.isfinite(hi):
            return Interval(mean, float(lo), float(hi), len(x), method)
    return Interval(mean, float("nan"), float("nan"), len(x), "none")


def bootstrap_curve(matrix, confidence: float = 0.95, n_resamples: int = 2999):
    """Per-column mean and percentile-bootstrap band of a (seeds, points) array.

    NaN/Inf entries (a diverged run after it stopped) drop out of their column only.
    Returns (mean, lo, hi, n), each (points,); a column with fewer than two finite values
    gets a NaN band, one without spread a zero-width band. Columns with the same finite
    seeds share one vectorized bootstrap call, which keeps many curve points affordable.
    """
    m = np.asarray(matrix, dtype=float)
    finite = np.isfinite(m)
    n = finite.sum(axis=0)
    mean = np.full(m.shape[1], np.nan)
    lo, hi = mean.copy(), mean.copy()
    for rows in {tuple(col) for col in finite.T}:  # columns grouped by which seeds are finite
        seeds = np.array(rows, dtype=bool)
        cols = np.flatnonzero((finite == seeds[:, None]).all(axis=0))
        sub = m[seeds][:, cols]  # (finite seeds, columns)
        if len(sub) == 0:
            continue
        mean[cols] = sub.mean(axis=0)
        if len(sub) < 2:
            continue
        flat = np.ptp(sub, axis=0) == 0
        lo[cols[flat]] = hi[cols[flat]] = sub[0, flat]
        if (~flat).any():
            res = stats.bootstrap(
                (sub[:, ~flat],),
                np.mean,
                axis=0,
                vectorized=True,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method="percentile",
                rng=np.random.default_rng(RNG_SEED),
            )
            lo[cols[~flat]], hi[cols[~flat]] = res.confidence_interval
    return mean, lo, hi, n
