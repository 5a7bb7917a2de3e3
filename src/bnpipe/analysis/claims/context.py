"""What a claim module needs to state its tests: the evidence, the params, and builders
that turn (groups, quantity, hypothesis) into an Outcome, saying why where they cannot."""

from __future__ import annotations

import math

from bnpipe import variants
from bnpipe.analysis import variance_split
from bnpipe.analysis.claims.judging import NOT_TESTABLE, Hypothesis, Outcome, compare, untestable
from bnpipe.analysis.quantities import Evidence, Group, group_name
from bnpipe.analysis.stats import Interval, statistic_interval
from bnpipe.params import Params


class Context:
    def __init__(
        self, evidence: Evidence, params: Params, long_arms: list[dict] = (),
        width_checks: list[dict] = (),
    ):  # fmt: skip
        self.ev, self.params, self.a = evidence, params, params.analyze
        self.long_arms = {arm["run"]: arm for arm in long_arms}  # run id -> its result
        self.width_checks = list(width_checks)  # runs_table rows + width (make width-check)

    def widths(self) -> list[float]:
        """The widths the width check trained at, in order."""
        return sorted({w["width"] for w in self.width_checks})

    def at_width(
        self, h: Hypothesis, a: Group, b: Group, quantity: str, width: float,
        settled: bool = False,
    ) -> Outcome:  # fmt: skip
        """A per-run scalar of runs_table (train_mode_acc, ...) of the width check's runs
        at `width`, A against B paired by seed, by the rule of `scalar`, with its notes
        (diverged runs, runs that never left chance); `settled`: the same gate, on those
        runs' late rises."""

        def runs(g: Group) -> list[dict]:
            return [
                w for w in self.width_checks
                if w["width"] == width and (w["model"], w["variant"], w["lr"]) == g
            ]  # fmt: skip

        ra, rb = runs(a), runs(b)
        if not ra or not rb:
            missing = [group_name(g) for g, r in ((a, ra), (b, rb)) if not r]
            return untestable(h, f"the width check has no {', '.join(missing)} at width {width:g}")
        out = self._compare(h, _by_seed(ra, quantity), _by_seed(rb, quantity), [])
        out.notes += _run_notes(group_name(a), ra) + _run_notes(group_name(b), rb)
        if settled:
            rises = (_by_seed(ra, "late_rise"), _by_seed(rb, "late_rise"))
            reason = self._unsettled(*rises, a, b)
            if reason and out.verdict != NOT_TESTABLE:
                out.verdict, out.reason = NOT_TESTABLE, reason
        return out

    def _groups(self, h: Hypothesis, *wanted: tuple[str, str, float]):
        found = [self.ev.find(*w) for w in wanted]
        missing = [group_name(w) for w, g in zip(wanted, found, strict=True) if g is None]
        return found, (untestable(h, f"the grid has no {', '.join(missing)}") if missing else None)

    def scalar(
        self, h: Hypothesis, a: tuple[str, str, float], b: tuple[str, str, float] | None,
        quantity: str, log: bool = False, settled: bool = False,
    ) -> Outcome:  # fmt: skip
        """A per-run scalar (quantities.run_quantities) of A against B (or A alone);
        `settled`: a claim about the end of training, judged only once training has
        settled (`_settle`), else not testable, with the numbers still shown. `log`: logs
        of the values, a non-positive one counted at its worst (`_logs`)."""
        (ga, *gb), missing = self._groups(h, a, *([b] if b else []))
        if missing:
            return missing
        va, vb = self.ev.scalar(ga, quantity), self.ev.scalar(gb[0], quantity) if b else None
        notes = self._notes(ga, *gb)
        if log:
            va, vb, worst = _logs(h, va, vb)
            if worst:
                notes.append(
                    f"{worst} non-positive value(s) of {quantity}: no log, so counted at the "
                    "worst log value of the compared runs for this claim"
                )
        out = self._compare(h, va, vb, notes)
        return self._settle(out, ga, *gb) if settled else out

    def curve(
        self, h: Hypothesis, a: tuple[str, str, float], b: tuple[str, str, float],
        probe: str, metric: str, layers: tuple[int, ...], window: str, log: bool = True,
        settled: bool = False, summary: str = "mean",
    ) -> Outcome:  # fmt: skip
        """A probe curve summarized over a window's trained snapshots (`summary`: their
        step-weighted mean or their median) and averaged over `layers`, per seed, A
        against B; with a == b, A's own mean (a one-group test). The outcome carries the
        split of its variance over seeds into within-run and between-seed parts."""
        (ga, gb), missing = self._groups(h, a, b)
        if missing:
            return missing
        bounds = tuple(self.a.windows[window])
        pairs = self.ev.window_pairs(ga, gb, probe, metric, layers, bounds, log, summary)
        if pairs.untestable:
            return untestable(h, pairs.untestable)
        one_group = ga == gb
        b_values, b_points = (None, None) if one_group else (pairs.b, pairs.points_b)
        out = self._compare(h, pairs.a, b_values, self._notes(ga, gb))
        out.variance = variance_split.split(pairs.a, b_values, pairs.points_a, b_points, summary)
        return self._settle(out, ga, gb) if settled else out

    def _compare(self, h: Hypothesis, a: dict, b: dict | None, notes: list[str]) -> Outcome:
        p = self.a
        return compare(h, a, b, p.confidence, p.min_seeds, notes, draws=p.error_draws)

    def _settle(self, out: Outcome, a: Group, b: Group | None = None) -> Outcome:
        """One rule for every test about the end of training: judged only once training
        has settled, that is when the t interval over seeds of the late rise in training
        accuracy (`settling`) lies within +-plateau_points; else not testable, with the
        interval in the reason and the test's own interval still shown. Two groups: the
        gap's rise (A's minus B's, paired by seed), with a note when neither group has
        settled on its own; one group (b None or a): its own rise."""
        two = b is not None and b != a
        reason = self.settling(a, b if two else None)
        if not reason and two:
            learning = [self.settling(g) for g in (a, b)]
            if all(learning):
                out.notes.append(
                    "neither group has settled on its own (" + "; ".join(learning) + "): the "
                    "gap is settled, but it may compare them before training has converged"
                )
        if reason and out.verdict != NOT_TESTABLE:
            out.verdict, out.reason = NOT_TESTABLE, reason
        return out

    def settling(self, a: Group, b: Group | None = None) -> str:
        """'' if training has settled, else why not: the interval of the late rise in
        training accuracy (quantities.Evidence.late_rises; b: A's rise minus B's, paired
        by seed) is not within +-plateau_points. The interval is that of an equivalence
        test at the claims' level: two one-sided tests at (1 - confidence) each, the t
        interval at 1 - 2 (1 - confidence) (90% for 95%; Schuirmann 1987). The DLN has
        no accuracy: it counts as settled."""
        if not variants.is_classifier(a[0]):
            return ""
        rises_b = self.ev.late_rises(b) if b else None
        return self._unsettled(self.ev.late_rises(a), rises_b, a, b, self.requirement(a, b))

    def _unsettled(
        self, rises_a: dict[int, float], rises_b: dict[int, float] | None, a: Group,
        b: Group | None, requirement: str = "",
    ) -> str:  # fmt: skip
        """'' if the late rises (b: A's minus B's, paired by seed) lie within
        +-plateau_points at the equivalence level, else why not (`settling`)."""
        level, limit = 1 - 2 * (1 - self.a.confidence), self.a.plateau_points
        interval = settled_interval(rises_a, rises_b, level, self.a.min_seeds)
        if interval.ok and -limit <= interval.lo and interval.hi <= limit:
            return ""
        what = (
            f"the gap between {group_name(a)} and {group_name(b)} has not settled: A's rise "
            "in training accuracy minus B's"
            if b
            else f"{group_name(a)} has not settled: its training accuracy rose"
        )
        if not interval.ok:
            return f"{what} cannot be bounded ({interval.reason})" + requirement
        return (
            f"{what} {interval.estimate * 100:+.2f} [{interval.lo * 100:+.2f}, "
            f"{interval.hi * 100:+.2f}] points over the last {self.a.final_fraction:.0%} of "
            f"the steps ({level:.0%} interval over {interval.n} seeds), not within "
            f"+-{limit * 100:g}" + requirement
        )

    def requirement(self, *groups: Group | None) -> str:
        """What the long arm measured for these groups (make long-arm): after how many
        steps one seed's run has settled, and the core-hours that training the group's
        seeds that far would take; '' where no long arm ran."""
        said = []
        for g in (g for g in groups if g is not None):
            arms = [
                arm for run, arm in self.long_arms.items() if run.startswith(group_name(g) + "-s")
            ]
            for arm in arms:
                s, steps = arm["settling"], arm["steps"]
                seeds = len(self.ev.records(g))
                if s["settled_from"] is None:
                    last = f" (late rise {s['rises'][-1] * 100:+.2f} points)" if s["rises"] else ""
                    said.append(f"{arm['run']} had not settled within {steps:,} steps{last}")
                    continue
                # seconds a step on `threads` threads of its device: thread-hours on a CPU
                hours = seeds * s["settled_from"] * arm["train_s_per_step"] * arm["threads"] / 3600
                said.append(
                    f"{arm['run']} (one seed, its own rise: an optimistic estimate of the rule's "
                    f"need) settled, late rise within {s['limit'] * 100:g} point, from "
                    f"{s['settled_from']:,} of its {steps:,} steps on: {seeds} seeds of "
                    f"{group_name(g)} that long take {hours:.1f} core-hours of training on "
                    f"{arm['device']} ({arm['train_s_per_step'] * 1000:.0f} ms a step, "
                    "probes not counted)"
                )
        return "; measured by the long arm: " + "; ".join(said) if said else ""

    def _notes(self, *groups: Group) -> list[str]:
        """Diverged runs and runs that never left chance: counted at their worst."""
        return [
            note for g in dict.fromkeys(groups)
            for note in _run_notes(group_name(g), self.ev.records(g), variants.is_classifier(g[0]))
        ]  # fmt: skip


def _run_notes(name: str, runs: list[dict], classifier: bool = True) -> list[str]:
    """A group's diverged runs and runs that never left chance (runs_table rows)."""
    notes = []
    diverged = sum(r["status"] == "diverged" for r in runs)
    if diverged:
        notes.append(f"{name}: {diverged} of {len(runs)} runs diverged (counted at chance)")
    stuck = sum(not math.isfinite(r["trained_step"]) for r in runs)
    if stuck and classifier:
        notes.append(f"{name}: {stuck} of {len(runs)} runs never left chance")
    return notes


def _by_seed(runs: list[dict], key: str) -> dict[int, float]:
    return {int(r["seed"]): float(r[key]) for r in runs}


def settled_interval(
    a: dict[int, float], b: dict[int, float] | None, level: float, min_n: int
) -> Interval:
    """The t interval of A's mean late rise (b None) or of A's minus B's; where every seed
    rose by exactly the same amount (no spread), that amount, as a point."""
    interval = statistic_interval(a, b, level, min_n)
    if interval.ok or "no spread" not in interval.reason:
        return interval
    e = interval.estimate
    return Interval(e, e, e, interval.n, "no spread")


def _logs(
    h: Hypothesis, a: dict[int, float], b: dict[int, float] | None
) -> tuple[dict[int, float], dict[int, float] | None, int]:
    """Logs of A's and B's values; a non-positive value (no log) counts at its worst for
    the hypothesis, as a diverged run does, never as missing: the finite log of the
    compared runs least favourable to the claim (for A, the largest where A is claimed
    below, the smallest where above; for B, the other way). Returns the logs of A and B
    and how many values were non-positive."""

    def log(v: float) -> float:
        return math.log(v) if v > 0 else math.nan  # NaN stays NaN: a missing value

    la = {s: log(v) for s, v in a.items()}
    lb = None if b is None else {s: log(v) for s, v in b.items()}
    finite = [v for d in (la, lb or {}) for v in d.values() if math.isfinite(v)]
    if not finite:
        return la, lb, 0
    high, low = max(finite), min(finite)
    worst_a, worst_b = (high, low) if h.direction == "below" else (low, high)
    bad = 0
    for logs, raw, worst in ((la, a, worst_a), (lb, b, worst_b)):
        for s, v in (raw or {}).items():
            if v <= 0:
                logs[s], bad = worst, bad + 1
    return la, lb, bad
