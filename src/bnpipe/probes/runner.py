"""Run every probe on every snapshot of one run; write the run's tidy table."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from bnpipe.data.tasks import make_task
from bnpipe.files import load_torch, write_csv
from bnpipe.layout import LAG_RECORD, ScaleLayout, snapshot_path
from bnpipe.models import build_model, noise_layers, set_step
from bnpipe.models.state import frozen_stats, preserved_state
from bnpipe.params import Params, RunSpec
from bnpipe.probe_registry import make_probes
from bnpipe.probes.context import COLUMNS, Probe, SnapshotContext
from bnpipe.training import speed
from bnpipe.training.lag_record import also_lags, load_lag_record, record_signature, shift_lag
from bnpipe.training.schedule import probes_at, snapshot_plan


class SnapshotProber:
    """One run's task, model and probe batch, set up once; `measure` probes one snapshot.
    With `lag_record` the activation probe takes the lag shift's later moments from
    what training recorded (bnpipe.training.lag_record) where it can; without, it replays.
    `form`: the measurement form (default: the params', speed.measurement_form)."""

    def __init__(
        self,
        spec: RunSpec,
        params: Params,
        prepared: Path,
        run_dir: Path,
        snapshots: Path,
        device: str,
        lag_record: bool = True,
        form: speed.MeasurementForm | None = None,
    ):
        self.spec, self.params, self.device = spec, params, device
        self.use_lag_record = lag_record
        self.run_dir, self.snapshots = Path(run_dir), Path(snapshots)
        self.task = make_task(spec, params, prepared, device)
        self.probe_x, self.probe_y = self.task.probe_batch(params.probe.batch_size)
        # NCHW, eager, fp32 or fp64 (probe.precision), whatever training used: a
        # measurement agrees with fp64 to 1e-3 (speed.MeasurementForm)
        self.form = form or speed.measurement_form(params, device, spec.model)
        speed.apply_backend(device, self.form.plan)
        self.model = speed.prepare_measurement(build_model(spec, params).to(device), self.form)
        self.noise = noise_layers(self.model)

    def snapshot_steps(self) -> list[int]:
        return self.record["snapshot_steps"]

    @property
    def probe_table(self) -> str:
        return ScaleLayout(self.params.scale).probe_table.format(run=self.spec.id)

    @functools.cached_property
    def record(self) -> dict:
        return json.loads((self.run_dir / "run.json").read_text())

    @functools.cached_property
    def lag_record(self) -> dict[int, dict[int, dict]]:
        """Lag -> snapshot step -> training's later moments at that lag, where recorded
        (the main lag and the also-lags; none without the activation probe)."""
        lag = shift_lag(self.params, self.spec)
        lags = (lag, *also_lags(self.params, self.spec)) if lag else ()
        expected = self.record.get("sha256", {}).get(LAG_RECORD)
        path = self.run_dir / LAG_RECORD
        return load_lag_record(path, expected, self._rebuild, lags, self.probe_x, self.signature)

    @property
    def signature(self) -> str:
        """What a recorded lag moment must have been measured as to stand for this probe's."""
        return record_signature(self.params.probe.activations.coordinates)

    @property
    def _rebuild(self) -> str:
        return (
            f"snakemake --cores all --forcerun train {self.probe_table}"
            f" --config scale={self.params.scale}"
        )

    def load(self, step: int) -> None:
        """Put the snapshot of `step` into the model and set the noise to step t's; a
        snapshot whose bytes differ from the sha256 training recorded is refused."""
        expected = self.record.get("sha256", {}).get("snapshots", {}).get(str(step))
        path = snapshot_path(self.snapshots, step)
        state = load_torch(
            path, expected, self._rebuild, map_location=self.device, weights_only=True
        )
        self.model.load_state_dict(state)
        set_step(self.noise, step)

    def measure(
        self, step: int, probes: list[Probe]
    ) -> Iterator[tuple[str, list[tuple[int, str, float]], float]]:
        """Per probe, in order: (name, its rows (layer, metric, value), seconds it took)."""
        self.load(step)
        record = self.lag_record if self.use_lag_record else {}
        lag = shift_lag(self.params, self.spec)
        later = record.get(lag, {}).get(step)
        also_at = also_lags(self.params, self.spec)
        also = {L: record[L][step] for L in also_at if step in record.get(L, {})}
        ctx = SnapshotContext(
            self.spec, self.params, step, self.model, self.probe_x, self.probe_y, self.task,
            later, also,
        )  # fmt: skip
        with preserved_state(self.model), frozen_stats(self.model):
            for probe in probes:
                start = time.perf_counter()
                rows = list(probe.measure(ctx))
                if str(self.device).startswith("cuda"):
                    torch.cuda.synchronize()
                yield probe.name, rows, time.perf_counter() - start


def probe_run(
    spec: RunSpec,
    params: Params,
    prepared: Path,
    run_dir: Path,
    snapshots: Path,
    out: Path,
    device: str = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Probe the snapshots listed in run_dir/run.json; write `out` (CSV, COLUMNS).

    The table holds measurements only, so the same snapshots always give the same bytes;
    the seconds each probe took go to standard error (the job's log).
    """
    prober = SnapshotProber(spec, params, prepared, run_dir, snapshots, device)
    probes = make_probes(params, params.probe.probes_of(spec.model, spec.variant, spec.lr))
    steps = prober.snapshot_steps()
    settings = params.training(spec.model)
    _, dense = snapshot_plan(settings)
    rows = []
    seconds = {probe.name: 0.0 for probe in probes}
    for step in tqdm(steps, desc=f"probe {spec.id}", disable=not progress):
        names = probes_at(step, dense, [p.name for p in probes], settings)
        for name, measured, spent in prober.measure(step, [p for p in probes if p.name in names]):
            rows += [
                (spec.id, step, layer, name, metric, value) for layer, metric, value in measured
            ]
            seconds[name] += spent
    summary = ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items())
    print(f"probe {spec.id}: {len(steps)} snapshots; {summary}", file=sys.stderr)
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(out, table)
    return table
