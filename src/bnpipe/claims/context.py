"""What a claim module needs to state its tests: the evidence, the params, and builders
that turn (groups, quantity, hypothesis) into an Outcome, saying why where they cannot."""

from __future__ import annotations

import math

from bnpipe.claims.judging import NOT_TESTABLE, Hypothesis, Outcome, compare, untestable
from bnpipe.params import Params
from bnpipe.quantities import Evidence, Group, group_name


class Context:
    def __init__(self, evidence: Evidence, params: Params):
        self.ev, self.params, self.a = evidence, params, params.analyze

    def _groups(self, h: Hypothesis, *wanted: tuple[str, str, float]):
        found = [self.ev.find(*w) for w in wanted]
        missing = [group_name(w) for w, g in zip(wanted, found, strict=True) if g is None]
        return found, (untestable(h, f"the grid has no {', '.join(missing)}") if missing else None)

    def scalar(
        self, h: Hypothesis, a: tuple[str, str, float], b: tuple[str, str, float] | None,
        quantity: str, log: bool = False, settled: bool = False,
    ) -> Outcome:  # fmt: skip
        """A per-run scalar (quantities.run_quantities) of A against B (or A alone);
        `settled`: a claim about the end of training, judged only once the gap between A
        and B (A alone: A's own accuracy) has stopped moving, else not testable, with the
        numbers still shown."""
        (ga, *gb), missing = self._groups(h, a, *([b] if b else []))
        if missing:
            return missing
        va = _maybe_log(self.ev.scalar(ga, quantity), log)
        vb = _maybe_log(self.ev.scalar(gb[0], quantity), log) if b else None
        out = compare(h, va, vb, self.a.confidence, self.a.min_seeds, self._notes(ga, *gb))
        return self._settle(out, ga, *gb) if settled else out

    def curve(
        self, h: Hypothesis, a: tuple[str, str, float], b: tuple[str, str, float],
        probe: str, metric: str, layers: tuple[int, ...], window: str, log: bool = True,
        settled: bool = False,
    ) -> Outcome:  # fmt: skip
        """A probe curve averaged over a window's trained snapshots and `layers`, per seed,
        A against B; with a == b, A's own mean (a one-group test)."""
        (ga, gb), missing = self._groups(h, a, b)
        if missing:
            return missing
        bounds = tuple(self.a.windows[window])
        pairs = self.ev.window_pairs(ga, gb, probe, metric, layers, bounds, log)
        if pairs.untestable:
            return untestable(h, pairs.untestable)
        one_group = ga == gb
        out = compare(
            h, pairs.a, None if one_group else pairs.b, self.a.confidence, self.a.min_seeds,
            self._notes(ga, gb),
        )  # fmt: skip
        return self._settle(out, ga, gb) if settled else out

    def _settle(self, out: Outcome, a: Group, b: Group | None = None) -> Outcome:
        """Not testable while the compared gap (one group: its accuracy) still moves by
        more than `plateau_points` over the last `final_fraction` of the steps; the
        interval stays shown."""
        limit = self.a.plateau_points
        if b is None or b == a:
            reason = self.ev.still_learning(a, limit)
        else:
            reason = self.ev.gap_moving(a, b, limit)
            if not reason:  # settled gap: judged as the protocol says, with a note if need be
                learning = [self.ev.still_learning(g, limit) for g in (a, b)]
                if all(learning):
                    out.notes.append(
                        "both groups are still learning (" + "; ".join(learning) + "): the "
                        "gap is settled, but it compares them before training has converged"
                    )
        if reason and out.verdict != NOT_TESTABLE:
            out.verdict, out.reason = NOT_TESTABLE, reason
        return out

    def _notes(self, *groups: Group) -> list[str]:
        """Diverged runs and runs that never left chance: counted at their worst."""
        notes = []
        for g in dict.fromkeys(groups):
            runs, name = self.ev.records(g), group_name(g)
            diverged = sum(r["status"] == "diverged" for r in runs)
            if diverged:
                notes.append(f"{name}: {diverged} of {len(runs)} runs diverged (counted at chance)")
            stuck = sum(not math.isfinite(r["trained_step"]) for r in runs)
            if stuck and g[0] == "vgg":
                notes.append(f"{name}: {stuck} of {len(runs)} runs never left chance")
        return notes


def _maybe_log(values: dict[int, float], log: bool) -> dict[int, float]:
    if not log:
        return values
    return {s: math.log(v) if v > 0 else -math.inf for s, v in values.items()}
