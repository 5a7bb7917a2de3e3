"""Run every probe on every snapshot of one run; write the run's tidy table."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from bnpipe.files import write_csv
from bnpipe.models import build_model, noise_layers, set_step
from bnpipe.params import Params, RunSpec
from bnpipe.probes import COLUMNS, SnapshotContext, make_probes
from bnpipe.probes.replay import frozen_stats
from bnpipe.probes.state import preserved_state
from bnpipe.tasks import make_task
from bnpipe.train import snapshot_path


def probe_run(
    spec: RunSpec,
    params: Params,
    prepared: Path,
    run_dir: Path,
    out: Path,
    device: str = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Probe the snapshots listed in run_dir/run.json; write `out` (CSV, COLUMNS).

    The table holds measurements only, so the same snapshots always give the same bytes;
    the seconds each probe took go to standard error (the job's log).
    """
    record = json.loads((Path(run_dir) / "run.json").read_text())
    task = make_task(spec, params, prepared, device)
    probe_x, probe_y = task.probe_batch(params.probe.batch_size)
    model = build_model(spec, params).to(device)
    noise = noise_layers(model)
    probes = make_probes(params)
    rows = []
    seconds = {probe.name: 0.0 for probe in probes}
    bar = tqdm(record["snapshot_steps"], desc=f"probe {spec.id}", disable=not progress)
    for step in bar:
        state = torch.load(snapshot_path(run_dir, step), map_location=device, weights_only=True)
        model.load_state_dict(state)
        set_step(noise, step)  # replay step t's noise
        ctx = SnapshotContext(spec, params, step, model, probe_x, probe_y, task)
        with preserved_state(model), frozen_stats(model):
            for probe in probes:
                start = time.perf_counter()
                for layer, metric, value in probe.measure(ctx):
                    rows.append((spec.id, step, layer, probe.name, metric, value))
                _synchronize(device)
                seconds[probe.name] += time.perf_counter() - start
    spent = ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items())
    print(f"probe {spec.id}: {len(record['snapshot_steps'])} snapshots; {spent}", file=sys.stderr)
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(out, table)
    return table


def _synchronize(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
