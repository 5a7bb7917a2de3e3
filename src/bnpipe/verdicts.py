"""The rule that turns an interval into a verdict. The report prints RULES verbatim.

A test compares a quantity of group A (model, variant, lr) with group B, or with a fixed
bound. `greater`/`less` read the interval of the difference A - B; the margin relations
read the interval of the relative difference (A - B) / |B|, so that "not lower" and
"about as good" have a stated tolerance; `below` reads the interval of A itself.
A claim is the conjunction of its tests: supported only if every test is, contradicted if
any test is, inconclusive otherwise (including a test without an interval).
"""

from __future__ import annotations

import math

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
SCORE = {SUPPORTED: 1, INCONCLUSIVE: 0, CONTRADICTED: -1}  # for dvc exp show

RULES = {
    "greater": "A > B: supported if the interval of A - B lies above 0, contradicted if it "
    "lies below 0",
    "less": "A < B: supported if the interval of A - B lies below 0, contradicted if it lies "
    "above 0",
    "not_less": "A is not lower than B: supported if the interval of (A - B)/|B| lies above "
    "-margin, contradicted if it lies below -margin",
    "not_greater": "A is not higher than B: supported if the interval of (A - B)/|B| lies "
    "below +margin, contradicted if it lies above +margin",
    "close": "A is about B: supported if the interval of (A - B)/|B| lies within "
    "(-margin, +margin), contradicted if it lies wholly outside",
    "below": "A < bound: supported if the interval of A lies below the bound, contradicted "
    "if it lies above it",
}
RELATIVE = {"not_less", "not_greater", "close"}  # relations read on (A - B) / |B|
CLAIM_RULE = (
    "A claim is supported if every one of its tests is supported, contradicted if any test "
    "is contradicted, and inconclusive otherwise. A test whose interval is undefined (fewer "
    "than two seeds in a group) is inconclusive."
)


def verdict(relation: str, lo: float, hi: float, margin: float = 0.0, bound: float = 0.0) -> str:
    """The verdict of one test from the interval [lo, hi] of its statistic (see RULES)."""
    if relation not in RULES:
        raise ValueError(f"unknown relation {relation!r}; known: {sorted(RULES)}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE
    above = {
        "greater": (0.0, 0.0),  # (supported above this, contradicted below that)
        "not_less": (-margin, -margin),
    }
    below = {"less": (0.0, 0.0), "not_greater": (margin, margin), "below": (bound, bound)}
    if relation in above:
        yes, no = above[relation]
        return SUPPORTED if lo > yes else CONTRADICTED if hi < no else INCONCLUSIVE
    if relation in below:
        yes, no = below[relation]
        return SUPPORTED if hi < yes else CONTRADICTED if lo > no else INCONCLUSIVE
    # close
    if -margin < lo and hi < margin:
        return SUPPORTED
    return CONTRADICTED if lo > margin or hi < -margin else INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """A claim's verdict from its tests' (CLAIM_RULE); no test at all is inconclusive."""
    if verdicts and all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return CONTRADICTED if CONTRADICTED in verdicts else INCONCLUSIVE
