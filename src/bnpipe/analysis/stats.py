"""Intervals over seeds that cover at their level with 3 to 10 seeds.

The seed is the unit: one number per run. A percentile bootstrap over 2-5 seeds is close
to the range of the values and under-covers (95% nominal: 66% at n = 2, 81% at n = 3 for
a difference of two groups), so intervals here are Student-t intervals:

  mean_interval         mean of one group, t with n - 1 degrees of freedom
  paired_difference     mean of the per-seed differences A_s - B_s (runs of different
                        variants with the same seed share data order and initial draw)
  welch_difference      mean(A) - mean(B) of two independent groups, Welch-Satterthwaite
  difference            paired where at least `min_n` seeds have both, else Welch
  median_interval       not over seeds, and not t: the median of one sample (the
                        benchmark's per-block timing ratios) between two order
                        statistics, exact coverage for any continuous distribution

Positive, heavy-tailed quantities (smoothness, ICS, shifts) are compared on the log scale
by passing logs: the difference of logs is a log-ratio. Coverage is tested by simulation
(tests/test_stats.py) at n = 3, 5 and 10 on normal and skewed (lognormal, sigma 0.25;
gamma, shape 4) data. The t interval of a single mean does not cover for strongly skewed
data (exponential: 88% at n = 3), one more reason to take logs of ratios.

Below `min_n` values, or with no spread in what the interval is computed from (the
per-seed differences; for Welch, both groups), there is no interval: the Interval says
`insufficient` and why. One group without spread is allowed: a network stuck at exactly
chance in every seed is the worst outcome, not a missing one, and the interval of the
difference is then the other group's. Multiplicity: `holm` gives Holm's adjusted p-values and the
confidence level at which each test's interval is shown. Planning: `seeds_for_power`
gives the seeds that reach 80% power if the effect is as estimated, averaged over the
uncertainty of the spread. Each test's interval is checked on its own residuals and
widened where their shape needs it by bnpipe.analysis.error_rates (the `widened` factors).

The correlation of ICS with performance across runs resamples dozens of runs: there a
stratified bootstrap (runs resampled within their variant and lr) is valid, with its
coverage checked too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import stats

RNG_SEED = 0


@dataclass(frozen=True)
class Interval:
    estimate: float  # a mean, a difference of means, or a rank correlation
    lo: float
    hi: float
    n: int  # seeds (pairs for a paired difference; the smaller group for Welch) or runs
    method: str  # "t", "paired t", "Welch t", "stratified bootstrap", "order statistics"
    # (a median), or "insufficient"
    se: float = float("nan")  # standard error of the estimate (t methods)
    df: float = float("nan")  # degrees of freedom (t methods)
    reason: str = ""  # why there is no interval
    coverage: float = float("nan")  # order statistics: the interval's exact coverage
    # factors on the lower and upper t half-widths where bnpipe.analysis.error_rates widened them
    # for the per-seed values' shape (1, 1: the t interval itself)
    widened: tuple[float, float] = (1.0, 1.0)

    @property
    def ok(self) -> bool:
        return self.method != "insufficient"

    def at(self, confidence: float) -> Interval:
        """The same estimate with its t interval at another level (Holm); a widened
        interval comes back unwidened (bnpipe.analysis.claims.judging widens it again)."""
        if not self.ok or not np.isfinite(self.se):
            return self
        return _t(self.estimate, self.se, self.df, self.n, self.method, confidence)

    def p_value(self, null: float) -> float:
        """Two-sided p of estimate = null (t methods)."""
        if not self.ok or not np.isfinite(self.se):
            return float("nan")
        return float(2 * stats.t.sf(abs(self.estimate - null) / self.se, self.df))


def seeds_for_power(
    interval: Interval, threshold: float, confidence: float, power: float = 0.8, most: int = 1000
) -> int | None:
    """Seeds per group (pairs for a paired test) at which a t test at `confidence` clears
    `threshold` with probability `power`, if the true effect equals the estimate, averaged
    over the uncertainty of the per-seed spread (Colas et al. 2018, "How many random
    seeds?"): the spread is known only from `interval.df` degrees of freedom, so sigma is
    drawn from its scaled-inverse-chi posterior, sigma = s sqrt(df / X), X ~ chi2(df)
    (s = se sqrt(n): the per-seed sd, or for Welch the sd of one seed's contribution to
    the difference, n the smaller group), and the power of the noncentral t at n,
    P(T(df_n, |gap| sqrt(n) / sigma) > t(df_n)), is averaged over it. Plugging in s
    alone would give 80% only on paper (50-65% on average from 3 seeds, simulated in
    tests/test_stats.py). None: no spread, on the threshold, or more than `most`."""
    gap = abs(interval.estimate - threshold)
    if not interval.ok or not interval.se > 0 or not gap > 0 or not interval.df > 0:
        return None
    sd = interval.se * np.sqrt(interval.n)
    x = stats.chi2.ppf((np.arange(_POSTERIOR_POINTS) + 0.5) / _POSTERIOR_POINTS, interval.df)
    sigma = sd * np.sqrt(interval.df / x)  # (points,) equally likely values of sigma
    # Welch's df grows with n as the observed df did: 2 (n - 1) for two equal groups
    per_seed_df = interval.df / max(interval.n - 1, 1)

    def expected_power(n: int) -> float:
        df = per_seed_df * (n - 1)
        critical = stats.t.ppf(0.5 + confidence / 2, df)
        return float(np.mean(stats.nct.sf(critical, df, gap * np.sqrt(n) / sigma)))

    if expected_power(most) < power:
        return None
    lo, hi = 2, most  # expected power rises with n: bisect for the first n that reaches it
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if expected_power(mid) >= power else (mid + 1, hi)
    return lo


_POSTERIOR_POINTS = 256  # quantiles of sigma's posterior averaged over (midpoint rule)


def insufficient(estimate: float, n: int, reason: str) -> Interval:
    nan = float("nan")
    return Interval(estimate, nan, nan, n, "insufficient", reason=reason)


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=float).reshape(-1)
    return v[np.isfinite(v)]


def _half_width(se: float, df: float, confidence: float) -> float:
    """Half the width of a two-sided t interval at `confidence`."""
    return float(stats.t.ppf(0.5 + confidence / 2, df) * se)


def _t(estimate: float, se: float, df: float, n: int, method: str, confidence: float):
    half = _half_width(se, df, confidence)
    return Interval(estimate, estimate - half, estimate + half, n, method, se, df)


def mean_interval(values, confidence: float = 0.95, min_n: int = 3) -> Interval:
    """Mean of the finite `values` with a t interval (n - 1 degrees of freedom)."""
    v = _finite(values)
    estimate = float(v.mean()) if len(v) else float("nan")
    if len(v) < max(min_n, 2):
        return insufficient(estimate, len(v), f"{len(v)} seed(s) < {max(min_n, 2)}")
    if np.ptp(v) == 0:
        return insufficient(estimate, len(v), f"no spread: all {len(v)} seeds at {v[0]:.4g}")
    se = float(v.std(ddof=1) / np.sqrt(len(v)))
    return _t(estimate, se, len(v) - 1, len(v), "t", confidence)


def median_interval(values, confidence: float = 0.95) -> Interval:
    """Median of the finite `values` with a distribution-free interval from two order
    statistics: [x_(k), x_(n+1-k)] with the largest k whose coverage, 1 - 2 P(B < k) for
    B ~ Binomial(n, 1/2), is at least `confidence`, for any continuous distribution of
    independent values. 95% needs n >= 6 (at n = 15: the 4th and 12th values, 96.5%)."""
    v = np.sort(_finite(values))
    n = len(v)
    estimate = float(np.median(v)) if n else float("nan")
    k = _order_statistic(n, confidence)
    if k is None:
        return insufficient(estimate, n, f"{n} value(s): no two order statistics cover "
                            f"the median at {confidence:.0%}")  # fmt: skip
    return Interval(estimate, float(v[k - 1]), float(v[n - k]), n, "order statistics",
                    coverage=_order_coverage(k, n))  # fmt: skip


def _order_statistic(n: int, confidence: float) -> int | None:
    """The largest k (1-based) whose [x_(k), x_(n+1-k)] covers at `confidence`."""
    covering = [k for k in range(1, n // 2 + 1) if _order_coverage(k, n) >= confidence]
    return max(covering, default=None)


def _order_coverage(k: int, n: int) -> float:
    """1 - 2 P(Binomial(n, 1/2) < k): how often [x_(k), x_(n+1-k)] holds the median."""
    return 1 - 2 * float(stats.binom.cdf(k - 1, n, 0.5))


def paired_difference(a, b, confidence: float = 0.95, min_n: int = 3) -> Interval:
    """Mean of a_s - b_s over pairs (aligned arrays; pairs with a NaN drop out)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    interval = mean_interval(d, confidence, min_n)
    if not interval.ok:
        return insufficient(
            interval.estimate, interval.n, interval.reason.replace("seeds", "pairs")
        )
    return dataclasses.replace(interval, method="paired t")


def welch_difference(a, b, confidence: float = 0.95, min_n: int = 3) -> Interval:
    """mean(a) - mean(b) of independent groups, Welch-Satterthwaite t interval."""
    a, b = _finite(a), _finite(b)
    n = min(len(a), len(b))
    estimate = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if n < max(min_n, 2):
        return insufficient(
            estimate,
            n,
            f"{len(a)} / {len(b)} seeds with a value, fewer than {max(min_n, 2)} in a group",
        )
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return insufficient(estimate, n, "no spread in either group")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return _t(estimate, float(np.sqrt(va + vb)), float(df), n, "Welch t", confidence)


def difference(a: dict, b: dict, confidence: float = 0.95, min_n: int = 3) -> Interval:
    """A - B from per-seed values {seed: value}: paired over the seeds both have when
    there are at least `min_n` of them, Welch over all finite values otherwise."""
    common = sorted(s for s in a.keys() & b.keys() if np.isfinite(a[s]) and np.isfinite(b[s]))
    if len(common) >= min_n:
        return paired_difference([a[s] for s in common], [b[s] for s in common], confidence, min_n)
    return welch_difference(list(a.values()), list(b.values()), confidence, min_n)


def statistic_interval(
    a: dict, b: dict | None, confidence: float = 0.95, min_n: int = 3
) -> Interval:
    """The interval a test of A against B uses: A's mean alone (b None), else `difference`."""
    if b is None:
        return mean_interval(list(a.values()), confidence, min_n)
    return difference(a, b, confidence, min_n)


def holm(p_values: list[float], alpha: float = 0.05) -> tuple[list[float], list[float]]:
    """Holm's step-down: (adjusted p-values, confidence level of each test's interval).

    Sorted by p, test j (0-based) of m is judged at alpha / (m - j) until the first that
    fails; it and every later one are shown at the level of that first failure. NaN p
    (no interval) sort last and keep a NaN adjusted p.
    """
    p = np.asarray(p_values, dtype=float)
    m = int(np.isfinite(p).sum())
    order = np.argsort(np.where(np.isfinite(p), p, np.inf), kind="stable")
    adjusted = np.full(len(p), np.nan)
    level = np.full(len(p), 1 - alpha / max(m, 1))
    running, failed_at = 0.0, None
    for j, i in enumerate(order[:m]):
        running = max(running, min(1.0, (m - j) * p[i]))
        adjusted[i] = running
        if failed_at is None and p[i] > alpha / (m - j):
            failed_at = j
        level[i] = 1 - alpha / (m - (j if failed_at is None else failed_at))
    return adjusted.tolist(), level.tolist()


def mean_curve(matrix, confidence: float = 0.95, min_n: int = 2):
    """Per-column mean and t interval of a (seeds, points) array, vectorized.

    NaN/Inf entries drop out of their column only. Returns (mean, lo, hi, n, method),
    each (points,); fewer than `min_n` finite values or no spread: NaN interval and
    method "insufficient".
    """
    m = np.asarray(matrix, dtype=float)
    finite = np.isfinite(m)
    n = finite.sum(axis=0)
    x = np.where(finite, m, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, x.sum(0) / np.maximum(n, 1), np.nan)
        dev = np.where(finite, m - mean, 0.0)
        sd = np.sqrt((dev**2).sum(0) / np.maximum(n - 1, 1))
        half = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    ok = (n >= max(min_n, 2)) & (sd > 0)
    lo, hi = np.where(ok, mean - half, np.nan), np.where(ok, mean + half, np.nan)
    method = np.where(ok, "t", "insufficient").astype(object)
    return mean, lo, hi, n, method


def _spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho along the last axis (tie-averaged ranks)."""
    rx, ry = stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1)
    rx = rx - rx.mean(-1, keepdims=True)
    ry = ry - ry.mean(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (rx * ry).sum(-1) / np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))
    return np.nan_to_num(rho, nan=0.0)  # a resample with no ranking carries no sign


def _centred(values: np.ndarray, strata: np.ndarray, n_strata: int) -> np.ndarray:
    """values (..., N) minus the mean of their stratum (strata: (N,) codes 0..n_strata-1)."""
    flat = values.reshape(-1, values.shape[-1])  # (R, N)
    rows = np.repeat(np.arange(len(flat)), flat.shape[1])
    keys = rows * n_strata + np.tile(strata, len(flat))
    sums = np.bincount(keys, weights=flat.ravel(), minlength=len(flat) * n_strata)
    means = sums.reshape(len(flat), n_strata) / np.bincount(strata, minlength=n_strata)
    return (flat - means[:, strata]).reshape(values.shape)


def within_strata_spearman(
    x, y, strata, confidence: float = 0.95, n_resamples: int = 2999, min_n: int = 8
) -> Interval:
    """Spearman's rho of x and y after each is centred within its stratum (a variant and
    lr): does a run with more ICS than its peers of the same variant and lr do worse?
    Pooling strata without centring would correlate the variants' means (Simpson's
    paradox). Percentile interval from resampling runs within their strata."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    codes = np.unique(np.asarray(strata, dtype=str), return_inverse=True)[1]
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, codes = x[keep], y[keep], np.unique(codes[keep], return_inverse=True)[1]
    k = int(codes.max()) + 1 if len(codes) else 0
    informative = int(np.bincount(codes)[np.bincount(codes) > 1].sum()) if k else 0
    if informative < min_n:
        return insufficient(
            float("nan"), informative, f"{informative} runs in strata of 2+ < {min_n}"
        )
    rx, ry = _centred(x, codes, k), _centred(y, codes, k)
    estimate = float(_spearman(rx, ry))
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return insufficient(estimate, informative, "no spread within strata")
    rng = np.random.default_rng(RNG_SEED)
    index = np.empty((n_resamples, len(x)), dtype=int)
    for s in range(k):
        members = np.flatnonzero(codes == s)
        index[:, members] = rng.choice(members, size=(n_resamples, len(members)))
    bx, by = x[index], y[index]
    rho = _spearman(_centred(bx, codes, k), _centred(by, codes, k))
    alpha = 1 - confidence
    lo, hi = np.quantile(rho, [alpha / 2, 1 - alpha / 2])
    return Interval(estimate, float(lo), float(hi), informative, "stratified bootstrap")
