"""Claim 6: other normalizations (l1, l2, l-infinity) smooth the landscape as well
(Figs. 5, 6, 12, 13).

Primary, for each of l1, l2, linf on VGG lr 0.1: effective beta within a factor
ratio_margin of BN's or lower, and final test accuracy not lower than BN's by more than
margin_points. A variant is (in this order) not testable or insufficient if a test is,
contradicted if either test is, supported if both are, inconclusive otherwise; the claim
is supported only if all three variants are, contradicted if any is. The two verdicts
need two corrections:
  supported      an intersection-union test: a variant's p is the larger of its two
                 tests', the three variants are one family, Holm-adjusted, and each
                 variant's tests are judged at its Holm level.
  contradicted   a union: any of the six tests contradicted contradicts the claim, so each
                 is judged `contradicted` only by Holm over the six, one-sided at
                 (1 - confidence) / 2: in order of their one-sided p, test j (0-based) is
                 contradicted if its interval at 1 - (1 - confidence) / (6 - j) lies
                 wholly on the wrong side, and the first that is not stops the others.
                 Judged each at the plain level, six tests at their threshold gave a
                 false `contradicted` 4.7% of the time; this keeps it at or below 2.5%
                 (tests/test_claims.py).
"""

from __future__ import annotations

import math

from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import (
    CONTRADICTED,
    INCONCLUSIVE,
    INSUFFICIENT,
    NOT_TESTABLE,
    SUPPORTED,
    Hypothesis,
    Outcome,
    decide,
    interval_at,
    is_tested,
    judge_at,
    p_contradicted,
)
from bnpipe.analysis.stats import holm

NUMBER = 6
TITLE = "Other normalizations (l1, l2, l-infinity) smooth the landscape as well"
PAPER = (
    "l_p normalizations match or beat BN in training and smoothness on VGG (Figs. 5, 6); "
    "l1 beats BN on the DLN (Figs. 12, 13)."
)
LR = 0.1
VARIANTS = ("l1", "l2", "linf")


def variant_tests(c: Context, p: str, window: str = "all", summary: str = "mean") -> list[Outcome]:
    """A variant's two tests: beta over the window's trained snapshots (`summary`:
    Context.curve), and final test accuracy."""
    lp, bn = ("vgg", p, LR), ("vgg", "batchnorm", LR)
    snapshots = "all trained snapshots" if window == "all" else f"the {window} window"
    how = "" if summary == "mean" else f", {summary} over snapshots"
    choice = "" if (window, summary) == ("all", "mean") else f" ({snapshots}{how})"
    beta = Hypothesis(
        f"VGG lr {LR:g}: effective beta, {p} / BN{choice}",
        f"{p}'s effective beta-smoothness over BN's (VGG lr {LR:g}, {snapshots}{how})",
        "log",
        "below",
        math.log(c.a.ratio_margin),
    )
    acc = Hypothesis(
        f"VGG lr {LR:g}: final test accuracy, {p} - BN",
        f"{p}'s final test accuracy minus BN's (VGG lr {LR:g})",
        "points",
        "above",
        -c.a.margin_points,
    )
    return [
        c.curve(beta, lp, bn, "landscape", "beta", (0,), window, summary=summary),
        c.scalar(acc, lp, bn, "final_test_acc", settled=True),  # the end of training
    ]


def combine(parts: list[Outcome]) -> str:
    """One variant, in this order: a test not testable, then one insufficient, gives its
    verdict; either contradicted -> contradicted; both supported -> supported; else
    inconclusive."""
    verdicts = [o.verdict for o in parts]
    for v in (NOT_TESTABLE, INSUFFICIENT):
        if v in verdicts:
            return v
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def judge_parts(per_variant: dict[str, list[Outcome]], confidence: float) -> dict[str, str]:
    """Each variant's verdict from its two tests, judged as the module says (in place:
    each test's interval is re-shown at the level that decides it)."""
    alpha = 1 - confidence
    # supported: Holm over the three variants of the intersection-union p (the larger of
    # a variant's two); a variant with an untested part has no p (NaN: sorted last)
    ps = [
        max(o.p for o in parts) if all(is_tested(o) for o in parts) else math.nan
        for parts in per_variant.values()
    ]
    _, levels = holm(ps, alpha)
    for parts, level in zip(per_variant.values(), levels, strict=True):
        for o in parts:
            if is_tested(o):
                judge_at(o, level)
    guard_contradicted([o for parts in per_variant.values() for o in parts], alpha)
    return {p: combine(parts) for p, parts in per_variant.items()}


def guard_contradicted(tests: list[Outcome], alpha: float) -> None:
    """`contradicted` only by Holm's step-down over `tests`, one-sided at alpha / 2 (the
    module docstring): a test contradicted at its step is shown at that step's level; a
    test shown `contradicted` at its own level but not at its step becomes inconclusive."""
    tested = sorted((o for o in tests if is_tested(o)), key=p_contradicted)
    stopped_at = None  # the level of the first test that is not contradicted at its step
    for j, o in enumerate(tested):
        if stopped_at is None:
            level = 1 - alpha / (len(tested) - j)
            interval, check = interval_at(o, level)
            if decide(o.hypothesis, interval.lo, interval.hi) == CONTRADICTED:
                o.interval, o.check, o.level, o.verdict = interval, check, level, CONTRADICTED
                continue
            stopped_at = level
        if o.verdict == CONTRADICTED:
            o.verdict = INCONCLUSIVE
            o.reason = (
                f"wholly on the wrong side at {o.level:.1%}, but not at {stopped_at:.2%}, the "
                f"level Holm's step-down over the {len(tested)} tests gives it for "
                "`contradicted`"
            )


def judge(c: Context) -> tuple[Outcome, list[Outcome]]:
    primary = _primary(c)
    secondaries = []
    for lr in c.ev.lrs("dln"):
        loss = Hypothesis(
            f"DLN lr {lr:g}: final training loss, l1 / BN",
            f"l1's final training loss over BN's (DLN lr {lr:g})",
            "log",
            "below",
            0.0,
        )
        secondaries.append(
            c.scalar(
                loss, ("dln", "l1", lr), ("dln", "batchnorm", lr), "final_train_loss", log=True
            )
        )
    return primary, secondaries


def multiverse(c: Context) -> list[tuple[str, Outcome]]:
    """Beta over the early and the late window, and its median over snapshots, each
    variant's six tests judged again by the same rule."""
    rows = [(f"beta over the {w} window", _primary(c, w)) for w in ("early", "late")]
    rows.append(("beta's median over snapshots", _primary(c, summary="median")))
    return rows


def _primary(c: Context, window: str = "all", summary: str = "mean") -> Outcome:
    """The compound primary (module docstring), beta read over `window` by `summary`."""
    per_variant = {p: variant_tests(c, p, window, summary) for p in VARIANTS}
    verdicts = judge_parts(per_variant, c.a.confidence)
    reasons = []
    for parts in per_variant.values():
        for o in parts:  # each sentence once
            reasons += [r for r in o.reason.split("; ") if r and r not in reasons]
    primary = Outcome(
        Hypothesis(
            f"VGG lr {LR:g}: l1, l2 and linf each smooth like BN (beta within a factor "
            f"{c.a.ratio_margin:g}) and generalize like BN (not "
            f"{c.a.margin_points * 100:g} points lower)",
            "each l_p normalization against BN (supported: Holm over l1, l2, linf; "
            "contradicted: Holm over the six tests)",
            "raw",
            "above",
            0.0,
        ),
        _all_three(list(verdicts.values())),
        "; ".join(reasons),
        notes=[f"{p}: {v}" for p, v in verdicts.items()] + _checks_note(per_variant),
        parts=[o for parts in per_variant.values() for o in parts],
    )
    return primary


def _checks_note(per_variant: dict[str, list[Outcome]]) -> list[str]:
    """One line on the six tests' error checks (each test's own sentence has its own)."""
    checks = [o.check for parts in per_variant.values() for o in parts if o.check]
    if not checks:
        return []
    widened = [max(c.factors) for c in checks if c.widened]
    return [
        f"error checks of the {len(checks)} tests with an interval: "
        + (f"{len(widened)} widened, by at most x{max(widened):.2f}" if widened else "none widened")
    ]


def _all_three(verdicts: list[str]) -> str:
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    if all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    for v in (NOT_TESTABLE, INSUFFICIENT):
        if v in verdicts:
            return v
    return INCONCLUSIVE
