"""What the probe suite costs per snapshot, in units of one training step.

Both are timed in one process on the same device, side by side: a training step
(forward, backward, SGD update on the step's batch) and each probe on a few snapshots of
a finished run, once as the pipeline runs it and once in its reference form (ICS by one
forward-backward per layer, the landscape by one per step size, each Hessian-vector
product from scratch).
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from bnpipe.models import build_model, noise_layers, set_step
from bnpipe.params import Params, RunSpec
from bnpipe.probes import SnapshotContext, make_probes
from bnpipe.probes.curvature import SharpnessProbe
from bnpipe.probes.ics import ICSProbe
from bnpipe.probes.landscape import LandscapeProbe
from bnpipe.probes.replay import frozen_stats
from bnpipe.probes.state import preserved_state
from bnpipe.tasks import make_task
from bnpipe.train import snapshot_path


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
    snapshots: int = 3,
    device: str = "cpu",
) -> pd.DataFrame:
    """Rows (probe, method, seconds, train_steps): mean over `snapshots` snapshots spread
    over the run; train_steps = seconds / (median seconds of one training step)."""
    record = json.loads((Path(run_dir) / "run.json").read_text())
    steps = record["snapshot_steps"]
    picked = [steps[round(i * (len(steps) - 1) / max(1, snapshots - 1))] for i in range(snapshots)]
    task = make_task(spec, params, prepared, device)
    probe_x, probe_y = task.probe_batch(params.probe.batch_size)
    model = build_model(spec, params).to(device)
    noise = noise_layers(model)
    step_s = _training_step_seconds(model, noise, task, spec.lr, picked[0], run_dir, device)
    rows = []
    for method, probes in (
        ("pipeline", make_probes(params)),
        ("reference", reference_probes(params)),
    ):
        spent: dict[str, list[float]] = {p.name: [] for p in probes}
        for step in picked:
            state = torch.load(snapshot_path(run_dir, step), map_location=device, weights_only=True)
            model.load_state_dict(state)
            set_step(noise, step)
            ctx = SnapshotContext(spec, params, step, model, probe_x, probe_y, task)
            with preserved_state(model), frozen_stats(model):
                for probe in probes:
                    start = time.perf_counter()
                    for _ in probe.measure(ctx):
                        pass
                    _sync(device)
                    spent[probe.name].append(time.perf_counter() - start)
        for name, times in spent.items():
            rows.append((name, method, statistics.mean(times)))
        rows.append(("all", method, sum(statistics.mean(t) for t in spent.values())))
    table = pd.DataFrame(rows, columns=["probe", "method", "seconds"])
    table["train_steps"] = table.seconds / step_s
    table.attrs["train_step_s"] = step_s
    return table


def _training_step_seconds(
    model, noise, task, lr, step, run_dir, device, repeats: int = 7
) -> float:
    """Median time of one SGD step from the snapshot `step`, on a copy of the model."""
    trainee = copy.deepcopy(model)
    trainee.load_state_dict(torch.load(snapshot_path(run_dir, step), map_location=device))
    trainee.train()
    trainee_noise = noise_layers(trainee)
    optimizer = torch.optim.SGD(trainee.parameters(), lr=lr)
    times = []
    for t in range(step, step + repeats + 2):
        x, y = task.batch(t)
        set_step(trainee_noise, t)
        start = time.perf_counter()
        loss = task.loss(trainee(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])  # the first two warm up


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
