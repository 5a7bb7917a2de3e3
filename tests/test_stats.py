import numpy as np

from bnpipe.stats import bootstrap_curve, bootstrap_mean


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
    mean, lo, hi, n = bootstrap_curve(m)
    assert np.allclose(mean[:5], m[:, :5].mean(0)) and np.allclose(mean[5:], m[1:, 5:].mean(0))
    assert n.tolist() == [5] * 5 + [4] * 2
    assert lo[0] == hi[0] == 2.0
    assert np.all(lo[1:] < mean[1:]) and np.all(mean[1:] < hi[1:])
    one = bootstrap_curve(np.array([[1.0, np.nan], [np.nan, np.nan]]))
    assert one[0][0] == 1.0 and np.isnan(one[1][0]) and np.isnan(one[0][1])
