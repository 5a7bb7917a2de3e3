"""What the probe suite costs per snapshot, in units of one training step.

Both are timed in one process on the same device, side by side: a training step
(forward, backward, SGD update on the step's batch) and each probe on a few snapshots of
a finished run, once as the pipeline runs it and once in its reference form (ICS by one
forward-backward per layer, the landscape by one per step size, each Hessian-vector
product from scratch, the lag shift by replaying the lag steps). The pipeline's lag shift
takes its later moments from what training recorded (bnpipe.training.lag_record): what training
spent on them is timed here too, on the snapshot's state (one forward pass of the probe
batch), and counted in the pipeline's total as `lag_record`.

With `channels_last`, the pipeline's probes are also timed on a model in training's CPU
layout (`channels_last`): the fp32 probes in channels_last, and the fp64 copies
(speed.copy_in) then keep that layout too, so this method times channels_last
throughout, never the pipeline's NCHW.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from bnpipe.models import build_model
from bnpipe.params import Params, RunSpec
from bnpipe.probe_registry import make_probes
from bnpipe.probes.curvature import SharpnessProbe
from bnpipe.probes.ics import ICSProbe
from bnpipe.probes.landscape import LandscapeProbe
from bnpipe.probes.runner import SnapshotProber
from bnpipe.training import speed
from bnpipe.training.lag_record import lag_moments, shift_lag


def reference_probes(params: Params) -> list:
    """The suite in its reference form: ICS by one forward-backward per layer, the
    landscape by one per step size, Hessian products by a fresh forward-over-reverse."""
    probes = make_probes(params)
    for i, probe in enumerate(probes):
        if probe.name == "ics":
            probes[i] = ICSProbe(reference=True)
        elif probe.name == "sharpness":
            probes[i] = SharpnessProbe(probe.settings, reuse_graph=False)
        elif probe.name.startswith("landscape"):
            probes[i] = LandscapeProbe(probe.settings, probe.random, batched=False)
    return probes


def probe_cost(
    spec: RunSpec,
    params: Params,
    prepared: Path,
    run_dir: Path,
    snapshot_dir: Path,
    snapshots: int = 3,
    device: str = "cpu",
    channels_last: bool = False,
) -> pd.DataFrame:
    """Rows (probe, method, seconds, train_steps): mean over `snapshots` snapshots spread
    over the run (0: every snapshot, in order, so sharpness warm-starts as the pipeline's
    does); train_steps = seconds / (median seconds of one training step).
    The training steps are timed at every snapshot, just before its probes, in both
    forms: a machine whose speed drifts during the measurement (shared cores) moves both
    sides of the ratio alike, where one timing at the start would move only one.
    attrs: train_step_s, train_step_s_quartiles (first, third); products: per snapshot
    step, the Hessian-vector products the pipeline's Lanczos needed and whether it
    converged; lag_recorded of `snapshots`: how many had their lag moments recorded by
    training (the rest replay in both forms). Long because the timing protocol stays in
    one piece: every method is timed on the same snapshots beside the same step timings."""
    prober = SnapshotProber(spec, params, prepared, run_dir, snapshot_dir, device)
    steps = prober.snapshot_steps()
    picked = _spread(steps, snapshots)
    step_times: list[float] = []  # training steps timed beside every snapshot's probes
    rows = []
    products: dict[int, dict[str, float]] = {}  # snapshot step -> Hessian products, converged
    methods = [
        ("pipeline", prober, make_probes(params)),
        ("reference", prober, reference_probes(params)),
    ]
    if channels_last:
        form = speed.MeasurementForm(
            prober.form.precision, prober.form.deterministic, layout="channels_last"
        )
        other = SnapshotProber(spec, params, prepared, run_dir, snapshot_dir, device, form=form)
        methods.append(("channels_last", other, make_probes(params)))
    trainer = _Trainer(prober)
    for method, prober, probes in methods:
        spent: dict[str, list[float]] = {p.name: [] for p in probes}
        prober.use_lag_record = method != "reference"
        if method != "reference" and shift_lag(params, spec):
            # one forward pass per lag (the main one and each also-lag) training recorded
            lags = [sum(step in by_t for by_t in prober.lag_record.values()) for step in picked]
            spent["lag_record"] = [
                _lag_record_seconds(prober, step) * n if n else 0.0
                for step, n in zip(picked, lags, strict=True)
            ]
        for step in picked:
            step_times += trainer.times(step)
            for name, measured, seconds in prober.measure(step, probes):
                spent[name].append(seconds)
                if method == "pipeline" and name == "sharpness":
                    products[step] = {
                        m: v for _, m, v in measured if m in ("products", "converged")
                    }
        for name, times in spent.items():
            rows.append((name, method, statistics.mean(times)))
        rows.append(("all", method, sum(statistics.mean(t) for t in spent.values())))
    step_s = statistics.median(step_times)
    table = pd.DataFrame(rows, columns=["probe", "method", "seconds"])
    table["train_steps"] = table.seconds / step_s
    table.attrs["train_step_s"] = step_s
    quartiles = statistics.quantiles(step_times, n=4)
    table.attrs["train_step_s_quartiles"] = (quartiles[0], quartiles[2])
    table.attrs["products"] = products
    main_lag = prober.lag_record.get(shift_lag(params, spec), {})
    table.attrs["lag_recorded"] = sum(step in main_lag for step in picked)
    table.attrs["snapshots"] = len(picked)
    return table


def _spread(steps: list[int], n: int) -> list[int]:
    """n of the snapshot steps spread evenly over the run (all of them for n <= 0)."""
    if n <= 0 or n >= len(steps):
        return steps
    return [steps[round(i * (len(steps) - 1) / max(1, n - 1))] for i in range(n)]


def _lag_record_seconds(prober: SnapshotProber, step: int) -> float:
    """What training spends recording one snapshot's later moments (at t + lag; timed
    here on the state at t, the same network and batch sizes): its state copied into the
    fp64 NCHW copy (speed.FP64), one forward pass of the probe batch, the moments."""
    prober.load(step)
    measured = speed.copy_in(prober.model, speed.FP64)
    start = time.perf_counter()
    measured.load_state_dict(prober.model.state_dict())
    lag_moments(measured, prober.probe_x, prober.params.probe.activations.coordinates)
    if str(prober.device).startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


class _Trainer:
    """bnpipe's training step (`speed.TrainingStep`) as training runs it (its layout,
    precision, compilation), on the prober's run: the unit of the probes' cost."""

    def __init__(self, prober: SnapshotProber):
        self.prober = prober
        self.plan = speed.resolve(prober.params.speed, prober.device, prober.spec.model)
        model = build_model(prober.spec, prober.params).to(prober.device)
        self.model = speed.prepare(model, self.plan)

    def times(self, step: int, repeats: int = 3, warmup: int = 1) -> list[float]:
        """Seconds of `repeats` training steps from the snapshot `step`, after `warmup`
        untimed ones."""
        p = self.prober
        p.load(step)
        self.model.load_state_dict(p.model.state_dict())  # in training's layout, precision
        train_step = speed.TrainingStep(self.model, p.task, p.spec.lr, self.plan, p.device)
        times = []
        for t in range(step, step + warmup + repeats):
            start = time.perf_counter()
            train_step(t)
            if str(p.device).startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        speed.apply_backend(p.device, p.form.plan)  # the probes' settings again
        return times[warmup:]
