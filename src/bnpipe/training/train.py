"""Train one run: plain SGD at a constant lr, with snapshots, history and a resume state.

Outputs (paths: bnpipe.layout) under `out` (results/runs/<id>/):
  history.csv    one row per step t < T: train_loss, train_acc on step t's batch (before
                 the update); plus rows at evaluation steps with eval_train_* and test_*
                 (eval mode, running statistics), evaluated on the parameters after t updates
                 (the DLN has no accuracy or test set: those columns stay empty)
  final.pt       the final state_dict (after the last completed update)
  lag_moments.pt the probe batch's moments at step t + lag of each snapshot t, for the
                 activation probe's lag shift (bnpipe.training.lag_record)
  run.json       status (completed | diverged), final accuracies, timing, provenance;
                 written last, so its presence means the run is complete
and under `snapshots` (results/snapshots/<id>/): step{t:06d}.pt, the state_dict before
update t at the probe schedule's steps, in NCHW whatever the training layout.
While running, `out/.work/` holds the resume state and the snapshots so far; a killed run
started again continues from its last checkpoint and gives the same numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from bnpipe.data.tasks import make_task
from bnpipe.files import save_torch, sha256_of, write_csv, write_json
from bnpipe.layout import LAG_RECORD, snapshot_path, snapshot_steps_in
from bnpipe.models import build_model
from bnpipe.params import Params, RunSpec
from bnpipe.provenance import device_name, git_state, package_versions
from bnpipe.training import speed
from bnpipe.training.lag_record import LagRecorder, also_lags, record_signature, shift_lag
from bnpipe.training.schedule import snapshot_plan

WRITER_LOCK = "writer.lock"  # in out/.work: one training process per run folder
FLUSH_EVERY = 25  # steps between device->host copies of the logged losses (one sync each)


def train_run(
    spec: RunSpec,
    params: Params,
    prepared: Path,
    out: Path,
    snapshots: Path,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Train one run to completion (or divergence), resuming from `out/.work` if a killed
    run left a resume state there. A second process on the same `out` fails at once."""
    with sole_writer(Path(out) / ".work"):
        return _train(spec, params, prepared, Path(out), Path(snapshots), device, progress)


class RunBusy(RuntimeError):
    """Another process is training the same run folder."""


@contextlib.contextmanager
def sole_writer(work: Path) -> Iterator[None]:
    """An exclusive flock on work/writer.lock for the block; held already -> RunBusy
    naming the holder's pid. The kernel drops the lock with its process (kill -9 too)."""
    work.mkdir(parents=True, exist_ok=True)
    lock = work / WRITER_LOCK
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = lock.read_text().strip() or "unknown"
        os.close(fd)
        raise RunBusy(
            f"{work.parent}: another training process (pid {holder}) is writing this run; "
            "wait for it or stop it"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        if [p.name for p in work.iterdir()] == [WRITER_LOCK]:  # done: leave no trace
            lock.unlink()
            work.rmdir()
        os.close(fd)


def _lag_recorder(
    spec: RunSpec, params: Params, task, model: nn.Module, device: str, schedule: set[int]
) -> LagRecorder:
    """The lag record's reader: the probe batch, read on a copy of the model in the
    activation probe's form (speed.FP64: NCHW, fp64), not in training's."""
    probe_x, _ = task.probe_batch(params.probe.batch_size)
    measured = speed.prepare_measurement(build_model(spec, params).to(device), speed.FP64)
    coordinates = params.probe.activations.coordinates
    signature = record_signature(coordinates)
    lag, also = shift_lag(params, spec), also_lags(params, spec)
    return LagRecorder(model, measured, probe_x, lag, coordinates, signature, schedule, also)


@dataclasses.dataclass
class _Run:
    """Everything one training session holds: what it trains and the logs so far."""

    spec: RunSpec
    params: Params
    work: Path  # out/.work: the resume state and the snapshots taken so far (staged)
    task: object  # bnpipe.data.tasks.CifarTask | DLNTask
    plan: speed.StepPlan
    model: nn.Module
    train_step: speed.TrainingStep
    settings: object  # params.TrainParams of the model
    schedule: set[int]  # the snapshot steps
    lag_recorder: LagRecorder
    fingerprint: dict  # run id, params digest, data checksum: what a resume must match
    start: int = 0  # the step this session starts at (> 0 after a resume)
    # the code's commit as this session started (not as it ended: a checkout edited
    # while a long run trains must not be named as its code)
    git: dict = dataclasses.field(default_factory=git_state)
    steps_log: list[dict] = dataclasses.field(default_factory=list)
    evals_log: list[dict] = dataclasses.field(default_factory=list)
    # losses and accuracies stay on the device until a flush (avoids a sync every step)
    pending: list[tuple[int, torch.Tensor, torch.Tensor]] = dataclasses.field(default_factory=list)
    eval_s: float = 0.0  # seconds spent evaluating in this session (wall_s includes it)

    @property
    def staged(self) -> Path:
        return self.work / "snapshots"

    def flush(self) -> dict | None:
        """Move pending values to the log; return divergence info at the first non-finite loss."""
        if not self.pending:
            return None
        values = torch.stack([torch.stack([loss, acc]) for _, loss, acc in self.pending]).cpu()
        for (step, _, _), (loss, acc) in zip(self.pending, values.tolist(), strict=True):
            if not math.isfinite(loss):
                self.pending.clear()
                return {"step": step, "last_finite_loss": self.last_loss()}
            self.steps_log.append({"step": step, "train_loss": loss, "train_acc": acc})
        self.pending.clear()
        return None

    def last_loss(self) -> float:
        return self.steps_log[-1]["train_loss"] if self.steps_log else float("nan")

    def resume_state(self, t: int) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "step": t,
            "model": speed.nchw_state(self.model),
            "steps_log": self.steps_log,
            "evals_log": self.evals_log,
            "lag_record": self.lag_recorder.state(),
        }


def _train(
    spec: RunSpec,
    params: Params,
    prepared: Path,
    out: Path,
    snapshots: Path,
    device: str,
    progress: bool,
) -> dict:
    """Set up (or resume), run the step loop, publish: the three parts below."""
    t_start = time.perf_counter()
    run = _set_up(spec, params, prepared, out / ".work", device)
    diverged = _step_loop(run, progress)
    wall = time.perf_counter() - t_start
    return _publish(run, diverged, wall, out, snapshots, device)


def _set_up(spec: RunSpec, params: Params, prepared: Path, work: Path, device: str) -> _Run:
    """The run's task, model and step in training's plan, its snapshot schedule and lag
    recorder; then the resume state of this very run, if a killed session left one."""
    task = make_task(spec, params, prepared, device)
    plan = speed.resolve(params.speed, device, spec.model)
    model = speed.prepare(build_model(spec, params).to(device), plan)
    train_step = speed.TrainingStep(model, task, spec.lr, plan, device)
    settings = params.training(spec.model)
    probed, dense = snapshot_plan(settings)
    schedule = set(probed) | set(dense)
    # the lag shift is measured on the schedule's snapshots only (dense ones skip it)
    lag_recorder = _lag_recorder(spec, params, task, model, device, set(probed))
    fingerprint = {
        "run": spec.id,
        "params": params.run_digest(spec),
        "data": task.data_meta["checksum"],
    }
    run = _Run(
        spec,
        params,
        work,
        task,
        plan,
        model,
        train_step,
        settings,
        schedule,
        lag_recorder,
        fingerprint,
    )
    state = _load_resume(work, fingerprint, device)
    if state:
        model.load_state_dict(state["model"])
        run.start = state["step"]
        run.steps_log, run.evals_log = state["steps_log"], state["evals_log"]
    lag_recorder.restore(state.get("lag_record") if state else None, run.start)
    return run


def _step_loop(run: _Run, progress: bool) -> dict | None:
    """Steps start..T: at each step t, in this order, flush the logged losses (stopping at
    the first non-finite one), checkpoint, snapshot, evaluate, record the lag moments,
    then update. Returns the divergence (step, last finite loss), or None."""
    s = run.settings
    T = s.steps
    diverged: dict | None = None
    bar = tqdm(
        total=T,
        initial=run.start,
        desc=run.spec.id,
        unit="step",
        disable=not progress,
        mininterval=1.0,
    )
    for t in range(run.start, T + 1):
        is_snapshot, is_eval = t in run.schedule, t % s.eval_every == 0 or t == T
        is_checkpoint = t > run.start and t % s.checkpoint_every == 0
        if is_snapshot or is_eval or is_checkpoint or t % FLUSH_EVERY == 0:
            diverged = run.flush()
            if diverged:
                break
            if run.steps_log:
                last = run.steps_log[-1]
                loss, acc = f"{last['train_loss']:.3f}", f"{last['train_acc']:.3f}"
                bar.set_postfix(loss=loss, acc=acc, refresh=False)
        if is_checkpoint:
            save_torch(run.work / "resume.pt", run.resume_state(t))
        if is_snapshot:
            save_torch(snapshot_path(run.staged, t), speed.nchw_state(run.model))
        if is_eval:
            t_eval = time.perf_counter()
            run.evals_log.append({"step": t, **_evaluate(run.model, run.task)})
            run.eval_s += time.perf_counter() - t_eval
        run.lag_recorder.at(t)
        if t == T:
            break
        run.pending.append((t, *run.train_step(t)))
        bar.update(1)
    bar.close()
    if not diverged and not all(p.isfinite().all() for p in run.model.parameters()):
        # A NaN or Inf gradient with a finite loss shows up in the next step's loss; after
        # the last update there is no next step, so look at the parameters themselves.
        diverged = {"step": T - 1, "last_finite_loss": run.last_loss()}
    return diverged


def _record(run: _Run, diverged: dict | None, wall: float, device: str) -> dict:
    """run.json's content but the files' digests: status, finals, timing, provenance."""
    spec, params, T = run.spec, run.params, run.settings.steps
    last_eval = run.evals_log[-1] if run.evals_log and not diverged else {}
    sections = params.run_sections(spec)
    return {
        "id": spec.id,
        "model": spec.model,
        "variant": spec.variant,
        "lr": spec.lr,
        "seed": spec.seed,
        "status": "diverged" if diverged else "completed",
        "steps_done": diverged["step"] if diverged else T,
        "diverged": diverged,
        "final": {
            k: last_eval.get(k, float("nan"))
            for k in ("eval_train_acc", "eval_train_loss", "test_acc", "test_loss")
        },
        "snapshot_steps": snapshot_steps_in(run.staged),
        "timing": {
            "wall_s": wall,
            "eval_s": run.eval_s,
            "lag_record_s": run.lag_recorder.seconds,
            "steps_this_session": max(0, len(run.steps_log) - run.start),
            "resumed_from_step": run.start,
        },
        "provenance": {
            "params": params.section(*sections),
            "params_digest": run.fingerprint["params"],
            "scale": params.scale,
            "git": run.git,
            "data": run.task.data_meta,
            "packages": package_versions(),
            "device": device_name(device),
            "speed": dataclasses.asdict(run.plan),
        },
    }


def _publish(
    run: _Run, diverged: dict | None, wall: float, out: Path, snapshots: Path, device: str
) -> dict:
    """Write history.csv, final.pt, the lag record and the snapshots, then run.json last
    (its presence = complete); clear the work folder."""
    history = pd.DataFrame(run.steps_log, columns=["step", "train_loss", "train_acc"])
    evals = pd.DataFrame(
        run.evals_log,
        columns=["step", "eval_train_loss", "eval_train_acc", "test_loss", "test_acc"],
    )
    history = history.merge(evals, on="step", how="outer").sort_values("step")
    record = _record(run, diverged, wall, device)
    # Publish: snapshots and final state first, run.json last (its presence = complete).
    if snapshots.exists():
        shutil.rmtree(snapshots)
    run.staged.mkdir(parents=True, exist_ok=True)
    snapshots.parent.mkdir(parents=True, exist_ok=True)
    run.staged.rename(snapshots)
    write_csv(out / "history.csv", history)
    record["sha256"] = {  # checked when read back (files.load_torch)
        "final.pt": save_torch(out / "final.pt", speed.nchw_state(run.model)),
        LAG_RECORD: save_torch(out / LAG_RECORD, run.lag_recorder.state()),
        "snapshots": {
            str(step): sha256_of(snapshot_path(snapshots, step))
            for step in record["snapshot_steps"]
        },
    }
    write_json(out / "run.json", record)
    _clear(run.work)
    return record


def _evaluate(model: nn.Module, task) -> dict[str, float]:
    """The task's evaluation, in eval mode; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        return task.evaluate(model)
    finally:
        model.train(was_training)


def _load_resume(work: Path, fingerprint: dict, device: str) -> dict | None:
    """The resume state of this very run (same id, params and data), or None."""
    path = work / "resume.pt"
    if not path.exists():
        _clear(work)  # snapshots without a resume state: start over
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # written atomically, so only a damaged disk gets here
        print(f"{path}: unreadable ({type(err).__name__}); starting over", file=sys.stderr)
        state = {}
    if state.get("fingerprint") != fingerprint:
        _clear(work)
        return None
    for step in snapshot_steps_in(work / "snapshots"):  # taken after the checkpoint: redo
        if step >= state["step"]:
            snapshot_path(work / "snapshots", step).unlink()
    return state


def _clear(work: Path) -> None:
    """Empty the work folder but keep the writer's lock file (this process holds it)."""
    for entry in work.iterdir() if work.exists() else ():
        if entry.name != WRITER_LOCK:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
