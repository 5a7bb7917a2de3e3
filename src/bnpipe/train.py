"""Train one run: plain SGD at a constant lr, with snapshots, history and a resume state.

Outputs (paths: bnpipe.layout) under `out` (results/runs/<id>/):
  history.csv    one row per step t < T: train_loss, train_acc on step t's batch (before
                 the update); plus rows at evaluation steps with eval_train_* and test_*
                 (eval mode, running statistics), evaluated on the parameters after t updates
                 (the DLN has no accuracy or test set: those columns stay empty)
  final.pt       the final state_dict (after the last completed update)
  lag_moments.pt the probe batch's moments at step t + lag of each snapshot t, for the
                 activation probe's lag shift (bnpipe.lag_record)
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

from bnpipe import speed
from bnpipe.files import save_torch, sha256_of, write_csv, write_json
from bnpipe.lag_record import LagRecorder, record_signature, shift_lag
from bnpipe.layout import LAG_RECORD, snapshot_path, snapshot_steps_in
from bnpipe.models import build_model
from bnpipe.params import Params, RunSpec
from bnpipe.provenance import device_name, git_state, package_versions
from bnpipe.schedule import snapshot_steps
from bnpipe.tasks import make_task

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
    lag = shift_lag(params)
    return LagRecorder(model, measured, probe_x, lag, coordinates, signature, schedule)


def _train(
    spec: RunSpec,
    params: Params,
    prepared: Path,
    out: Path,
    snapshots: Path,
    device: str,
    progress: bool,
) -> dict:
    work = out / ".work"
    staged = work / "snapshots"  # snapshots taken so far, published at the end
    t_start = time.perf_counter()
    task = make_task(spec, params, prepared, device)
    plan = speed.resolve(params.speed, device, spec.model)
    model = speed.prepare(build_model(spec, params).to(device), plan)
    train_step = speed.TrainingStep(model, task, spec.lr, plan, device)
    settings = params.training(spec.model)
    T = settings.steps
    schedule = set(snapshot_steps(T, settings.snapshots, settings.log_share))
    lag_recorder = _lag_recorder(spec, params, task, model, device, schedule)
    sections = params.run_sections(spec)
    fingerprint = {
        "run": spec.id,
        "params": params.digest(*sections),
        "data": task.data_meta["checksum"],
    }

    state = _load_resume(work, fingerprint, device)
    if state:
        model.load_state_dict(state["model"])
    start = state["step"] if state else 0
    lag_recorder.restore(state.get("lag_record") if state else None, start)
    steps_log: list[dict] = state["steps_log"] if state else []
    evals_log: list[dict] = state["evals_log"] if state else []
    diverged: dict | None = None
    eval_s = 0.0  # seconds spent evaluating in this session (wall_s includes it)

    # Losses and accuracies stay on the device until a flush (avoids a sync every step).
    pending: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    def flush() -> dict | None:
        """Move pending values to the log; return divergence info at the first non-finite loss."""
        if not pending:
            return None
        values = torch.stack([torch.stack([loss, acc]) for _, loss, acc in pending]).cpu()
        for (step, _, _), (loss, acc) in zip(pending, values.tolist(), strict=True):
            if not math.isfinite(loss):
                pending.clear()
                last = steps_log[-1]["train_loss"] if steps_log else float("nan")
                return {"step": step, "last_finite_loss": last}
            steps_log.append({"step": step, "train_loss": loss, "train_acc": acc})
        pending.clear()
        return None

    bar = tqdm(
        total=T, initial=start, desc=spec.id, unit="step", disable=not progress, mininterval=1.0
    )
    for t in range(start, T + 1):
        is_snapshot, is_eval = t in schedule, t % settings.eval_every == 0 or t == T
        is_checkpoint = t > start and t % settings.checkpoint_every == 0
        if is_snapshot or is_eval or is_checkpoint or t % FLUSH_EVERY == 0:
            diverged = flush()
            if diverged:
                break
            if steps_log:
                bar.set_postfix(
                    loss=f"{steps_log[-1]['train_loss']:.3f}",
                    acc=f"{steps_log[-1]['train_acc']:.3f}",
                    refresh=False,
                )
        if is_checkpoint:
            save_torch(
                work / "resume.pt",
                {
                    "fingerprint": fingerprint,
                    "step": t,
                    "model": speed.nchw_state(model),
                    "steps_log": steps_log,
                    "evals_log": evals_log,
                    "lag_record": lag_recorder.state(),
                },
            )
        if is_snapshot:
            save_torch(snapshot_path(staged, t), speed.nchw_state(model))
        if is_eval:
            t_eval = time.perf_counter()
            evals_log.append({"step": t, **_evaluate(model, task)})
            eval_s += time.perf_counter() - t_eval
        lag_recorder.at(t)
        if t == T:
            break
        pending.append((t, *train_step(t)))
        bar.update(1)
    bar.close()
    if not diverged and not all(p.isfinite().all() for p in model.parameters()):
        # A NaN or Inf gradient with a finite loss shows up in the next step's loss; after
        # the last update there is no next step, so look at the parameters themselves.
        last = steps_log[-1]["train_loss"] if steps_log else float("nan")
        diverged = {"step": T - 1, "last_finite_loss": last}
    wall = time.perf_counter() - t_start

    history = pd.DataFrame(steps_log, columns=["step", "train_loss", "train_acc"])
    evals = pd.DataFrame(
        evals_log, columns=["step", "eval_train_loss", "eval_train_acc", "test_loss", "test_acc"]
    )
    history = history.merge(evals, on="step", how="outer").sort_values("step")
    last_eval = evals_log[-1] if evals_log and not diverged else {}
    record = {
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
        "snapshot_steps": snapshot_steps_in(staged),
        "timing": {
            "wall_s": wall,
            "eval_s": eval_s,
            "lag_record_s": lag_recorder.seconds,
            "steps_this_session": max(0, len(steps_log) - start),
            "resumed_from_step": start,
        },
        "provenance": {
            "params": params.section(*sections),
            "params_digest": fingerprint["params"],
            "scale": params.scale,
            "git": git_state(),
            "data": task.data_meta,
            "packages": package_versions(),
            "device": device_name(device),
            "speed": dataclasses.asdict(plan),
        },
    }
    # Publish: snapshots and final state first, run.json last (its presence = complete).
    if snapshots.exists():
        shutil.rmtree(snapshots)
    staged.mkdir(parents=True, exist_ok=True)
    snapshots.parent.mkdir(parents=True, exist_ok=True)
    staged.rename(snapshots)
    write_csv(out / "history.csv", history)
    record["sha256"] = {  # checked when read back (files.load_torch)
        "final.pt": save_torch(out / "final.pt", speed.nchw_state(model)),
        LAG_RECORD: save_torch(out / LAG_RECORD, lag_recorder.state()),
        "snapshots": {
            str(step): sha256_of(snapshot_path(snapshots, step))
            for step in record["snapshot_steps"]
        },
    }
    write_json(out / "run.json", record)
    _clear(work)
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
