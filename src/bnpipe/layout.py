"""Where a run's outputs live: the rules, the scripts and the library take the names
from here.

  results/runs/<id>/         history.csv, final.pt, run.json (its presence = complete)
  results/snapshots/<id>/    step{t:06d}.pt: the state_dict before update t, at the
                             schedule's steps; only the probes read them
  results/probes/<id>.csv    the run's probe table

Snapshots sit apart from the run folder so they can be dropped once probed (Snakemake
`temp`) without touching what training recorded: at the paper scale they would be
198 GB (105 VGG runs x 32 x 59 MB). `keep_snapshots` decides (README "Disk").
"""

from __future__ import annotations

from pathlib import Path

import torch

from bnpipe.models import build_model
from bnpipe.params import Params

RUN_DIR = "results/runs/{run}"
SNAPSHOT_DIR = "results/snapshots/{run}"
PROBE_TABLE = "results/probes/{run}.csv"
KEEP_SNAPSHOTS_UP_TO = 10e9  # bytes: `auto` keeps a scale's snapshots below this total


def snapshot_path(snapshot_dir: str | Path, step: int) -> Path:
    return Path(snapshot_dir) / f"step{step:06d}.pt"


def snapshot_steps_in(snapshot_dir: str | Path) -> list[int]:
    """The steps whose snapshot a folder holds, sorted."""
    return sorted(int(p.stem[4:]) for p in Path(snapshot_dir).glob("step*.pt"))


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
        total += per_model[key] * params.training(spec.model).snapshots
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
