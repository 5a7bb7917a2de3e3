"""The seven claims of the paper, one module each, registered in CLAIMS.

A claim module holds: NUMBER, TITLE, PAPER (the paper's statement), `judge(context)` ->
(primary Outcome, secondary Outcomes), `multiverse(context)` -> the primary re-judged
under each reasonable alternative of its analysis, as (label, Outcome) rows (its panel:
bnpipe.analysis.claims.multiverse), and optionally `numbers(context)` -> extra numbers
shown beside the tests (never part of the verdict). `judge_all` applies the verdict rule
of bnpipe.analysis.claims.judging to each. Its figures: bnpipe.report.claim_figures.
"""

from __future__ import annotations

from bnpipe.analysis.claims import (
    claim1,
    claim2,
    claim3,
    claim4,
    claim5,
    claim6,
    claim7,
    multiverse,
)
from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import CLAIM_RULE, RULES, adjust_secondaries
from bnpipe.analysis.quantities import Evidence
from bnpipe.params import Params

CLAIMS = [claim1, claim2, claim3, claim4, claim5, claim6, claim7]


def judge_claim(module, context: Context) -> dict:
    primary, secondaries = module.judge(context)
    adjust_secondaries(secondaries, context.a.confidence)
    numbers = module.numbers(context) if hasattr(module, "numbers") else []
    panel = multiverse.panel(primary, module.multiverse(context))
    return {
        "claim": module.NUMBER,
        "title": module.TITLE,
        "paper": module.PAPER,
        "verdict": primary.verdict,
        "reason": primary.reason,
        "primary": primary.as_dict(),
        "secondaries": [o.as_dict() for o in secondaries],
        "numbers": numbers,
        "multiverse": panel,
    }


def judge_all(
    evidence: Evidence, params: Params, long_arms: list[dict] = (), width_checks: list[dict] = ()
) -> list[dict]:
    """Every claim judged; `long_arms`: the results of `make long-arm`, cited where a test
    waits for training to settle; `width_checks`: the runs of `make width-check`, rows of
    runs_table with their width (analyze.width_runs; claim 3's panel)."""
    context = Context(evidence, params, long_arms, width_checks)
    return [judge_claim(module, context) for module in CLAIMS]


__all__ = ["CLAIMS", "CLAIM_RULE", "RULES", "judge_all", "judge_claim"]
