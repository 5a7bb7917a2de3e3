"""Where a curve test's spread over seeds comes from: the seeds, or the measurement.

A curve test's per-seed value is a summary of a few snapshots (quantities.Evidence.
window_pairs): a step-weighted mean, or a median. If the snapshots scatter about the
run's own level, that summary carries measurement noise even when every seed has the
same true value. Split the variance over seeds of the tested statistic (A - B paired by
seed, or A alone) into

  within   the mean over seeds of the summary's own variance from the scatter of its
           snapshots: s^2 * sum(w_i^2) for a mean with weights w_i (the trapezoid weights
           of window_mean, summing to 1), (pi / 2) * s^2 / n for a median (its large-n
           variance for a normal scatter), s^2 the variance of the snapshots' values
           about their mean (ddof 1). A and B add (independent runs). It counts slow
           drift over the window as scatter: an upper bound on the noise.
  between  the rest, total - within, floored at 0: the seed-to-seed part.

When `within` is most of `total`, measuring more often (more snapshots in the window,
more batches per snapshot) shrinks the interval; more seeds are the remedy only for
`between`.
"""

from __future__ import annotations

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


def summary_variance(steps: np.ndarray, values: np.ndarray, summary: str) -> float:
    """The variance of one run's window summary from its snapshots' scatter (module
    docstring); NaN with fewer than 2 snapshots (no scatter to see)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return math.nan
    s2 = float(np.var(v, ddof=1))
    if summary == "median":
        return math.pi / 2 * s2 / len(v)
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
        "between": max(0.0, total - within),
        "within_share": within / total if total > 0 else math.nan,
        "snapshots": int(min(counts)),
        "seeds": len(seeds),
    }


def describe(v: dict) -> str:
    """One sentence: 'Variance over 3 seeds 0.76: within runs (snapshot scatter, at
    least 2 snapshots a window) 0.70 (92%), between seeds 0.06.'"""
    share = v["within_share"]
    shown = f" ({min(share, 9.99):.0%})" if math.isfinite(share) else ""
    more = "; more than the whole: seeds add nothing seen" if share > 1 else ""
    return (
        f"Variance over {v['seeds']} seeds {v['total']:.3g}: within runs (snapshot "
        f"scatter, {v['snapshots']} or more snapshots a window) {v['within']:.3g}{shown}"
        f"{more}, between seeds {v['between']:.3g}."
    )
