"""When has training settled? The rule every test at the end of training uses, on one
run's per-step training accuracy (train mode, on each step's batch).

A run of T steps has settled when its training accuracy over the last `fraction` of its
steps moved by less than `limit` (a fraction of 1: 0.01 = 1 point) against the
`fraction` before: |late_rise(acc, T)| < limit. This is one run's point estimate; the
claims' rule asks it of a t interval over seeds (and of a gap's rise for two groups),
so a long arm's answer is an optimistic estimate of what the rule needs
(bnpipe.analysis.claims.context). With constant lr a run's first T steps are the same
whatever its length, so one long run answers "after how many steps would a run of T
steps have settled?" for every T at once (`settle_step`): the long arm of a scale.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


def late_rise(acc: pd.Series, steps: int, fraction: float) -> float:
    """Mean of `acc` (index: step, 0-based) over steps [(1 - f) T, T) minus its mean over
    [(1 - 2f) T, (1 - f) T), for a run of T = `steps` steps; NaN if either span is empty."""
    at = acc.index.to_numpy()
    tail = acc[(at >= (1 - fraction) * steps) & (at < steps)]
    before = acc[(at >= (1 - 2 * fraction) * steps) & (at < (1 - fraction) * steps)]
    if tail.empty or before.empty:
        return math.nan
    return float(tail.mean() - before.mean())


@dataclass(frozen=True)
class Settling:
    """Rises of a run of T steps, for every T of `candidates`, and the answer."""

    fraction: float
    limit: float
    candidates: list[int]  # run lengths T tried, ascending
    rises: list[float]  # late_rise at each T
    first_below: int | None  # the first T whose rise is below limit
    settled_from: int | None  # the first T from which every rise measured stays below

    def as_dict(self) -> dict:
        return asdict(self)


def settle_step(acc: pd.Series, candidates: list[int], fraction: float, limit: float) -> Settling:
    """The run lengths T (of `candidates`, each at most the steps recorded in `acc`) after
    which a run of T steps counts as settled: |late rise| < `limit`. `settled_from` asks
    more than `first_below`: every longer candidate must stay below too, so a noisy dip
    does not count."""
    recorded = int(acc.index.max()) + 1 if len(acc) else 0
    ts = sorted(t for t in candidates if 0 < t <= recorded)
    rises = [late_rise(acc, t, fraction) for t in ts]
    below = [math.isfinite(r) and abs(r) < limit for r in rises]
    first = next((t for t, b in zip(ts, below, strict=True) if b), None)
    settled = None
    for i in range(len(ts) - 1, -1, -1):  # the start of the last unbroken run of `below`
        if not below[i]:
            break
        settled = ts[i]
    return Settling(fraction, limit, ts, rises, first, settled)


def candidate_lengths(steps: int, every: int) -> list[int]:
    """Run lengths tried: every `every` steps up to `steps` (a multiple of 10 keeps the
    tenths whole)."""
    return list(np.arange(every, steps + 1, every, dtype=int).tolist())
