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
    """{rows, agrees, words}: the primary's row first, then each alternative's. `agrees`:
    every alternative that can judge gives the primary's verdict (None: none can)."""
    rows = [row(DECLARED, primary)] + [row(label, o) for label, o in alternatives]
    judged = [r for r in rows[1:] if r["verdict"] in JUDGED]
    differ = [r for r in judged if r["verdict"] != primary.verdict]
    cannot = len(rows) - 1 - len(judged)
    if not judged:
        agrees = None
        words = f"No alternative of the {len(rows) - 1} can judge"
    elif differ:
        agrees = False
        listed = "; ".join(f"{r['alternative']}: {r['verdict']}" for r in differ)
        words = (
            f"The panel disagrees: {len(differ)} of the {len(judged)} alternatives that "
            f"judge differ from the primary's `{primary.verdict}` ({listed})"
        )
    else:
        agrees = True
        words = (
            f"The panel agrees: all {len(judged)} alternatives that judge give `{primary.verdict}`"
        )
    if cannot:
        words += f"; {cannot} cannot judge at this scale"
    by_interval = {r["interval_verdict"] for r in rows if r["verdict"] not in JUDGED}
    if primary.verdict not in JUDGED and by_interval & set(JUDGED):
        counts = {v: sum(r["interval_verdict"] == v for r in rows) for v in JUDGED}
        said = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        words += f" (their intervals alone, the primary's included: {said})"
    return {
        "rows": rows,
        "agrees": agrees,
        "judged": len(judged),
        "differ": len(differ),
        "words": words + ".",
    }


def in_brief(panel: dict | None) -> str:
    """The panel in a table cell: 'agrees (6 of 6 judge)', 'disagrees (2 of 6)', ..."""
    if not panel:
        return "-"  # a claims.json from before panels
    n = len(panel["rows"]) - 1
    if panel["agrees"] is None:
        return f"cannot judge (0 of {n})"
    if panel["agrees"]:
        return f"agrees ({panel['judged']} of {n} judge)"
    return f"disagrees ({panel['differ']} of the {panel['judged']} of {n} that judge)"
