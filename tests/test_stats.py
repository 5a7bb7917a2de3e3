import numpy as np
import pytest

from bnpipe.stats import bootstrap_curve, bootstrap_difference, bootstrap_mean, rank_correlation


def test_interval_covers_a_known_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(123)
    trials, hits = 300, 0
    for _ in range(trials):
        sample = rng.normal(loc=0.8, scale=0.05, size=12)
        ci = bootstrap_mean(sample, confidence=0.9, n_resamples=999)
        hits += ci.lo <= 0.8 <= ci.hi
    # Bootstrap intervals under-cover slightly at n = 12; 300 trials: sd of rate ~ 0.017.
    assert 0.80 <= hits / trials <= 0.96


def test_edge_cases_are_explicit():
    assert bootstrap_mean([]).method == "none"
    one = bootstrap_mean([0.7, float("nan")])
    assert one.n == 1 and one.mean == 0.7 and np.isnan(one.lo)
    same = bootstrap_mean([0.5, 0.5, 0.5])
    assert (same.lo, same.hi, same.method) == (0.5, 0.5, "degenerate")
    ci = bootstrap_mean([0.1, 0.2, 0.4, 0.3])
    assert ci.lo < ci.mean < ci.hi and ci.method == "BCa"


def test_curve_bands_bracket_the_mean_per_point():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 7)) + np.arange(7)
    m[:, 0] = 2.0  # no spread: a zero-width band
    m[0, 5:] = np.nan  # seed 0 diverged after point 4: it drops out there only
    mean, lo, hi, n, method = bootstrap_curve(m)
    assert np.allclose(mean[:5], m[:, :5].mean(0)) and np.allclose(mean[5:], m[1:, 5:].mean(0))
    assert n.tolist() == [5] * 5 + [4] * 2
    assert lo[0] == hi[0] == 2.0 and method[0] == "degenerate"
    assert set(method[1:]) <= {"BCa", "percentile"}
    assert np.all(lo[1:] < mean[1:]) and np.all(mean[1:] < hi[1:])
    one = bootstrap_curve(np.array([[1.0, np.nan], [np.nan, np.nan]]))
    assert one[0][0] == 1.0 and np.isnan(one[1][0]) and np.isnan(one[0][1])


def test_difference_interval_covers_a_known_difference_at_about_the_nominal_rate():
    rng = np.random.default_rng(7)
    trials, hits = 300, 0
    for _ in range(trials):
        a, b = rng.normal(0.83, 0.02, size=12), rng.normal(0.80, 0.03, size=12)
        ci = bootstrap_difference(a, b, confidence=0.9, n_resamples=999)
        hits += ci.lo <= 0.03 <= ci.hi
    # Bootstrap intervals under-cover a little at n = 12 (for 0.90, 0.84 at n = 8 and 0.86
    # at n = 20 measured over 400 trials); 300 trials: sd of the rate ~ 0.02.
    assert 0.80 <= hits / trials <= 0.96


def test_relative_difference_and_its_edge_cases():
    ci = bootstrap_difference([2.0, 2.2, 1.8], [1.0, 1.1, 0.9], relative=True, n_resamples=999)
    assert ci.mean == pytest.approx(1.0) and ci.lo < 1.0 < ci.hi
    assert bootstrap_difference([1.0], [2.0, 3.0]).method == "none"  # one seed: no interval
    assert np.isnan(bootstrap_difference([], [1.0, 2.0]).mean)
    flat = bootstrap_difference([1.0, 1.0], [0.5, 0.5])
    assert (flat.lo, flat.hi, flat.method) == (0.5, 0.5, "degenerate")
    nan = bootstrap_difference([1.0, 2.0, np.nan], [0.0, 1.0, np.inf], n_resamples=999)
    assert nan.n == 2 and nan.mean == pytest.approx(1.0)  # NaN/Inf never enter


def test_rank_correlation_on_constructed_cases():
    x = np.arange(12.0)
    assert rank_correlation(x, x**3).mean == 1.0  # monotone: rho 1, every resample too
    down = rank_correlation(x, -np.exp(x))
    assert (down.mean, down.lo, down.hi) == (-1.0, -1.0, -1.0)
    # Bivariate normal with r = 0.6: Spearman's rho is (6 / pi) asin(r / 2) = 0.5824.
    rng = np.random.default_rng(3)
    truth = 6 / np.pi * np.arcsin(0.3)
    cov = [[1, 0.6], [0.6, 1]]
    trials, hits, estimates = 150, 0, []
    for _ in range(trials):
        sample = rng.multivariate_normal([0, 0], cov, size=60)
        ci = rank_correlation(sample[:, 0], sample[:, 1], confidence=0.9, n_resamples=999)
        hits += ci.lo <= truth <= ci.hi
        estimates.append(ci.mean)
    assert abs(np.mean(estimates) - truth) < 0.03
    assert 0.80 <= hits / trials <= 0.97
    few = rank_correlation([1, 2, 3], [3, 1, 2])
    assert few.method == "none" and np.isnan(few.lo)
