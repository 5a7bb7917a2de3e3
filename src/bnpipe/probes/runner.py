"""Run every probe on every snapshot of one run; write the run's tidy table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from bnpipe.files import write_csv
from bnpipe.models import build_model, noise_layers, set_step
from bnpipe.params import Params, RunSpec
from bnpipe.probes import COLUMNS, SnapshotContext, default_probes
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
    """Probe the snapshots listed in run_dir/run.json; write `out` (CSV, COLUMNS)."""
    record = json.loads((Path(run_dir) / "run.json").read_text())
    task = make_task(spec, params, prepared, device)
    probe_x, probe_y = task.probe_batch(params.probe.batch_size)
    model = build_model(spec, params).to(device)
    noise = noise_layers(model)
    probes = default_probes(params)
    rows = []
    for step in tqdm(record["snapshot_steps"], desc=f"probe {spec.id}", disable=not progress):
        state = torch.load(snapshot_path(run_dir, step), map_location=device, weights_only=True)
        model.load_state_dict(state)
        set_step(noise, step)  # noisy variants replay step t's noise
        ctx = SnapshotContext(spec, params, step, model, probe_x, probe_y)
        for probe in probes:
            for layer, metric, value in probe.measure(ctx):
                rows.append((spec.id, step, layer, probe.name, metric, value))
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(out, table)
    return table
