"""A claim's multiverse panel (a specification curve): its primary test re-judged under
each reasonable alternative of its analysis (the lag, each layer alone, another window,
the other lr, a median instead of a mean), one row per alternative, by the same rule and
at the same level as the primary. The panel never changes the verdict; where it
disagrees, the claim says so in words beside the verdict.

A row that cannot judge (not testable, insufficient) neither agrees nor disagrees; its
`interval_verdict` still says what its interval alone would give, so that a test waiting
for training to settle shows where it stands.
"""

from __future__ import annotations

import math

from bnpipe.analysis.claims.judging import (
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    Hypothesis,
    Outcome,
    decide,
    shown,
    tidy_estimate,
)

JUDGED = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
WINDOW_WORDS = {"early": "early window", "late": "late window", "all": "whole run"}
DECLARED = "as declared (the primary)"


def relabel(h: Hypothesis, choice: str) -> Hypothesis:
    """`h` with the alternative's choice named after its label and words."""
    return Hypothesis(f"{h.label} ({choice})", f"{h.words} ({choice})", h.scale, h.direction,
                      h.threshold)  # fmt: skip


def row(label: str, o: Outcome) -> dict:
    """One panel row: the alternative, its estimate and interval on the display scale,
    its verdict and what its interval alone gives."""
    h, i = o.hypothesis, o.interval
    ok = i is not None and i.ok
    est, lo, hi = (shown(v, h.scale) for v in (i.estimate, i.lo, i.hi)) if ok else (math.nan,) * 3
    return {
        "alternative": label,
        "test": h.label,
        "verdict": o.verdict,
        "interval_verdict": decide(h, i.lo, i.hi) if ok else o.verdict,
        "estimate": tidy_estimate(est, lo, hi),
        "lo": lo,
        "hi": hi,
        "threshold": shown(h.threshold, h.scale),
        "direction": h.direction,
        "scale": h.scale,
        "seeds": o.seeds,
        "reason": o.reason,
    }


def panel(primary: Outcome, alternatives: list[tuple[str, Outcome]]) -> dict:
    """{rows, agrees, judged, differ, words}: the primary's row first, then each
    alternative's. An alternative whose per-seed values are the primary's (a median of
    two snapshots is their mean) is marked `same` and counts for nothing. `agrees`: every
    alternative that judges gives the primary's verdict; None where the primary cannot
    judge (its alternatives are then only counted) or no alternative can."""
    rows = [row(DECLARED, primary)]
    for label, o in alternatives:
        r = row(label, o)
        r["same"] = _same_values(o, primary)
        rows.append(r)
    distinct = [r for r in rows[1:] if not r["same"]]
    judged = [r for r in distinct if r["verdict"] in JUDGED]
    cannot, same = len(distinct) - len(judged), len(rows) - 1 - len(distinct)
    counts = {v: sum(r["verdict"] == v for r in judged) for v in JUDGED}
    said = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    if primary.verdict not in JUDGED:
        agrees, differ = None, []
        words = f"The primary cannot judge here (`{primary.verdict}`)"
        words += f"; of its alternatives, {len(judged)} judge: {said}" if judged else ""
    elif not judged:
        agrees, differ = None, []
        words = f"No alternative of the {len(rows) - 1} can judge"
    else:
        differ = [r for r in judged if r["verdict"] != primary.verdict]
        agrees = not differ
        if differ:
            listed = "; ".join(f"{r['alternative']}: {r['verdict']}" for r in differ)
            words = (
                f"The panel disagrees: {len(differ)} of the {len(judged)} alternatives that "
                f"judge differ from the primary's `{primary.verdict}` ({listed})"
            )
        else:
            words = (
                f"The panel agrees: all {len(judged)} alternatives that judge give "
                f"`{primary.verdict}`"
            )
    if cannot:
        words += f"; {cannot} cannot judge at this scale"
        gated = [r["interval_verdict"] for r in distinct if r["verdict"] not in JUDGED]
        gated_counts = {v: gated.count(v) for v in JUDGED if gated.count(v)}
        if gated_counts:
            listed = ", ".join(f"{n} {v}" for v, n in gated_counts.items())
            words += f" (their intervals alone: {listed})"
    if same:
        words += f"; {same} the same as the primary on these runs"
    return {
        "rows": rows,
        "agrees": agrees,
        "judged": len(judged),
        "differ": len(differ),
        "words": words + ".",
    }


def _same_values(a: Outcome, b: Outcome) -> bool:
    """The same per-seed values (on the same scale) as the primary, up to round-off (a
    median of two snapshots against their trapezoid mean): no alternative here."""

    def close(x: dict | None, y: dict | None) -> bool:  # equal up to round-off
        if x is None or y is None:
            return x is y
        return x.keys() == y.keys() and all(math.isclose(x[k], y[k], rel_tol=1e-12,
                                                         abs_tol=1e-15) for k in x)  # fmt: skip

    return (
        a.hypothesis.scale == b.hypothesis.scale
        and bool(a.values_a)
        and close(a.values_a, b.values_a)
        and close(a.values_b, b.values_b)
    )


def in_brief(panel: dict | None) -> str:
    """The panel in a table cell: 'agrees (6 of 6 judge)', 'disagrees (2 of 6)', ..."""
    if not panel:
        return "-"  # a claims.json from before panels
    n = len(panel["rows"]) - 1
    if panel["agrees"] is None:
        return f"no verdict to compare ({panel['judged']} of {n} judge)"
    if panel["agrees"]:
        return f"agrees ({panel['judged']} of {n} judge)"
    return f"disagrees ({panel['differ']} of {panel['judged']} that judge)"
