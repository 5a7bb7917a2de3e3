"""Per-run numbers that the claims compare: one place for how a run is summarized.

  runs_table        one row per run: grid point, status, final numbers with a diverged
                    run at its worst (chance accuracy, its initial loss), the step it left
                    chance (`trained_step`)
  run_quantities    one number per run and quantity (layer 0 = the whole network)
  window_mean       a probe curve averaged over steps in a window, weighted by steps
  Evidence          the three tables with fast lookups, and the per-seed pairs that a
                    comparison of probe curves uses (trained snapshots only)

Decisions (params `analyze`):
- A diverged run is the worst outcome, never a missing value: chance accuracy (1/10)
  for VGG, its initial loss for the DLN; `diverged` keeps the fact.
- A test at the end of training (a final accuracy "not lower", BN's trained layers) is
  judged only once training has settled. Each run's `late_rise` is the rise of its
  training accuracy (train mode) over the last `final_fraction` of its steps against the
  `final_fraction` before; the claims (bnpipe.analysis.claims.context) put a t interval over seeds
  on it, a gap's (A's rise minus B's) or one group's own. A diverged run's rise is 0: its
  outcome, chance, is final.
- A VGG run has left chance at the first step where its training loss (train mode, on
  the step's batch; a running mean over `smooth_fraction` of the steps) is below
  ln(10) - `chance_margin`; NaN if it never does. The DLN is a regression with no chance
  level: it counts as trained from step 0.
- A probe curve is summarized by its mean over the steps of a window (`windows`,
  fractions of the run's steps), by the trapezoid rule over the snapshots inside it, so
  that the dense early snapshots of the log-spaced part of the schedule do not dominate;
  only snapshots at or after the step from which both compared runs are trained count.
- A non-finite probe value (a landscape point whose loss overflowed) is the roughest
  value seen: it takes the largest finite value of that metric among the compared runs,
  so it ranks worst and never drops out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bnpipe import variants
from bnpipe.analysis.settling import late_rise
from bnpipe.params import Params

GROUP = ["model", "variant", "lr"]
Group = tuple[str, str, float]  # (model, variant, lr)


def running_mean(series: pd.Series, steps: int, params: Params) -> pd.Series:
    """A per-step series averaged over the last `smooth_fraction` of a run's steps (NaN
    until a whole window has passed)."""
    window = max(1, round(params.analyze.smooth_fraction * steps))
    return series.rolling(window, min_periods=window).mean()


def trained_step(history: pd.DataFrame, model: str, steps: int, params: Params) -> float:
    """The first step at which a run has left chance (see the module's decisions)."""
    if not variants.is_classifier(model):
        return 0.0
    losses = history.dropna(subset=["train_loss"]).set_index("step").train_loss
    if losses.empty:
        return math.nan
    smooth = running_mean(losses, steps, params)
    chance_loss = math.log(1 / variants.CHANCE_ACCURACY[model])  # ln(10): uniform over classes
    below = smooth[smooth < chance_loss - params.analyze.chance_margin]
    return float(below.index[0]) if len(below) else math.nan


def runs_table(runs: list[tuple[dict, pd.DataFrame]], params: Params) -> pd.DataFrame:
    """One row per run; final numbers are those of completed runs, a diverged run's are
    its worst outcome (module docstring)."""
    rows = []
    for record, history in runs:
        model, diverged = record["model"], record["status"] == "diverged"
        steps = params.training(model).steps
        evals = history.dropna(subset=["eval_train_loss"]).tail(params.analyze.final_window)
        losses = history.dropna(subset=["train_loss"])
        initial_loss = float(losses.train_loss.iloc[0]) if len(losses) else math.nan

        def final(column: str, worst: float, evals=evals, diverged=diverged) -> float:
            if diverged:
                return worst
            return float(evals[column].mean()) if len(evals) else math.nan

        chance = variants.CHANCE_ACCURACY[model] or math.nan  # the DLN has none
        f = params.analyze.final_fraction
        tail = losses[losses.step >= (1 - f) * steps]
        acc = losses.set_index("step").train_acc
        rows.append(
            {
                "id": record["id"],
                "model": model,
                "variant": record["variant"],
                "lr": record["lr"],
                "seed": record["seed"],
                "status": record["status"],
                "steps": steps,
                "steps_done": record["steps_done"],
                "diverged_at": (record["diverged"] or {}).get("step"),
                "trained_step": trained_step(history, model, steps, params),
                "final_train_acc": final("eval_train_acc", chance),
                "final_test_acc": final("test_acc", chance),
                "final_train_loss": final("eval_train_loss", initial_loss),
                "final_test_loss": final("test_loss", math.nan),
                # the network as it trains (train mode, noise on), last final_fraction
                "train_mode_acc": chance if diverged else float(tail.train_acc.mean()),
                # still learning? the rise of that accuracy over the last final_fraction
                # (a diverged run stays at chance: it has settled, at its worst)
                "late_rise": 0.0 if diverged else late_rise(acc, steps, f),
                "wall_s": record["timing"]["wall_s"],
            }
        )
    return pd.DataFrame(rows).sort_values([*GROUP, "seed"], ignore_index=True)


def run_quantities(
    runs: list[tuple[dict, pd.DataFrame]], table: pd.DataFrame, params: Params
) -> pd.DataFrame:
    """Scalar per-run quantities (long: run, quantity, value):

    final_test_acc, final_train_acc, final_train_loss, train_mode_acc   as in runs_table
    train_acc_mean     mean training accuracy (train mode, on each step's batch) over every
                       step: the area under the training curve, a speed measure without a
                       threshold (a diverged run counts at chance after it stopped)
    steps_to_acc<t>    first step whose training accuracy (train mode, a running mean over
                       smooth_fraction of the steps) is >= t (NaN: never)
    trained_step       the step the run left chance
    test_acc@<t>       test accuracy (eval mode) at the evaluation of step t, for every
                       evaluation step after 0 (a diverged run: chance once it stopped),
                       so that a final-accuracy test can be re-judged at each budget
    Both speed measures read the per-step history, not the sparse evaluations.
    """
    rows = []
    by_id = table.set_index("id")
    for record, history in runs:
        run = record["id"]
        for column in ("final_test_acc", "final_train_acc", "final_train_loss"):
            rows.append((run, column, by_id.at[run, column]))
        rows.append((run, "train_mode_acc", by_id.at[run, "train_mode_acc"]))
        rows.append((run, "trained_step", by_id.at[run, "trained_step"]))
        if not variants.is_classifier(record["model"]):
            continue
        steps = params.training("vgg").steps
        accs = history.dropna(subset=["train_acc"]).set_index("step").train_acc
        chance = variants.CHANCE_ACCURACY[record["model"]]
        curve = accs.reindex(range(steps)).fillna(chance)  # after a divergence: chance
        rows.append((run, "train_acc_mean", float(curve.mean())))
        evals = history.dropna(subset=["test_acc"]).set_index("step").test_acc
        for t in eval_steps(params):
            rows.append((run, f"test_acc@{t}", float(evals.get(t, chance))))
        smooth = running_mean(accs, steps, params)
        for t in params.analyze.acc_thresholds:
            hit = smooth[smooth >= t].index
            rows.append((run, f"steps_to_acc{t:g}", float(hit.min()) if len(hit) else math.nan))
    frame = with_run_keys(pd.DataFrame(rows, columns=["run", "quantity", "value"]), table)
    return frame[["run", *GROUP, "seed", "status", "quantity", "value"]]


def eval_steps(params: Params) -> list[int]:
    """The VGG's evaluation steps after 0 (every eval_every, and the last step)."""
    train = params.training("vgg")
    steps = set(range(train.eval_every, train.steps, train.eval_every)) | {train.steps}
    return sorted(steps)


def with_run_keys(rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """`rows` (with a `run` column) with each run's grid point, seed and status joined on."""
    keys = table[["id", *GROUP, "seed", "status"]].rename(columns={"id": "run"})
    return rows.merge(keys, on="run", how="left", validate="many_to_one")


def window_mean(steps: np.ndarray, values: np.ndarray, lo: float, hi: float) -> float:
    """Mean of a curve over the steps in [lo, hi], by the trapezoid rule over the points
    inside (one point: its value; none: NaN). Weighted by steps, not by point count."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    inside = (steps >= lo) & (steps <= hi)
    s, v = steps[inside], values[inside]
    if len(s) == 0:
        return math.nan
    if len(s) == 1 or s[-1] == s[0]:
        return float(v.mean())
    return float(np.trapezoid(v, s) / (s[-1] - s[0]))


SUMMARIES = ("mean", "median")  # of a probe curve over a window's snapshots


@dataclass
class Pairs:
    """Per-seed values of groups A and B for one comparison, or why there are none."""

    a: dict[int, float] = field(default_factory=dict)
    b: dict[int, float] = field(default_factory=dict)
    untestable: str = ""  # non-empty: the comparison is not testable at this scale
    # per seed, the (steps, values) each summary read: the window's snapshots, layers
    # pooled, logs taken where the test compares logs (variance_split reads them)
    points_a: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    points_b: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class Evidence:
    """The runs, their scalar quantities and their probe rows, indexed for the claims."""

    def __init__(
        self,
        table: pd.DataFrame,
        quantities: pd.DataFrame,
        probes: pd.DataFrame,
        correlations: pd.DataFrame | None = None,
    ):
        self.table, self.quantities, self.probes = table, quantities, probes
        self.correlations = correlations  # analyze.ics_vs_performance, where computed
        self.groups: set[Group] = {
            (m, v, float(lr)) for m, v, lr in table[GROUP].itertuples(index=False)
        }
        self._records = {  # group -> seed -> the run's row as a dict (fast access)
            g: {int(s): row for s, row in frame.set_index("seed").to_dict("index").items()}
            for g, frame in table.groupby(GROUP, sort=False)
        }
        seeds, values = quantities.seed.to_numpy(), quantities.value.to_numpy(dtype=float)
        self._scalars = {
            key: dict(zip(seeds[i].astype(int).tolist(), values[i].tolist(), strict=True))
            for key, i in quantities.groupby([*GROUP, "quantity"], sort=False).indices.items()
        }
        self._curves: dict = {}
        if not probes.empty:
            steps, values = probes.step.to_numpy(), probes.value.to_numpy(dtype=float)
            keyed = probes.groupby(["run", "probe", "metric", "layer"], sort=False).indices
            self._curves = {key: (steps[i], values[i]) for key, i in keyed.items()}

    def find(self, model: str, variant: str, lr: float) -> Group | None:
        """The grid's group at this lr (float-tolerant), or None."""
        for g in self.groups:
            if g[0] == model and g[1] == variant and math.isclose(g[2], lr, rel_tol=1e-9):
                return g
        return None

    def lrs(self, model: str) -> list[float]:
        return sorted({g[2] for g in self.groups if g[0] == model})

    def records(self, group: Group) -> list[dict]:
        """The group's runs as dicts, by seed."""
        return [self._records[group][s] for s in sorted(self._records[group])]

    def scalar(self, group: Group, quantity: str) -> dict[int, float]:
        return dict(self._scalars.get((*group, quantity), {}))

    def curve(self, run: str, probe: str, metric: str, layer: int):
        return self._curves.get((run, probe, metric, layer))

    def late_rises(self, group: Group) -> dict[int, float]:
        """Per seed, the rise of the run's training accuracy (train mode) over the last
        final_fraction of its steps (runs_table); NaN where the model has no accuracy."""
        return {s: float(r["late_rise"]) for s, r in self._records.get(group, {}).items()}

    def never_trained(self, group: Group) -> str:
        """A sentence if no run of the group ever left chance, else ''."""
        runs = self.records(group)
        if any(math.isfinite(r["trained_step"]) for r in runs):
            return ""
        acc = np.mean([r["final_test_acc"] for r in runs])
        return (
            f"{group_name(group)} never left chance: final test accuracy "
            f"{acc:.1%} in {len(runs)} of {len(runs)} seeds"
        )

    def _curves_of(self, rows: list[dict], probe: str, metric: str, layers: tuple[int, ...]):
        """(run id, layer) -> (steps, values) of (probe, metric) for the runs' `layers`."""
        found = {}
        for row in rows:
            for layer in layers:
                c = self.curve(row["id"], probe, metric, layer)
                if c is not None:
                    found[(row["id"], layer)] = c
        return found

    def window_pairs(
        self,
        a: Group,
        b: Group,
        probe: str,
        metric: str,
        layers: tuple[int, ...],
        window: tuple[float, float],
        log: bool = True,
        summary: str = "mean",
    ) -> Pairs:
        """Per seed, A's and B's curve of (probe, metric) averaged over the window's
        trained snapshots (both runs of the seed trained) and over `layers`; logs of the
        values when `log` (ratios become differences). `summary`: "mean" weights the
        window's snapshots by steps (window_mean), "median" takes the median of the
        snapshots' values (layers pooled first), a summary robust to one wild snapshot.
        Not testable if a group never left chance or no seed has a trained snapshot in
        the window."""
        if summary not in SUMMARIES:
            raise ValueError(f"summary {summary!r}: one of {SUMMARIES}")
        for g in (a, b):
            reason = self.never_trained(g)
            if reason:
                return Pairs(untestable=reason)
        runs_a, runs_b = self._records[a], self._records[b]
        curves = self._curves_of([*runs_a.values(), *runs_b.values()], probe, metric, layers)
        if not curves:
            names = f"{group_name(a)} / {group_name(b)}"
            return Pairs(untestable=f"no {probe}.{metric} rows for {names}")
        finite = np.concatenate([v[np.isfinite(v)] for _, v in curves.values()])
        worst = float(finite.max()) if len(finite) else math.nan  # overflow ranks worst
        out = Pairs()
        for seed in sorted(runs_a.keys() & runs_b.keys()):
            ra, rb = runs_a[seed], runs_b[seed]
            starts = (ra["trained_step"], rb["trained_step"])
            if not all(np.isfinite(starts)):
                continue  # a run of this seed never left chance: no pair
            start = max(starts)
            lo, hi = max(window[0] * ra["steps"], start), window[1] * ra["steps"]
            for target, points, row in ((out.a, out.points_a, ra), (out.b, out.points_b, rb)):
                pooled = _layers_window_points(curves, row["id"], layers, (lo, hi), worst, log)
                if pooled is None:
                    continue
                target[seed], points[seed] = _summarize(pooled, summary), pooled
        seeds = out.a.keys() & out.b.keys()
        if not seeds:
            steps = next(iter(runs_a.values()))["steps"]
            w = f"steps {window[0] * steps:g}-{window[1] * steps:g}"
            out.untestable = (
                f"no snapshot in the window ({w}) after both {group_name(a)} and "
                f"{group_name(b)} left chance"
            )
        out.a = {s: out.a[s] for s in sorted(seeds)}
        out.b = {s: out.b[s] for s in sorted(seeds)}
        out.points_a = {s: out.points_a[s] for s in out.a}
        out.points_b = {s: out.points_b[s] for s in out.b}
        return out


def group_name(group: Group) -> str:
    """e.g. vgg-batchnorm-lr0.1: a run id without its seed."""
    model, variant, lr = group
    return f"{model}-{variant}-lr{lr:g}"


def _summarize(points: tuple[np.ndarray, np.ndarray], summary: str) -> float:
    steps, values = points
    if summary == "median":
        return float(np.median(values))
    return window_mean(steps, values, steps[0], steps[-1])


def _layers_window_points(
    curves: dict,
    run: str,
    layers: tuple[int, ...],
    steps: tuple[float, float],
    worst: float,
    log: bool,
) -> tuple[np.ndarray, np.ndarray] | None:
    """One run's snapshots in the steps [lo, hi], each the mean over `layers` of the
    layer's value (logs first when `log`; a non-finite value counts as `worst`): (steps,
    values). The window mean of these is the mean of the layers' window means. None when
    the run has none of the layers, they disagree on their steps, or no snapshot is in
    the window."""
    per_layer = []
    for layer in layers:
        c = curves.get((run, layer))
        if c is None:
            continue
        s, v = np.asarray(c[0], dtype=float), np.asarray(c[1], dtype=float)
        v = np.where(np.isfinite(v), v, worst)
        if log:
            v = np.log(np.maximum(v, np.finfo(float).tiny))
        inside = (s >= steps[0]) & (s <= steps[1])
        per_layer.append((s[inside], v[inside]))
    if not per_layer or any(len(s) == 0 for s, _ in per_layer):
        return None
    at = per_layer[0][0]
    if any(len(s) != len(at) or not np.array_equal(s, at) for s, _ in per_layer):
        return None
    values = np.mean([v for _, v in per_layer], axis=0)
    return (at, values) if np.isfinite(values).all() else None
