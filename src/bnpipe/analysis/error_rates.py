"""Each test's false-verdict rates at its threshold, on the shape of its own per-seed values.

A t interval is exact on normal per-seed values. Skewed ones make it err toward their
long tail: a raw mean of lognormal (sigma 1) values at 3 to 10 seeds is declared
`contradicted` at its threshold 15-17% of the time instead of 2.5%. So every test with
an interval is checked on its own residuals:

  residuals   the per-seed values the interval is computed from, minus their mean: the
              per-seed differences of a paired test, each group's values for Welch, the
              group's values for one group
  null draws  `draws` samples at the test's own seed counts, drawn with replacement from
              the residuals, smoothed, and shifted so that the statistic's true value is
              exactly the threshold
  rates       the share of null draws whose interval (the same t, at the same level) lies
              wholly above or below the threshold: false `supported` and false
              `contradicted`, each meant to be at most (1 - level) / 2 (2.5% at 95%)

Smoothing (Silverman 1986, 3.4; the smoothed bootstrap of Silverman and Young 1987):
each drawn residual gets Gaussian noise of sd h s (s the residuals' sd, h = (4 / 3m)^(1/5)
for m residuals, the normal reference bandwidth), then is scaled by 1 / sqrt(1 + h^2) to
keep the variance. Without it, 3 draws from 3 residuals repeat a value in 78% of draws,
which real seeds never do, and a draw of two equal values and a third has a tiny spread:
the plain resampled rate then exceeds 2.5% for 61% of normal samples of 3 (98% at 5).

Method change where a rate may exceed (1 - level) / 2: the t critical value of the bound
that errs (the lower bound for a false `above`, the upper for a false `below`) is
multiplied by the smallest factor at which that bound's rate is at most (1 - level) / 2
with 95% confidence over the draws' Monte Carlo error (`_allowed`: at 4,000 draws and
2.5%, at most 83 draws, 2.1%, may clear): a bootstrap-t bound (Efron and Tibshirani
1993, ch. 12) that is never narrower than the t interval. The other bound stays t.

What 3 seeds cannot show: a sample of 3 rarely holds the long tail it comes from, so its
residuals look much like a normal sample's (from lognormal values, the smoothed check's
median rate is 3.3%, as from normal ones). The check then widens both alike (about x1.16
at 3 seeds) and cannot restore 2.5% on data as skewed as a lognormal: that needs a
transform chosen for the quantity (ratios are tested as differences of logs) or a pool
of residuals larger than one test's seeds, which `rates` accepts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from bnpipe.analysis.stats import RNG_SEED, Interval

ONE, PAIRED, WELCH = "t", "paired t", "Welch t"  # an Interval's method: how it was formed


@dataclass(frozen=True)
class Check:
    """The resampling check of one test at one level."""

    n: tuple[int, ...]  # seeds per draw: (pairs,), (seeds,) or (A's, B's) for Welch
    skewness: tuple[float, ...]  # of each residual pool (adjusted Fisher-Pearson; nan < 3)
    draws: int
    bandwidth: float  # kernel sd over the residuals' sd
    target: float  # (1 - level) / 2: the most each false rate may be
    plain: tuple[float, float]  # false supported, false contradicted of the t interval
    factors: tuple[float, float]  # on the lower, upper bound's critical value (1: t's own)
    rates: tuple[float, float]  # false supported, false contradicted after the widening

    @property
    def widened(self) -> bool:
        return self.factors != (1.0, 1.0)

    def as_dict(self) -> dict:
        return {
            "n": list(self.n),
            "skewness": list(self.skewness),
            "draws": self.draws,
            "bandwidth": self.bandwidth,
            "target": self.target,
            "false_supported_t": self.plain[0],
            "false_contradicted_t": self.plain[1],
            "widen_lower": self.factors[0],
            "widen_upper": self.factors[1],
            "false_supported": self.rates[0],
            "false_contradicted": self.rates[1],
        }


def residual_pools(method: str, a: dict, b: dict | None) -> list[np.ndarray]:
    """The residuals an interval of A against B (None: A alone) made by `method` (an
    Interval's) was computed from: one pool for a paired or one-group interval, two for
    Welch. Mirrors stats.difference."""
    if method == PAIRED:
        common = sorted(s for s in a.keys() & b.keys() if _finite(a[s]) and _finite(b[s]))
        pools = [np.array([a[s] - b[s] for s in common])]
    elif method == WELCH:
        pools = [_values(a), _values(b)]
    else:
        pools = [_values(a)]
    return [p - p.mean() for p in pools]


def check(
    interval: Interval,
    a: dict,
    b: dict | None,
    direction: str,
    level: float,
    draws: int,
    seed: int = RNG_SEED,
) -> Check:
    """The false-verdict rates of `interval`'s test at its threshold, from its own
    residuals resampled at its own seed counts (module docstring), and the widening
    that keeps each at most (1 - level) / 2."""
    pools = residual_pools(interval.method, a, b)
    n = tuple(len(p) for p in pools)
    return rates(pools, n, direction, level, draws, seed)


def primary_tests(document: dict) -> list[dict]:
    """The tests that decide the claims of a claims.json document: each claim's primary,
    or the parts of a compound one (claim 6)."""
    return [t for c in document["claims"] for t in (c["primary"]["parts"] or [c["primary"]])]


def test_pools(test: dict) -> tuple[list[np.ndarray], tuple[int, ...]] | None:
    """The residual pools and seed counts of a test as claims.json records it
    (judging.Outcome.as_dict: its per-seed `values` and `method`); None without an
    interval."""
    if test.get("method") not in (ONE, PAIRED, WELCH) or not test.get("values"):
        return None
    a, b = (_seed_dict(test["values"][k]) for k in ("a", "b"))
    pools = residual_pools(test["method"], a, b)
    return pools, tuple(len(p) for p in pools)


def from_test(test: dict, draws: int, seed: int = RNG_SEED) -> Check | None:
    """The check of a recorded test (`test_pools`) at its level, e.g. to check a real
    run's primaries again with more draws; None where it has no interval."""
    found = test_pools(test)
    if found is None:
        return None
    return rates(*found, test["direction"], test["level"], draws, seed)


def fresh_rates(
    pools: list[np.ndarray], n: tuple[int, ...], direction: str, level: float,
    factors: tuple[float, float], draws: int, seed: int,
) -> tuple[float, float]:  # fmt: skip
    """(false supported, false contradicted) of intervals widened by `factors`, on draws
    from another seed than the ones that chose them: an honest estimate of the rates."""
    u = ratios(null_draws(pools, n, draws, np.random.default_rng(seed)), level)
    return false_rates(u, direction, factors)


def rates(
    pools: list[np.ndarray],
    n: tuple[int, ...],
    direction: str,
    level: float,
    draws: int,
    seed: int = RNG_SEED,
) -> Check:
    """The check from residual pools of any size (one pool: a mean or paired differences;
    two: Welch's A and B), resampled at `n` seeds per group."""
    u = ratios(null_draws(pools, n, draws, np.random.default_rng(seed)), level)
    target = (1 - level) / 2
    allowed = _allowed(draws, target)
    factors = (_factor(u, allowed), _factor(-u, allowed))
    return Check(
        n=tuple(n),
        skewness=tuple(_skewness(p) for p in pools),
        draws=draws,
        bandwidth=bandwidth(len(pools[0])),
        target=target,
        plain=false_rates(u, direction, (1.0, 1.0)),
        factors=factors,
        rates=false_rates(u, direction, factors),
    )


def null_draws(
    pools: list[np.ndarray], n: tuple[int, ...], draws: int, rng: np.random.Generator,
    smooth: bool = True,
) -> list[np.ndarray]:  # fmt: skip
    """Per pool, (draws, n) resamples of its centred residuals, smoothed (module
    docstring; `smooth` False: the plain bootstrap): the per-seed values of a world where
    the statistic is exactly 0 (add the threshold to the first pool's to put it there)."""
    out = []
    for pool, size in zip(pools, n, strict=True):
        pool = np.asarray(pool, dtype=float)
        pool = pool - pool.mean()
        h = bandwidth(len(pool)) if smooth else 0.0
        spread = pool.std(ddof=1) if len(pool) > 1 else 0.0
        drawn = pool[rng.integers(0, len(pool), (draws, size))]
        out.append((drawn + h * spread * rng.standard_normal((draws, size))) / math.sqrt(1 + h * h))
    return out


def ratios(samples: list[np.ndarray], level: float) -> np.ndarray:
    """Per draw, (statistic - truth) / se over the t critical value at `level`: above 1,
    the t interval's lower bound clears the truth; below -1, its upper bound does. NaN
    where a draw has no spread (its interval is `insufficient`: no verdict)."""
    if len(samples) == 1:
        x = samples[0]  # (draws, n)
        n = x.shape[1]
        se = x.std(axis=1, ddof=1) / math.sqrt(n)
        with np.errstate(invalid="ignore", divide="ignore"):
            u = x.mean(axis=1) / se / _t_critical(level, n - 1)
        return np.where(se > 0, u, np.nan)
    a, b = samples
    va, vb = a.var(axis=1, ddof=1) / a.shape[1], b.var(axis=1, ddof=1) / b.shape[1]
    se = np.sqrt(va + vb)
    estimate = a.mean(axis=1) - b.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (va + vb) ** 2 / (va**2 / (a.shape[1] - 1) + vb**2 / (b.shape[1] - 1))
        critical = sps.t.ppf(0.5 + level / 2, np.where(se > 0, df, 1.0))
        return np.where(se > 0, estimate / se / critical, np.nan)


def false_rates(u: np.ndarray, direction: str, factors: tuple[float, float]) -> tuple[float, float]:
    """(false supported, false contradicted) of intervals whose lower and upper critical
    values are multiplied by `factors`, at a threshold equal to the truth."""
    lower_clears = np.mean(u > factors[0])  # the whole interval above the threshold
    upper_clears = np.mean(-u > factors[1])  # the whole interval below it
    pair = (lower_clears, upper_clears) if direction == "above" else (upper_clears, lower_clears)
    return float(pair[0]), float(pair[1])


def widen(interval: Interval, factors: tuple[float, float], level: float) -> Interval:
    """`interval` at `level` with its lower and upper t half-widths multiplied by
    `factors` (a t interval at `level` where both are 1)."""
    t = interval.at(level)
    if factors == (1.0, 1.0) or not t.ok:
        return t
    half = t.hi - t.estimate
    return Interval(
        t.estimate, t.estimate - factors[0] * half, t.estimate + factors[1] * half, t.n,
        t.method, t.se, t.df, widened=factors,
    )  # fmt: skip


def describe(c: Check, seeds: str) -> str:
    """The check in words, for the report."""
    skew = ", ".join(f"{g:.2g}" for g in c.skewness if math.isfinite(g)) or "not measurable"
    text = (
        f"Error check: its residuals (skewness {skew}) resampled at {seeds}, {c.draws:,} "
        f"draws with the statistic on the threshold: false supported {c.plain[0]:.1%}, "
        f"false contradicted {c.plain[1]:.1%} with the t interval"
    )
    if not c.widened:
        return text + f" (at most {c.target:.1%} each, with 95% confidence over the draws)."
    bounds = zip(("lower", "upper"), c.factors, strict=True)
    sides = [f"{side} bound x{k:.2f}" for side, k in bounds if k > 1.0]
    return (
        text + f"; possibly above {c.target:.1%}, so the interval is widened "
        f"({', '.join(sides)}: a bootstrap-t bound), which gives {c.rates[0]:.1%} and "
        f"{c.rates[1]:.1%} (at most {c.target:.1%} with 95% confidence over the draws)."
    )


def bandwidth(m: int) -> float:
    """Silverman's normal reference bandwidth over the sd, (4 / 3m)^(1/5); 0 below 2."""
    return (4 / (3 * m)) ** 0.2 if m > 1 else 0.0


@functools.lru_cache(maxsize=256)
def _t_critical(level: float, df: int) -> float:
    return float(sps.t.ppf(0.5 + level / 2, df))  # cached: scipy's call costs 0.1 ms


@functools.lru_cache(maxsize=256)
def _allowed(draws: int, target: float, sure: float = 0.95) -> int:
    """The most of `draws` that may clear at the chosen factor so that its true rate is at
    most `target` with probability `sure` despite Monte Carlo error: the largest m with
    P(Binomial(draws, target) <= m) <= 1 - sure (the factor is then the (m + 1)-th largest
    draw, and its true rate exceeds `target` only if fewer than m + 1 of the draws fell
    beyond the true quantile). 0 where even that is too many (fewer than ~120 draws)."""
    m = int(sps.binom.ppf(1 - sure, draws, target))  # the smallest m with cdf >= 1 - sure
    if sps.binom.cdf(m, draws, target) > 1 - sure:
        m -= 1
    return max(m, 0)


def _factor(u: np.ndarray, allowed: int) -> float:
    """The smallest k >= 1 with at most `allowed` of u above it (NaN never is)."""
    above = np.sort(u[u > 1.0])[::-1]  # the draws that clear at k = 1, largest first
    return 1.0 if len(above) <= allowed else float(above[allowed])


def _skewness(pool: np.ndarray) -> float:
    """The adjusted Fisher-Pearson skewness G1 (scipy.stats.skew, bias=False); NaN below
    3 values or without spread."""
    n = len(pool)
    d = pool - pool.mean()
    m2, m3 = np.mean(d**2), np.mean(d**3)
    if n < 3 or not m2 > 0:
        return math.nan
    return float(m3 / m2**1.5 * math.sqrt(n * (n - 1)) / (n - 2))


def _seed_dict(values: dict | None) -> dict | None:
    """{seed: value} from JSON ({"0": 0.61, ...}, null for NaN)."""
    if values is None:
        return None
    return {int(k): math.nan if v is None else float(v) for k, v in values.items()}


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def _values(d: dict) -> np.ndarray:
    return np.array([v for v in d.values() if _finite(v)], dtype=float)
