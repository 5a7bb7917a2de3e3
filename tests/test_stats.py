"""Intervals cover at their level at the seed counts we run (3, 5, 10), by simulation."""

import numpy as np
import pytest
import scipy.stats

from bnpipe.analysis.stats import (
    difference,
    holm,
    mean_curve,
    mean_interval,
    median_interval,
    paired_difference,
    welch_difference,
    within_strata_spearman,
)

SIMULATIONS = 4000  # per cell: a 95% coverage has a standard error of 0.34 points
SKEWED = {  # (draw(rng, shape), true mean)
    "normal": (lambda rng, shape: rng.normal(2.0, 1.0, shape), 2.0),
    "lognormal": (lambda rng, shape: rng.lognormal(0.0, 0.25, shape), np.exp(0.25**2 / 2)),
    "gamma4": (lambda rng, shape: rng.gamma(4.0, 1.0, shape), 4.0),
}


def _coverage(intervals, truth) -> float:
    return np.mean([i.lo < truth < i.hi for i in intervals])


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("shape", list(SKEWED))
def test_mean_interval_covers_within_two_points(n, shape):
    draw, truth = SKEWED[shape]
    x = draw(np.random.default_rng(n), (SIMULATIONS, n))
    coverage = _coverage([mean_interval(row) for row in x], truth)
    assert abs(coverage - 0.95) < 0.02, coverage
    _, lo, hi, _, _ = mean_curve(x.T)  # the vectorized form: the same intervals
    assert lo[0] == pytest.approx(mean_interval(x[0]).lo) and hi[7] == pytest.approx(
        mean_interval(x[7]).hi
    )


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("shape", list(SKEWED))
def test_paired_and_welch_differences_cover_within_two_points(n, shape):
    draw, _ = SKEWED[shape]
    rng = np.random.default_rng(100 + n)
    shared = draw(rng, (SIMULATIONS, n))  # the seed's own effect, common to both variants
    a = shared + draw(rng, (SIMULATIONS, n)) + 0.7  # true difference 0.7
    b = shared + draw(rng, (SIMULATIONS, n))
    paired = _coverage([paired_difference(x, y) for x, y in zip(a, b, strict=True)], 0.7)
    welch = _coverage([welch_difference(x, y) for x, y in zip(a, b, strict=True)], 0.7)
    assert abs(paired - 0.95) < 0.02, paired
    # Welch ignores the pairing: it may only over-cover (the shared part adds to its variance)
    assert 0.93 < welch <= 0.995, welch


@pytest.mark.parametrize("n", [3, 5, 10])
def test_log_ratio_covers_within_two_points(n):
    """Ratios are compared as differences of logs: lognormal per-run values."""
    rng = np.random.default_rng(200 + n)
    a = rng.lognormal(np.log(3.0), 0.8, (SIMULATIONS, n))
    b = rng.lognormal(np.log(1.5), 0.5, (SIMULATIONS, n))
    coverage = _coverage(
        [welch_difference(np.log(x), np.log(y)) for x, y in zip(a, b, strict=True)], np.log(2.0)
    )
    assert abs(coverage - 0.95) < 0.02, coverage


def test_too_few_seeds_or_no_spread_is_insufficient_with_a_reason():
    assert mean_interval([1.0, 2.0]).method == "insufficient"
    assert "2 seed(s)" in mean_interval([1.0, 2.0]).reason
    flat = welch_difference([0.1, 0.1, 0.1], [0.1, 0.1, 0.1])
    assert flat.method == "insufficient" and "no spread" in flat.reason
    stuck = paired_difference([0.1, 0.1, 0.1], [0.3, 0.3, 0.3])  # a constant difference
    assert stuck.method == "insufficient"
    assert mean_interval([1.0, np.nan, 2.0, np.inf]).n == 2
    ok = mean_interval([1.0, 2.0, 4.0])
    assert ok.method == "t" and ok.lo < 7 / 3 < ok.hi


def test_difference_pairs_by_seed_where_it_can():
    a = {0: 1.0, 1: 2.0, 2: 3.5, 3: 9.0}
    b = {0: 0.5, 1: 1.4, 2: 3.2}
    paired = difference(a, b)
    assert paired.method == "paired t" and paired.n == 3
    assert paired.estimate == pytest.approx(np.mean([0.5, 0.6, 0.3]))
    assert difference(a, {0: 0.5, 5: 1.0, 6: 2.0}).method == "Welch t"


def test_holm_adjusts_and_steps_down():
    adjusted, levels = holm([0.01, 0.04, 0.03], alpha=0.05)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])
    # 0.01 at 0.05/3 passes, 0.03 at 0.05/2 fails: it and 0.04 are shown at that level
    assert levels == pytest.approx([1 - 0.05 / 3, 1 - 0.05 / 2, 1 - 0.05 / 2])
    adjusted, _ = holm([0.2, np.nan])
    assert adjusted[0] == pytest.approx(0.2) and np.isnan(adjusted[1])


def test_interval_at_another_level_widens_and_gives_its_p_value():
    i = mean_interval([1.0, 2.0, 3.0, 4.0])
    wide = i.at(0.99)
    assert wide.lo < i.lo and wide.hi > i.hi and wide.estimate == i.estimate
    assert i.p_value(i.lo) == pytest.approx(0.05)


def test_within_strata_spearman_needs_min_n_runs_in_strata_of_two_or_more():
    """8 runs in strata of 2+ (and one alone, which says nothing within its stratum) give
    an interval; 7 do not, and say so."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=9), rng.normal(size=9)
    assert within_strata_spearman(x, y, [0, 0, 1, 1, 2, 2, 3, 3, 4], n_resamples=99).ok
    seven = within_strata_spearman(x, y, [0, 0, 1, 1, 2, 2, 2, 4, 5], n_resamples=99)
    assert not seven.ok and seven.reason == "7 runs in strata of 2+ < 8"


def test_within_strata_spearman_removes_simpsons_paradox_and_covers():
    """Across strata the means anti-correlate; within them x and y rise together."""
    rng = np.random.default_rng(0)
    strata = np.repeat(np.arange(6), 5)
    shift = strata * 10.0
    x = shift + rng.normal(0, 1, 30)
    y = -shift + x - shift + rng.normal(0, 0.5, 30)  # within a stratum y ~ x
    i = within_strata_spearman(x, y, strata)
    assert i.lo > 0.5 and i.method == "stratified bootstrap"
    assert np.corrcoef(x, y)[0, 1] < 0  # the pooled correlation points the wrong way
    # coverage of the bootstrap at 36 runs in 12 strata of 3 (as a 3-seed grid gives)
    truth_x = rng.normal(0, 1, 199998)
    truth_y = 0.5 * truth_x + rng.normal(0, np.sqrt(0.75), 199998)
    strata = np.repeat(np.arange(12), 3)
    big = np.repeat(np.arange(len(truth_x) // 3), 3)
    truth = within_strata_spearman(truth_x, truth_y, big, n_resamples=2).estimate
    hits = []
    for k in range(300):
        r = np.random.default_rng(1000 + k)
        xs = r.normal(0, 1, 36) + strata
        ys = 0.5 * (xs - strata) + r.normal(0, np.sqrt(0.75), 36) - strata
        ci = within_strata_spearman(xs, ys, strata, n_resamples=499)
        hits.append(ci.lo < truth < ci.hi)
    assert 0.88 < np.mean(hits) <= 0.99, np.mean(hits)


def _power(n: int, gap: float, sd: float) -> float:
    """Exact power of a one-sample t test at 95% with n values of sd `sd`, true mean
    `gap` above the threshold: the interval's lower bound clears it (noncentral t)."""
    critical = scipy.stats.t.ppf(0.975, n - 1)
    return float(scipy.stats.nct.sf(critical, n - 1, gap * np.sqrt(n) / sd))


def test_seeds_for_power_give_80_percent_power_on_average_over_the_spread():
    """Pilots of 3 seeds from N(1, 1): told the true effect (the estimate is 1) but only
    the pilot's sd, the suggested seeds reach 80% power on average over pilots, exactly
    (noncentral t) and in simulated t intervals at that n (bnpipe.analysis.stats.mean_curve); the
    plug-in (sd taken as known) falls short, at about 50% (Colas et al. 2018)."""
    from bnpipe.analysis.stats import Interval, seeds_for_power

    rng = np.random.default_rng(11)
    realized, plug_in, simulated = [], [], []
    for k in range(200):
        pilot = rng.normal(1.0, 1.0, 3)
        sd = pilot.std(ddof=1)
        interval = Interval(1.0, np.nan, np.nan, 3, "t", se=sd / np.sqrt(3), df=2)
        n = seeds_for_power(interval, 0.0, 0.95)
        realized.append(_power(n, 1.0, 1.0))
        known = Interval(1.0, np.nan, np.nan, 3, "t", se=sd / np.sqrt(3), df=1e9)
        n_plug = seeds_for_power(known, 0.0, 0.95)  # the spread's uncertainty ignored
        if k < 40:  # data at the suggested n, judged by the project's own t interval
            _, lo, _, _, _ = mean_curve(rng.normal(1.0, 1.0, (n, 500)))
            simulated.append(np.mean(lo > 0))
        plug_in.append(_power(min(n_plug, 1000), 1.0, 1.0) if n_plug else 1.0)
    assert 0.78 <= np.mean(realized) <= 0.9, np.mean(realized)
    assert abs(np.mean(simulated) - np.mean(realized[:40])) < 0.02
    assert np.mean(plug_in) < 0.75


def test_seeds_for_power_known_answers():
    """A spread known almost exactly (10^7 degrees of freedom per seed, as if from a huge
    pilot) gives the z test's answer; the t test at n = 10 is the first with 80% at
    gap/sd = 1; an unsure spread asks for more; none on the threshold or past `most`;
    Welch plans per group, its df growing like the observed one's."""
    from bnpipe.analysis.stats import Interval, seeds_for_power

    exact = Interval(1.0, np.nan, np.nan, 3, "t", se=1 / np.sqrt(3), df=2 * 10**7)
    # per-seed df is 10^7 per seed: the spread is known; the test's own df is huge too,
    # so the answer is the z test's: (1.96 + 0.84)^2 = 7.85 -> 8
    assert seeds_for_power(exact, 0.0, 0.95) == 8
    assert _power(10, 1.0, 1.0) >= 0.8 > _power(9, 1.0, 1.0)
    unsure = Interval(1.0, np.nan, np.nan, 3, "t", se=1 / np.sqrt(3), df=2)
    assert seeds_for_power(unsure, 0.0, 0.95) > 10
    assert seeds_for_power(unsure, 1.0, 0.95) is None  # on the threshold
    assert seeds_for_power(unsure, 0.0, 0.95, most=10) is None
    welch = Interval(1.0, np.nan, np.nan, 3, "Welch t", se=np.sqrt(2 / 3), df=4)
    paired = Interval(1.0, np.nan, np.nan, 3, "paired t", se=np.sqrt(2 / 3), df=2)
    # the same spread of a seed's contribution, known from more degrees of freedom
    assert seeds_for_power(welch, 0.0, 0.95) < seeds_for_power(paired, 0.0, 0.95)


def test_median_interval_is_two_order_statistics_with_their_exact_coverage():
    """Known answers: n = 15 at 95% takes the 4th and 12th values (1 - 2 P(B <= 3) =
    1 - 2 * 576 / 2**15); n = 6 the extremes (1 - 2 / 64); n = 5 has none (at best
    1 - 2 / 32 = 93.75%)."""
    values = np.arange(15.0)[::-1] * 2  # unsorted on purpose
    i = median_interval(values)
    assert (i.estimate, i.lo, i.hi, i.n, i.method) == (14.0, 6.0, 22.0, 15, "order statistics")
    assert i.coverage == pytest.approx(1 - 2 * 576 / 2**15, abs=1e-12)
    six = median_interval([3.0, 1.0, 2.0, 6.0, 5.0, 4.0, float("nan")])
    assert (six.lo, six.hi, six.n) == (1.0, 6.0, 6)
    assert six.coverage == pytest.approx(1 - 2 / 64)
    five = median_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert not five.ok and five.estimate == 3.0 and "95%" in five.reason
    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0], confidence=0.9).ok


@pytest.mark.parametrize(
    "shape, truth", [("lognormal", 1.0), ("gamma4", scipy.stats.gamma(4.0).median())]
)
def test_median_interval_covers_the_median_of_skewed_timings(shape, truth):
    """Coverage by simulation at n = 15 (exact 96.5%) on skewed data with a known median
    (lognormal: e^0; gamma: scipy's), within two standard errors."""
    draw, _ = SKEWED[shape]
    samples = draw(np.random.default_rng(1), (SIMULATIONS, 15))
    coverage = _coverage([median_interval(row) for row in samples], truth)
    assert coverage >= 0.95 - 2 * 0.0034
    assert coverage <= 0.965 + 2 * 0.0034
