"""How one test becomes a verdict, and how a claim's tests become the claim's verdict.

A test is a hypothesis about a statistic S of per-seed values: a difference A - B
(paired by seed where it can be), a log-ratio (the difference of logs), or one group's
mean. Its interval is a t interval over seeds (bnpipe.analysis.stats). The rule, given the
hypothesis "S above theta" (or "below", mirrored):
  supported      the whole interval lies above theta
  contradicted   the whole interval lies below theta
  inconclusive   the interval contains theta
  insufficient   no interval: fewer than `min_seeds` seeds with a value, or no spread
  not testable at this scale   the grid lacks a group, a group never left chance, or no
                 snapshot lies in the window after both networks did (the reason says)
Each claim has one primary test, fixed in its module before any data; it alone decides
the claim's verdict. Secondary tests are shown under it with Holm-adjusted intervals
(the family: the claim's secondaries with an interval) and cannot change the verdict.

Every interval is checked on the shape of its own per-seed values (bnpipe.analysis.error_rates):
its residuals, resampled at its seeds with the statistic set on the threshold, give its
false `supported` and `contradicted` rates; a bound whose rate may exceed (1 - level) / 2
is widened (a bootstrap-t bound, never narrower than t) before the rule above is applied.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scipy.stats import t as student_t

from bnpipe.analysis import error_rates, variance_split
from bnpipe.analysis.error_rates import Check
from bnpipe.analysis.stats import Interval, holm, seeds_for_power, statistic_interval

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
NOT_TESTABLE, INSUFFICIENT = "not testable at this scale", "insufficient"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE, INSUFFICIENT)
# one letter per verdict, for `dvc exp show` (metrics.json c1..c7; README "DVC")
VERDICT_CODES = {
    SUPPORTED: "S",
    CONTRADICTED: "C",
    INCONCLUSIVE: "I",
    NOT_TESTABLE: "N",
    INSUFFICIENT: "F",  # too few seeds with a value
}

RULES = {
    SUPPORTED: "the whole interval of the primary statistic lies on the claimed side of "
    "its threshold",
    CONTRADICTED: "the whole interval lies on the other side",
    INCONCLUSIVE: "the interval contains the threshold",
    INSUFFICIENT: "no interval: fewer than analyze.min_seeds seeds with a value, or no "
    "spread in the per-seed values",
    NOT_TESTABLE: "the grid lacks a group the test needs, a compared network never left "
    "chance, no snapshot lies in the test's window after both networks left chance, or "
    "(tests at the end of training) training has not settled: the t interval over seeds "
    "of the late rise in training accuracy (a gap's: A's rise minus B's, paired by seed; "
    "one group's own) does not lie within plus or minus analyze.plateau_points",
}
CLAIM_RULE = (
    "Each claim's verdict is that of its primary test, declared in code before the data it "
    "judges; docs/protocol.md records each change of a primary or of the rule, when and why "
    "(claim 2 moved from channels to coordinates after its channel result, before any "
    "coordinate result). "
    "Secondary tests are shown with Holm-adjusted intervals over the claim's secondaries "
    "and cannot change the verdict. Every interval is checked on its own per-seed "
    "residuals, resampled at its seeds with the statistic on the threshold (smoothed "
    "bootstrap, analyze.error_draws draws): a bound that may give a false verdict more "
    "often than (1 - level) / 2 of the time is widened until it does not, with 95% "
    "confidence over the draws (a bootstrap-t bound, never narrower than t)."
)
# How a test's interval is made; {confidence} and {min_seeds} are the scale's. The report
# shows this, CLAIM_RULE and RULES: the rule is written here and nowhere else in code.
METHOD = (
    "The seed is the unit: each run gives one number per test (a final accuracy, or a "
    "probe curve averaged over the steps of a window, using only snapshots taken after "
    "both compared networks left chance). Intervals are {confidence:.0%} Student-t "
    "intervals over seeds (a secondary's at its Holm-adjusted level): paired by seed where "
    "both groups have the seed (same data order and initial draw), Welch otherwise; a "
    "bootstrap over so few seeds under-covers "
    "(tests/test_stats.py). Ratios are tested as differences of logs. Each interval is "
    "also checked on the shape of its own per-seed values (the rule below), and the test's "
    "sentence gives the false verdict rates and any widening. Three residuals "
    "cannot reveal a long tail they did not sample: the error check guards against the "
    "shape the seeds show, not against any shape. Where a test is inconclusive, its "
    "sentence gives the seeds per group that reach 80% power if the true effect equals the "
    "estimate, averaging the power over the uncertainty of the spread (Colas et al. 2018). "
    "A group needs at least {min_seeds} seeds with a value. A diverged run counts at chance "
    "accuracy (or its initial loss), never as missing; a landscape point whose loss "
    "overflowed counts as the roughest value seen. The correlation of ICS with performance "
    "resamples dozens of runs: there a stratified bootstrap is used."
)
# scale of a statistic -> the unit words after it (judging.shown converts the numbers)
SCALES = {
    "points": "percentage points",
    "log": "ratio (tested as a difference of logs)",
    "raw": "",
}


@dataclass(frozen=True)
class Hypothesis:
    label: str  # what is compared, e.g. "VGG lr 0.1: final test accuracy, BN - standard"
    words: str  # the statistic in words, e.g. "BN's final test accuracy minus standard's"
    scale: str  # a key of SCALES: how the statistic and its threshold are shown
    direction: str  # "above" or "below": the claimed side of the threshold
    threshold: float  # on the statistic's scale (logs for "log")


@dataclass
class Outcome:
    hypothesis: Hypothesis
    verdict: str
    reason: str = ""
    interval: Interval | None = None
    level: float = 0.95  # confidence of the interval shown (Holm for secondaries)
    a_mean: float = math.nan
    b_mean: float = math.nan
    seeds: str = ""  # e.g. "5 pairs", "3 / 4 seeds"
    p: float = math.nan  # two-sided, of S = threshold
    p_holm: float = math.nan
    notes: list[str] = field(default_factory=list)
    parts: list[Outcome] = field(default_factory=list)  # a compound test's own tests
    values_a: dict[int, float] = field(default_factory=dict)  # per seed, on the test's scale
    values_b: dict[int, float] | None = None  # None: a one-group test
    min_seeds: int = 2  # seeds (pairs) an interval needs
    draws: int = 0  # of the error check (0: none)
    check: Check | None = None  # the error check of the interval shown
    variance: dict | None = None  # a curve test's variance split (analysis.variance_split)

    def as_dict(self) -> dict:
        i = self.interval
        return {
            **asdict(self.hypothesis),
            "verdict": self.verdict,
            "reason": self.reason,
            "estimate": i.estimate if i else math.nan,
            "lo": i.lo if i else math.nan,
            "hi": i.hi if i else math.nan,
            "method": i.method if i else "none",
            "n": i.n if i else 0,
            "level": self.level,
            "a_mean": self.a_mean,
            "b_mean": self.b_mean,
            "seeds": self.seeds,
            "p": self.p,
            "p_holm": self.p_holm,
            "notes": self.notes,
            "sentence": sentence(self),
            "parts": [o.as_dict() for o in self.parts],
            "values": {"a": self.values_a, "b": self.values_b},  # seed -> value
            "error_check": self.check.as_dict() if self.check else None,
            "variance": self.variance,
        }


def decide(h: Hypothesis, lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INSUFFICIENT
    above, below = lo > h.threshold, hi < h.threshold
    if h.direction == "above":
        return SUPPORTED if above else CONTRADICTED if below else INCONCLUSIVE
    return SUPPORTED if below else CONTRADICTED if above else INCONCLUSIVE


def untestable(h: Hypothesis, reason: str) -> Outcome:
    return Outcome(h, NOT_TESTABLE, reason)


def compare(
    h: Hypothesis,
    a: dict[int, float],
    b: dict[int, float] | None,
    confidence: float,
    min_seeds: int,
    notes: list[str] | None = None,
    draws: int = 0,
) -> Outcome:
    """The outcome of `h` from per-seed values of A and B (B None: A's mean alone), its
    interval checked and if need be widened on `draws` resamples of its residuals
    (bnpipe.analysis.error_rates; 0: the t interval as it is)."""
    out = Outcome(
        h,
        INSUFFICIENT,
        level=confidence,
        a_mean=_mean(a),
        b_mean=_mean(b) if b is not None else math.nan,
        notes=list(notes or []),
        values_a=dict(a),
        values_b=None if b is None else dict(b),
        min_seeds=min_seeds,
        draws=draws,
    )
    out.interval, out.check = interval_at(out, confidence)
    i = out.interval
    if b is None:
        out.seeds = f"{i.n} seeds"
    else:
        out.seeds = f"{i.n} pairs" if i.method == "paired t" else f"{len(a)} / {len(b)} seeds"
    if not i.ok:  # say which runs are missing or stuck, beside the count
        out.reason = "; ".join([i.reason, *out.notes])
        return out
    out.verdict = decide(h, i.lo, i.hi)
    out.p = i.p_value(h.threshold)  # of the t statistic (orders Holm's family)
    return out


def interval_at(o: Outcome, level: float) -> tuple[Interval, Check | None]:
    """The interval of `o`'s per-seed values at `level`, widened where its error check
    needs it, and that check (None: no interval, or no draws)."""
    t = statistic_interval(o.values_a, o.values_b, level, o.min_seeds)
    if not t.ok or o.draws <= 0:
        return t, None
    c = error_rates.check(t, o.values_a, o.values_b, o.hypothesis.direction, level, o.draws)
    return error_rates.widen(t, c.factors, level), c


def p_contradicted(o: Outcome) -> float:
    """One-sided p of the t statistic for the side that contradicts `o`'s hypothesis
    (small: the data lie well on the wrong side of the threshold); NaN without an interval."""
    i, h = o.interval, o.hypothesis
    if i is None or not i.ok or not i.se > 0:
        return math.nan
    t = (i.estimate - h.threshold) / i.se
    return float(student_t.cdf(t, i.df) if h.direction == "above" else student_t.sf(t, i.df))


def is_tested(o: Outcome) -> bool:
    """Has an interval that judges the claim (not insufficient, not untestable)."""
    return o.interval is not None and o.interval.ok and o.verdict != NOT_TESTABLE


def judge_at(o: Outcome, level: float) -> None:
    """Show a tested outcome's interval at `level` (Holm), checked again at that level,
    and decide again from it."""
    (o.interval, o.check), o.level = interval_at(o, level), level
    o.verdict = decide(o.hypothesis, o.interval.lo, o.interval.hi)


def adjust_secondaries(outcomes: list[Outcome], confidence: float) -> None:
    """Holm over the secondaries that have an interval: each is re-shown at its level."""
    tested = [o for o in outcomes if is_tested(o)]
    if not tested:
        return
    adjusted, levels = holm([o.p for o in tested], 1 - confidence)
    for o, p_holm, level in zip(tested, adjusted, levels, strict=True):
        judge_at(o, level)
        o.p_holm = p_holm


def _mean(values: dict[int, float] | None) -> float:
    v = [x for x in (values or {}).values() if math.isfinite(x)]
    return sum(v) / len(v) if v else math.nan


def shown(value: float, scale: str) -> float:
    """A statistic or bound on its display scale: points x100, logs as ratios."""
    if not math.isfinite(value):
        return value
    return value * 100 if scale == "points" else math.exp(value) if scale == "log" else value


def tidy_estimate(est: float, lo: float, hi: float) -> float:
    """0 where a mean of differences that cancel left float noise (4e-15 inside an
    interval of +-2.6), else `est` unchanged."""
    if math.isfinite(est) and abs(est) < 1e-9 * max(abs(lo), abs(hi)):
        return 0.0
    return est


def sentence(o: Outcome) -> str:
    """The test in words: 'BN's ... minus standard's: 4.2 [2.1, 6.3] percentage points,
    paired over 5 seeds (95% interval); claimed above 0.'"""
    h, i = o.hypothesis, o.interval
    if o.parts:
        why = f" Why: {o.reason}." if o.reason and o.verdict != SUPPORTED else ""
        return f"{h.words}: {o.verdict} ({'; '.join(o.notes)}).{why}"
    side = f"claimed {h.direction} {shown(h.threshold, h.scale):.3g}"
    if i is None or not i.ok:
        return f"{h.words}: {o.verdict} ({o.reason}); {side}."
    unit = SCALES[h.scale]
    est, lo, hi = (shown(v, h.scale) for v in (i.estimate, i.lo, i.hi))
    est = tidy_estimate(est, lo, hi)
    how = {"paired t": "paired by seed", "Welch t": "Welch, unpaired", "t": "t"}.get(
        i.method, i.method
    )
    text = (
        f"{h.words}: {est:.3g} [{lo:.3g}, {hi:.3g}]{' ' + unit if unit else ''}, "
        f"{how} over {o.seeds} ({o.level:.1%} interval); {side}."
    )
    if o.verdict == NOT_TESTABLE:  # measured, but not a test of the claim at this scale
        text += f" Not testable at this scale: {o.reason}."
    if o.verdict == INCONCLUSIVE:  # what the budget lacks, in seeds
        text += " " + power_sentence(i, h.threshold, o.level)
    if o.check is not None:
        text += " " + error_rates.describe(o.check, o.seeds)
    if o.variance is not None:
        text += " " + variance_split.describe(o.variance)
    return text


def power_sentence(i: Interval, threshold: float, level: float, most: int = 1000) -> str:
    """The seeds that give 80% power if the true effect equals the estimate, allowing for
    the uncertainty of the spread (stats.seeds_for_power), as exactly that."""
    n = seeds_for_power(i, threshold, level, 0.8, most)
    per = {"paired t": " per group (paired by seed)", "Welch t": " per group"}.get(i.method, "")
    how = (
        f"allowing for the uncertainty of the spread, known from {i.df:.3g} degrees of "
        f"freedom; a t test at {level:.1%}"
    )
    if n is None:
        return (
            f"Not even {most:,} seeds{per} give 80% power if the true effect equals this "
            f"estimate ({how})."
        )
    return f"{n} seeds{per} give 80% power if the true effect equals this estimate ({how})."
