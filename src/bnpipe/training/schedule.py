"""The probe schedule: which steps of a run get a snapshot, and whether the grid's
snapshots are kept after probing (docs/performance.md "Disk")."""

from __future__ import annotations

import numpy as np
import torch

from bnpipe.models import build_model
from bnpipe.params import Params, TrainParams

KEEP_SNAPSHOTS_UP_TO = 10e9  # bytes: `auto` keeps a scale's snapshots below this total


def snapshot_steps(total_steps: int, n: int, log_share: float = 0.5) -> list[int]:
    """n distinct steps in [0, total_steps], always including 0 and total_steps; of the
    n - 2 between, a `log_share` are log-spaced (dense early, where the paper's curves
    move most) and the rest evenly spaced (so that every part of training has snapshots:
    the comparisons use only snapshots taken after both networks left chance, and average
    over windows of steps). A short run, whose networks leave chance late in relative
    terms, wants a small log_share."""
    if n >= total_steps + 1:
        return list(range(total_steps + 1))
    chosen = {0, total_steps}
    n_linear = round((1 - log_share) * (n - 2))
    chosen |= {int(s) for s in np.round(np.linspace(0, total_steps, n_linear + 2))}
    k = n
    while len(chosen) < n:  # fill with log-spaced steps until n are distinct
        log = np.unique(np.round(np.geomspace(1, total_steps + 1, k)).astype(int) - 1)
        for s in log:
            if len(chosen) >= n:
                break
            chosen.add(int(s))
        k *= 2
    return sorted(chosen)


def dense_steps(total_steps: int, snapshots: int, window: tuple[float, ...]) -> list[int]:
    """`snapshots` steps evenly spaced strictly inside the window [lo, hi] (fractions of
    total_steps), e.g. 10 in [0.1, 0.25] of 3,000 steps: every ~41 steps from 341 to 709."""
    if snapshots <= 0:
        return []
    lo, hi = window[0] * total_steps, window[1] * total_steps
    inside = np.round(np.linspace(lo, hi, snapshots + 2)[1:-1]).astype(int)
    return sorted({int(s) for s in inside})


def snapshot_plan(settings: TrainParams) -> tuple[list[int], list[int]]:
    """(schedule, dense): the steps every probe measures (snapshot_steps) and the extra
    steps only train.dense.probes measure (dense_steps, less any already scheduled)."""
    schedule = snapshot_steps(settings.steps, settings.snapshots, settings.log_share)
    d = settings.dense
    extra = [s for s in dense_steps(settings.steps, d.snapshots, d.window) if s not in schedule]
    return schedule, extra


def probes_at(
    step: int, dense: list[int], probe_names: list[str], settings: TrainParams
) -> list[str]:
    """The probes that measure the snapshot of `step`: every one on the schedule's steps,
    only train.dense.probes on the dense steps."""
    if step not in dense:
        return probe_names
    return [name for name in probe_names if name in settings.dense.probes]


def snapshot_bytes(params: Params) -> int:
    """Disk the grid's snapshots take (fp32 state_dicts; torch.save adds ~1 KB each),
    from parameter counts on the meta device: nothing is allocated."""
    total, per_model = 0, {}
    for spec in params.runs():
        key = (spec.model, spec.variant)
        if key not in per_model:
            with torch.device("meta"):
                state = build_model(spec, params).state_dict()
            per_model[key] = sum(v.numel() * v.element_size() for v in state.values())
        schedule, dense = snapshot_plan(params.training(spec.model))
        total += per_model[key] * (len(schedule) + len(dense))
    return total


def keep_snapshots(params: Params, setting: str | bool = "auto") -> bool:
    """`auto`: keep them (re-probing then needs no retraining) unless they would take
    more than KEEP_SNAPSHOTS_UP_TO; True/False force it."""
    if isinstance(setting, bool):
        return setting
    if setting in ("true", "false"):
        return setting == "true"
    if setting != "auto":
        raise ValueError(f"keep_snapshots: {setting!r} is not auto, true or false")
    return snapshot_bytes(params) <= KEEP_SNAPSHOTS_UP_TO
