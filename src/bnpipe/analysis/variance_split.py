"""Where a curve test's spread over seeds comes from: the seeds, or the measurement.

A curve test's per-seed value is a summary of a few snapshots (quantities.Evidence.
window_pairs): a step-weighted mean, or a median. If the snapshots scatter about the
run's own trend, that summary carries measurement noise even when every seed has the
same true value. Split the variance over seeds of the tested statistic (A - B paired by
seed, or A alone) into

  within   the mean over seeds of the summary's own variance from the scatter of its
           snapshots: s^2 * sum(w_i^2) for a mean with weights w_i (the trapezoid weights
           of window_mean, summing to 1), s^2 * m_n for a median of n (m_n: the variance
           of the median of n standard normals, by simulation; the mean's weights for
           n <= 2, where the median is the mean). s^2 is the successive-difference
           estimate sum((v_i+1 - v_i)^2) / (2 (n - 1)) (von Neumann), which a slow trend
           inside the window barely moves. A's and B's add (independent runs).
  between  the rest, total - within: the seed-to-seed part; negative where the estimates
           disagree (3 seeds give a rough total), and then shown as it is.

An estimate, not a bound: it assumes the scatter is independent from snapshot to
snapshot. Noise correlated over neighbouring snapshots, or an error shared by every
snapshot of a run (the fixed probe batch), counts as `between`. Where `within` is most
of `total`, measuring more often (more snapshots in the window) shrinks the interval;
more seeds are the remedy for `between`.
"""

from __future__ import annotations

import functools
import math

import numpy as np


def trapezoid_weights(steps: np.ndarray) -> np.ndarray:
    """Weights w (sum 1) with sum(w * v) = window_mean(steps, v) over the span of `steps`
    (one point, or one step: equal weights)."""
    s = np.asarray(steps, dtype=float)
    if len(s) < 2 or s[-1] == s[0]:
        return np.full(len(s), 1 / max(1, len(s)))
    gaps = np.diff(s)
    w = np.zeros(len(s))
    w[:-1] += gaps / 2
    w[1:] += gaps / 2
    return w / (s[-1] - s[0])


def successive_variance(values: np.ndarray) -> float:
    """The scatter's variance from successive differences (von Neumann 1941):
    sum((v_i+1 - v_i)^2) / (2 (n - 1)); a linear trend adds only its slope squared / 2."""
    v = np.asarray(values, dtype=float)
    return float(np.sum(np.diff(v) ** 2) / (2 * (len(v) - 1)))


@functools.cache
def median_factor(n: int) -> float:
    """Var(median of n iid standard normals), by 200,000 draws from a fixed seed
    (n <= 2: the mean's 1/n); about pi / (2 n) for large n."""
    if n <= 2:
        return 1 / n
    draws = np.random.default_rng(20261202).standard_normal((200_000, n))
    return float(np.var(np.median(draws, axis=1)))


def summary_variance(steps: np.ndarray, values: np.ndarray, summary: str) -> float:
    """The variance of one run's window summary from its snapshots' scatter (module
    docstring); NaN with fewer than 2 snapshots (no scatter to see)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return math.nan
    s2 = successive_variance(v)
    if summary == "median" and len(v) > 2:
        return s2 * median_factor(len(v))
    return s2 * float(np.sum(trapezoid_weights(steps) ** 2))


def split(
    a: dict[int, float],
    b: dict[int, float] | None,
    points_a: dict[int, tuple[np.ndarray, np.ndarray]],
    points_b: dict[int, tuple[np.ndarray, np.ndarray]] | None,
    summary: str = "mean",
) -> dict | None:
    """{total, within, between, within_share, snapshots} of the statistic's variance
    over seeds (module docstring); None with fewer than 2 seeds or a run whose window
    holds fewer than 2 snapshots. `snapshots`: the least any run's window holds."""
    seeds = sorted(a if b is None else a.keys() & b.keys())
    if len(seeds) < 2:
        return None
    stat = [a[s] - (b[s] if b is not None else 0.0) for s in seeds]
    runs = [points_a] if b is None else [points_a, points_b or {}]
    within_per_seed, counts = [], []
    for s in seeds:
        parts = []
        for points in runs:
            steps, values = points[s]
            parts.append(summary_variance(steps, values, summary))
            counts.append(len(values))
        within_per_seed.append(sum(parts))
    if not np.isfinite(within_per_seed).all():
        return None
    total = float(np.var(stat, ddof=1))
    within = float(np.mean(within_per_seed))
    return {
        "total": total,
        "within": within,
        "between": total - within,
        "within_share": within / total if total > 0 else math.nan,
        "snapshots": int(min(counts)),
        "seeds": len(seeds),
    }


def describe(v: dict) -> str:
    """One sentence: 'Variance over 3 seeds 0.76: within runs (snapshot scatter, 2 or more
    snapshots a window) 0.70 (92%), between seeds 0.06.'"""
    share = v["within_share"]
    shown = f" ({share:.0%})" if math.isfinite(share) else ""
    between = (
        f"between seeds {v['between']:.3g}"
        if v["between"] >= 0
        else "more than the whole: 3 seeds' total is rough, the split is not informative"
    )
    return (
        f"Variance over {v['seeds']} seeds {v['total']:.3g}: within runs (snapshot "
        f"scatter, {v['snapshots']} or more snapshots a window) {v['within']:.3g}{shown}, "
        f"{between}."
    )
