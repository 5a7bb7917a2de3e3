"""Bootstrap intervals (scipy.stats.bootstrap). The resampling unit is the seed (a run);
for a correlation across runs it is the run.

BCa where it is defined, the percentile method otherwise: BCa is undefined, and scipy
returns NaN, when the jackknife has no spread (two seeds, identical values). Each number
carries the method that gave its interval. Resampling uses a fixed generator, so the same
inputs give the same interval.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

RNG_SEED = 0


@dataclass(frozen=True)
class Interval:
    mean: float  # the estimate: a mean, a difference of means, or a rank correlation
    lo: float
    hi: float
    n: int  # seeds (for a difference: the smaller group) or runs (for a correlation)
    method: str  # "BCa", "percentile", "degenerate" (no spread) or "none" (too few values)


NONE = Interval(float("nan"), float("nan"), float("nan"), 0, "none")


def _bootstrap(samples: tuple, statistic: Callable, confidence: float, n_resamples: int, **kw):
    """(lo, hi, method) per slice along axis 0 of the samples' last axis; BCa first."""
    lo = hi = None
    method = np.full(np.shape(statistic(*samples, axis=-1)), "none", dtype=object)
    for name in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa's "degenerate" warning: handled below
            res = stats.bootstrap(
                samples,
                statistic,
                vectorized=True,
                axis=-1,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method=name,
                rng=np.random.default_rng(RNG_SEED),
                **kw,
            )
        new_lo, new_hi = (np.asarray(v, dtype=float) for v in res.confidence_interval)
        if lo is None:
            lo, hi = np.full_like(new_lo, np.nan), np.full_like(new_hi, np.nan)
        fill = ~np.isfinite(lo) & np.isfinite(new_lo) & np.isfinite(new_hi)
        lo[fill], hi[fill], method[fill] = new_lo[fill], new_hi[fill], name
        if np.isfinite(lo).all():
            break
    return lo, hi, method


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def bootstrap_mean(values, confidence: float = 0.95, n_resamples: int = 9999) -> Interval:
    """Mean of the finite `values` with a bootstrap interval; NaN/Inf values are dropped."""
    mean, lo, hi, n, method = bootstrap_curve(
        np.asarray(values, dtype=float).reshape(-1, 1), confidence, n_resamples
    )
    return Interval(float(mean[0]), float(lo[0]), float(hi[0]), int(n[0]), str(method[0]))


def bootstrap_curve(matrix, confidence: float = 0.95, n_resamples: int = 2999):
    """Per-column mean and bootstrap interval of a (seeds, points) array.

    NaN/Inf entries (a diverged run after it stopped) drop out of their column only.
    Returns (mean, lo, hi, n, method), each (points,); a column with fewer than two finite
    values gets a NaN interval, one without spread a zero-width one. Columns with the same
    finite seeds share one vectorized bootstrap call, which keeps many points affordable.
    """
    m = np.asarray(matrix, dtype=float)
    finite = np.isfinite(m)
    n = finite.sum(axis=0)
    mean = np.full(m.shape[1], np.nan)
    lo, hi = mean.copy(), mean.copy()
    method = np.full(m.shape[1], "none", dtype=object)
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
        method[cols[flat]] = "degenerate"
        if (~flat).any():
            spread = cols[~flat]
            lo[spread], hi[spread], method[spread] = _bootstrap(
                (sub[:, ~flat].T,), _mean, confidence, n_resamples
            )
    return mean, lo, hi, n, method


def bootstrap_difference(
    a, b, confidence: float = 0.95, n_resamples: int = 9999, relative: bool = False
) -> Interval:
    """mean(a) - mean(b), or (mean(a) - mean(b)) / |mean(b)| when `relative`, with a
    bootstrap interval that resamples the seeds of each group independently (the groups
    are different runs). NaN/Inf values are dropped; fewer than two in a group: no interval.
    """
    a, b = (np.asarray(v, dtype=float) for v in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return NONE

    def statistic(x, y, axis=-1):
        d = np.mean(x, axis=axis) - np.mean(y, axis=axis)
        return d / np.abs(np.mean(y, axis=axis)) if relative else d

    estimate = float(statistic(a, b))
    n = min(len(a), len(b))
    if n < 2:
        return Interval(estimate, float("nan"), float("nan"), n, "none")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return Interval(estimate, estimate, estimate, n, "degenerate")
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi, method = _bootstrap((a, b), statistic, confidence, n_resamples, paired=False)
    return Interval(estimate, float(lo), float(hi), n, str(method))


def _spearman(x, y, axis=-1):
    """Spearman's rho along the last axis: Pearson's r of the (tie-averaged) ranks."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))
    # A resample that repeats one run has no ranking: it carries no sign, counted as 0.
    return np.nan_to_num(rho, nan=0.0)


def rank_correlation(x, y, confidence: float = 0.95, n_resamples: int = 9999) -> Interval:
    """Spearman's rho of paired values, with a bootstrap interval that resamples the pairs
    (the runs). Pairs with a NaN/Inf drop out; fewer than four pairs: no interval."""
    x, y = (np.asarray(v, dtype=float) for v in (x, y))
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), len(x), "none")
    rho = float(_spearman(x, y))
    if len(x) < 4:
        return Interval(rho, float("nan"), float("nan"), len(x), "none")
    lo, hi, method = _bootstrap((x, y), _spearman, confidence, n_resamples, paired=True)
    return Interval(rho, float(lo), float(hi), len(x), str(method))
