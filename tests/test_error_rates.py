"""The error check of every interval (bnpipe.analysis.error_rates): false-verdict rates at the
threshold from resampled residuals, and the widening where a t interval errs too often."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats
from conftest import ROOT

from bnpipe.analysis import error_rates
from bnpipe.analysis.claims.judging import CONTRADICTED, SUPPORTED, Hypothesis, compare
from bnpipe.analysis.stats import mean_interval

TARGET = 0.025  # (1 - 0.95) / 2
DRAWS = 20000  # a 2.5% rate has a Monte Carlo standard error of 0.11 points
SLACK = 3 * math.sqrt(TARGET * (1 - TARGET) / DRAWS)  # 0.33 points


def _pool(name: str, size: int = 20000) -> np.ndarray:
    """Residuals of `size` draws; the normal pool is made exactly symmetric (x and -x), so
    that its own sample skewness (0.09 for 2,000 draws) does not tilt the rates, and large:
    at 3 seeds the rate depends on the pool's details (2.3% to 2.7% for pools of 2,000)."""
    rng = np.random.default_rng(7)
    if name == "normal":
        x = rng.normal(0.0, 1.0, size // 2)
        return np.concatenate([x, -x])
    x = rng.lognormal(0.0, 1.0, size)
    return x - x.mean()


@pytest.mark.parametrize("n", [3, 5, 10])
def test_normal_residuals_give_the_nominal_rate_and_little_widening(n):
    """A large pool of normal residuals: the t interval is exact, each false rate is 2.5%
    up to Monte Carlo error, and a widening only buys the margin for that error."""
    c = error_rates.rates([_pool("normal")], (n,), "above", 0.95, DRAWS)
    assert max(c.plain) <= TARGET + SLACK, c
    assert min(c.plain) >= TARGET - SLACK, c  # not conservative either: the t is exact here
    assert max(c.factors) <= 1.1, c
    assert max(c.rates) <= TARGET
    assert c.skewness[0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("direction", ["above", "below"])
def test_lognormal_residuals_make_t_err_toward_the_tail_and_the_widening_fixes_it(n, direction):
    """Lognormal (sigma 1) residuals: the mean's t interval falls short of a truth in the
    long upper tail, so its upper bound clears the threshold from below far too often
    (false `contradicted` above, false `supported` below: 15-17%). The widened upper
    bound, judged on fresh draws, errs at most 2.5% of the time; the lower bound is left."""
    pool = _pool("lognormal")
    c = error_rates.rates([pool], (n,), direction, 0.95, DRAWS)
    upper_errs = c.plain[1] if direction == "above" else c.plain[0]
    assert upper_errs > 0.10, c
    assert c.factors[0] == 1.0 and c.factors[1] > 1.5, c
    assert c.skewness[0] > 3
    fresh = error_rates.fresh_rates([pool], (n,), direction, 0.95, c.factors, DRAWS, seed=99)
    assert max(fresh) <= TARGET + SLACK, fresh
    plain = error_rates.fresh_rates([pool], (n,), direction, 0.95, (1.0, 1.0), DRAWS, seed=99)
    assert max(plain) > 0.10  # the same fresh draws, unwidened: the fix is the widening


def test_welch_pools_are_resampled_per_group():
    """Two groups, one lognormal and one normal: Welch's interval errs toward A's tail
    and the widening fixes it on fresh draws."""
    pools, n = [_pool("lognormal"), _pool("normal")], (5, 5)
    c = error_rates.rates(pools, n, "above", 0.95, DRAWS)
    assert c.plain[1] > 0.05 and c.factors[1] > 1.2, c
    fresh = error_rates.fresh_rates(pools, n, "above", 0.95, c.factors, DRAWS, seed=5)
    assert max(fresh) <= TARGET + SLACK, fresh


@pytest.mark.parametrize(
    "a, b",
    [
        ({0: 0.0, 1: 0.0, 2: 0.0}, None),  # one group: the draws are A's values
        ({0: 0.0, 1: 0.0, 2: 0.0}, {0: 0.3, 1: -0.2, 2: 0.9}),  # paired: draws are A - B
        ({0: 0.0, 1: 0.0, 2: 0.0}, {7: 0.0, 8: 0.0, 9: 0.0}),  # no common seed: Welch
    ],
    ids=["one group", "paired", "Welch"],
)
def test_the_rates_are_those_of_the_projects_own_decision(a, b):
    """On the same null draws, the vectorized rates equal the share of draws that
    judging.compare (the t interval and the rule) declares supported or contradicted."""
    h = Hypothesis("t", "t", "raw", "above", 0.2)
    rng = np.random.default_rng(3)
    residuals = [np.array([-1.0, -0.4, 1.4]), np.array([0.5, -0.2, -0.3])]
    pools = residuals[: 1 if b is None or set(a) == set(b) else 2]
    samples = error_rates.null_draws(pools, (3,) * len(pools), 400, rng)
    verdicts = []
    for k in range(400):
        x = {s: h.threshold + samples[0][k, j] for j, s in enumerate(a)}
        if b is None:
            out = compare(h, x, None, 0.95, 3)
        elif len(pools) == 1:  # paired: B's values as given, A = B + the drawn difference
            out = compare(h, {s: b[s] + x[s] for s in a}, b, 0.95, 3)
        else:
            y = {s: samples[1][k, j] for j, s in enumerate(b)}
            out = compare(h, x, y, 0.95, 3)
        verdicts.append(out.verdict)
    expected = (
        np.mean(np.array(verdicts) == SUPPORTED),
        np.mean(np.array(verdicts) == CONTRADICTED),
    )
    u = error_rates.ratios(samples, 0.95)
    assert error_rates.false_rates(u, "above", (1.0, 1.0)) == pytest.approx(expected, abs=1e-12)
    assert 0 < expected[0] + expected[1] < 0.5  # the draws do produce false verdicts


def test_smoothing_removes_the_ties_of_resampling_three_values():
    """Three residuals, two of them nearly equal: a plain bootstrap draws (a, a, b)-like
    triples, a tiny spread around a mean off zero, 1 time in 9 each way, so it reports
    false verdicts that continuous seeds would not give; the smoothed draws do not."""
    pool = [np.array([-0.5, -0.49, 0.99])]
    rng = np.random.default_rng(0)
    plain = error_rates.null_draws(pool, (3,), DRAWS, rng, smooth=False)
    smooth = error_rates.null_draws(pool, (3,), DRAWS, rng)
    plain_rates = error_rates.false_rates(error_rates.ratios(plain, 0.95), "above", (1, 1))
    smooth_rates = error_rates.false_rates(error_rates.ratios(smooth, 0.95), "above", (1, 1))
    assert max(plain_rates) > 0.1, plain_rates
    assert max(smooth_rates) < 0.05, smooth_rates


def test_the_widening_is_the_smallest_factor_that_meets_the_target():
    """Known answers: ratios 0.5, 1.5, 2, 3 of 40 draws (36 no-verdict NaNs); with 2
    allowed above it the factor is 1.5 (2 and 3 above), with 1, 2; with 3, no widening.
    The count allowed is the 5% point of Binomial(draws, target): at 4,000 draws and 2.5%
    it is 83 (P(B <= 83) <= 5% < P(B <= 84))."""
    u = np.array([0.5, 1.5, 2.0, 3.0] + [np.nan] * 36)
    assert error_rates._factor(u, 2) == 1.5
    assert error_rates._factor(u, 1) == 2.0
    assert error_rates._factor(u, 3) == 1.0
    assert error_rates.false_rates(u, "above", (1.5, 1.0)) == (2 / 40, 0.0)
    # a claim "below": the upper bound clears it (supported) where -u > the upper factor
    assert error_rates.false_rates(-u, "below", (1.0, 1.5)) == (2 / 40, 0.0)
    m = error_rates._allowed(4000, 0.025)
    assert scipy.stats.binom.cdf(m, 4000, 0.025) <= 0.05 < scipy.stats.binom.cdf(m + 1, 4000, 0.025)
    assert m == 83 and error_rates._allowed(50, 0.025) == 0


def test_skewness_is_the_adjusted_fisher_pearson_coefficient():
    x = np.array([0.0, 0.1, 0.3, 2.0, 0.2])
    assert error_rates._skewness(x) == pytest.approx(scipy.stats.skew(x, bias=False))
    assert math.isnan(error_rates._skewness(np.array([1.0, 2.0])))


def test_compare_widens_the_interval_by_the_checks_factors_and_records_both():
    """Through judging.compare: the interval is the t interval at 95% with each half
    widened by the check's factor, the verdict is read off it, and claims.json gets the
    per-seed values and the check, from which the check is rebuilt exactly."""
    h = Hypothesis("t", "t", "log", "above", 0.0)
    a = {0: 0.0, 1: 0.02, 2: 0.05, 3: 1.6, 4: 0.03}  # one long-tailed seed
    b = {0: 0.01, 1: -0.01, 2: 0.0, 3: 0.02, 4: 0.0}
    out = compare(h, a, b, 0.95, 3, draws=4000)
    t = compare(h, a, b, 0.95, 3).interval  # draws 0: the t interval itself
    assert out.check is not None and out.interval.widened == out.check.factors
    assert out.check.widened
    half = t.hi - t.estimate
    lo_k, hi_k = out.check.factors
    assert out.interval.lo == pytest.approx(t.estimate - lo_k * half)
    assert out.interval.hi == pytest.approx(t.estimate + hi_k * half)
    assert max(out.check.rates) <= 0.025
    record = json.loads(json.dumps(out.as_dict()))  # as analyze writes it (int keys -> str)
    assert record["values"]["a"]["3"] == 1.6 and record["error_check"]["draws"] == 4000
    again = error_rates.from_test(record, 4000).as_dict()
    assert again == {k: v if not isinstance(v, float) else pytest.approx(v)
                     for k, v in record["error_check"].items()}  # fmt: skip
    assert "widened" in record["sentence"] and "Error check" in record["sentence"]


def test_a_test_without_an_interval_has_no_check():
    h = Hypothesis("t", "t", "raw", "above", 0.0)
    out = compare(h, {0: 1.0, 1: 2.0}, None, 0.95, 3, draws=4000)
    assert out.check is None and out.as_dict()["error_check"] is None
    assert error_rates.from_test(out.as_dict(), 100) is None
    assert not mean_interval([1.0, 2.0]).ok


def test_a_runs_claims_file_holds_what_the_check_needs():
    """From claims.json as analyze writes it (here from synthetic runs), each primary
    test's check is rebuilt from its recorded per-seed values (7 significant digits),
    equal to the recorded one;
    on fresh draws its widened interval errs at most 2.5% per direction, up to Monte Carlo
    error: the check a real run's files allow (tests of a real run take this path)."""
    from conftest import raw_params
    from synthetic import evidence

    from bnpipe.analysis.analyze import _json_safe
    from bnpipe.analysis.claims import judge_all
    from bnpipe.params import load_params

    params = load_params(raw_params("quick"))
    claims = judge_all(evidence(np.random.default_rng(1), lrs={"vgg": (0.1,)}), params)
    document = json.loads(json.dumps(_json_safe({"claims": claims})))
    tests = [t for t in error_rates.primary_tests(document) if t["error_check"]]
    assert len(tests) >= 7  # claims 1, 3, 4, 5, 7 and claim 6's six parts, less untestable
    for test in tests:
        check = error_rates.from_test(test, params.analyze.error_draws)
        recorded = test["error_check"]  # analyze keeps 7 significant digits of every number
        for key, value in check.as_dict().items():
            assert value == pytest.approx(recorded[key], rel=1e-4, abs=1e-4), key
        pools, n = error_rates.test_pools(test)
        fresh = error_rates.fresh_rates(
            pools, n, test["direction"], test["level"], check.factors, DRAWS, seed=31
        )
        assert max(fresh) <= test["error_check"]["target"] + SLACK, (test["label"], fresh)


CPU_CLAIMS = ROOT / "docs" / "results" / "cpu" / "claims.json"  # the committed `cpu` run


def _cpu_primaries() -> list[dict]:
    """Every test that decides a claim of the committed `cpu` run (claim 6's six parts),
    with the per-seed values claims.json records; those without an interval are left out."""
    document = json.loads(CPU_CLAIMS.read_text())
    return [t for t in error_rates.primary_tests(document) if error_rates.test_pools(t)]


@pytest.mark.parametrize("test", _cpu_primaries(), ids=lambda t: t["label"])
def test_each_cpu_primary_errs_at_most_2_5_percent_per_direction_on_its_own_residuals(test):
    """The `cpu` run's real per-seed values: each primary's residuals, resampled at the
    seeds the scale uses with the statistic on the threshold, on draws from another seed
    than the ones that chose its widening. Its interval, as the run reported it (t, or
    t widened by the check), gives each false verdict at most (1 - level) / 2 of the
    time, up to the Monte Carlo error of these draws."""
    pools, n = error_rates.test_pools(test)
    check = test["error_check"]
    factors = (check["widen_lower"], check["widen_upper"])
    level = test["level"]
    draws = 200_000  # as many as analyze.error_draws: Monte Carlo se 0.035 points at 2.5%
    rates = error_rates.fresh_rates(pools, n, test["direction"], level, factors, draws, seed=2027)
    target = (1 - level) / 2
    assert max(rates) <= target + 3 * math.sqrt(target * (1 - target) / draws), rates
