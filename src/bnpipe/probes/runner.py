"""Run every probe on every snapshot of one run; write the run's tidy table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from bnpipe.data.batches import DeviceData, probe_indices
from bnpipe.data.prepare import load_prepared
from bnpipe.files import write_csv
from bnpipe.models import build_model
from bnpipe.params import Params, RunSpec
from bnpipe.probes import COLUMNS, SnapshotContext, default_probes
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
    arrays, _ = load_prepared(prepared)
    data = DeviceData(arrays, device)
    probe_x, probe_y = data.batch(probe_indices(data.n_train, params.probe.batch_size, spec.seed))
    model = build_model(spec, params).to(device)
    probes = default_probes(params)
    rows = []
    for step in tqdm(record["snapshot_steps"], desc=f"probe {spec.id}", disable=not progress):
        state = torch.load(snapshot_path(run_dir, step), map_location=device, weights_only=True)
        model.load_state_dict(state)
        ctx = SnapshotContext(spec, params, step, model, probe_x, probe_y)
        for probe in probes:
            for layer, metric, value in probe.measure(ctx):
                rows.append((spec.id, step, layer, probe.name, metric, value))
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(out, table)
    return table
