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

    Returns (mean, lo, hi), each (points,). Columns with fewer than two finite values
    get NaN bands. The percentile method keeps the many curve points affordable.
    """
    m = np.asarray(matrix, dtype=float)
    mean = np.nanmean(m, axis=0) if len(m) else np.full(m.shape[1], np.nan)
    lo, hi = np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    ok_rows = np.all(np.isfinite(m), axis=1)
    m_ok = m[ok_rows]
    if len(m_ok) >= 2:
        spread = np.ptp(m_ok, axis=0) > 0
        lo[~spread], hi[~spread] = m_ok[0, ~spread], m_ok[0, ~spread]
        if spread.any():
            res = stats.bootstrap(
                (m_ok[:, spread],),
                np.mean,
                axis=0,
                vectorized=True,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method="percentile",
                rng=np.random.default_rng(RNG_SEED),
            )
            lo[spread], hi[spread] = res.confidence_interval
    return mean, lo, hi
