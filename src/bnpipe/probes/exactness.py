"""How exact the probes are: every probe of a run's snapshots in its measurement form
against the same probes in fp64, metric by metric.

The probes run in NCHW, at `probe.precision` (speed.MeasurementForm), with moments in
fp64 (speed.FP64). This module measures what that form costs in accuracy on real
snapshots: the same prober code once as the pipeline runs it and once with every model
in fp64, over the same snapshots in the same order (the activation probe's shifts and
Lanczos' warm start depend on the previous snapshot), compared by the rule below.

  relative    |measured - fp64| / |fp64|, for every measurement, allowed 1e-3
  absolute    cosines (cos, affine_cos): |measured - fp64|, allowed 1e-3 (a relative
              error of a cosine near 0 means nothing)
  residual    the top Hessian eigenvalue: Lanczos stops at a relative residual
              (probe.sharpness.tolerance), within which the nearest eigenvalue lies,
              so its relative error is allowed max(1e-3, its own residual)
  left out    gaps of the Theorem 4.1 identity (rel_diff, rel_diff_eps_free: a true gap
              of ~1e-5 between two sums is round-off's to resolve), Lanczos' own
              bookkeeping (rel_residual, products, converged), and the last snapshot's
              lag shifts when training ended before t + lag (each precision replays the
              lag steps itself: two trajectories, not one state measured twice)
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd

from bnpipe.params import Params, RunSpec
from bnpipe.probe_registry import make_probes
from bnpipe.probes.runner import SnapshotProber
from bnpipe.training.lag_record import shift_lag

NOT_MEASUREMENTS = {"rel_diff", "rel_diff_eps_free", "rel_residual", "products", "converged"}
COSINES = {"cos", "affine_cos"}

Rows = dict[tuple[int, str, int, str], float]  # (step, probe, layer, metric) -> value


def in_fp64(params: Params) -> Params:
    """The same params with every model's probes in fp64."""
    probe = dataclasses.replace(params.probe, precision={m: "fp64" for m in params.probe.precision})
    return dataclasses.replace(params, probe=probe)


def probe_rows(prober: SnapshotProber, params: Params, steps: list[int]) -> Rows:
    """Every probe's rows at `steps`, in order (state carries from one to the next)."""
    probes = make_probes(params)
    return {
        (step, name, layer, metric): value
        for step in steps
        for name, rows, _ in prober.measure(step, probes)
        for layer, metric, value in rows
    }


def errors(
    measured: Rows, reference: Rows, unrecorded: set[int] = frozenset(), tolerance: float = 1e-3
) -> pd.DataFrame:
    """One row per compared value: step, probe, layer, metric, measured, fp64, error (by
    the module's rule), allowed (`tolerance`, or an eigenvalue's own residual if larger),
    within. `unrecorded`: snapshots whose lag moments neither side had from training
    (their lag shifts are left out)."""
    rows = []
    for key, ref in reference.items():  # a reference may cover only some of the measured
        step, probe, layer, metric = key
        if metric in NOT_MEASUREMENTS or (step in unrecorded and "lag_shift" in metric):
            continue
        value = measured[key]
        if math.isnan(ref) and math.isnan(value):
            continue
        allowed = tolerance
        if metric in COSINES:
            error = abs(value - ref)
        else:
            error = abs(value - ref) / abs(ref) if ref else abs(value)
        if metric == "top_eig":
            allowed = max(tolerance, measured[(step, probe, layer, "rel_residual")])
        rows.append((step, probe, layer, metric, value, ref, error, allowed, error <= allowed))
    columns = ["step", "probe", "layer", "metric", "measured", "fp64", "error", "allowed"]
    return pd.DataFrame(rows, columns=[*columns, "within"])


def compare_run(
    spec: RunSpec,
    params: Params,
    prepared: Path,
    run_dir: Path,
    snapshot_dir: Path,
    steps: list[int] | None = None,
    device: str = "cpu",
) -> pd.DataFrame:
    """errors() of one run's probes at `steps` (None: every snapshot), as the pipeline
    runs them against fp64."""
    rows = {}
    unrecorded: set[int] = set()
    for name, settings in (("pipeline", params), ("fp64", in_fp64(params))):
        prober = SnapshotProber(spec, settings, prepared, run_dir, snapshot_dir, device)
        chosen = steps if steps is not None else prober.snapshot_steps()
        main_lag = prober.lag_record.get(shift_lag(settings, spec), {})  # lag -> step -> moments
        unrecorded = {s for s in chosen if s not in main_lag}
        rows[name] = probe_rows(prober, settings, chosen)
    if rows["pipeline"].keys() != rows["fp64"].keys():
        raise RuntimeError(f"{spec.id}: the two precisions gave different rows")
    return errors(rows["pipeline"], rows["fp64"], unrecorded)


def worst(errors_table: pd.DataFrame) -> pd.DataFrame:
    """Per probe and metric: the largest error and where it was (step, layer)."""
    if errors_table.empty:
        return errors_table
    at = errors_table.groupby(["probe", "metric"])["error"].idxmax()
    return errors_table.loc[at].sort_values("error", ascending=False).reset_index(drop=True)
