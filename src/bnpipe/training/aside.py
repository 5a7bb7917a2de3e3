"""A run of the grid trained aside from the pipeline, with some settings changed (the
long arm's steps, the width check's width), for the scripts that do so
(workflow/scripts/long_arm.py, width_check.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bnpipe.cli import set_up_cpu
from bnpipe.devices import lease_device
from bnpipe.params import Params, ParamsError, load_params
from bnpipe.training.train import RunBusy, train_run


def train_aside(raw: dict, args: argparse.Namespace, prog: str) -> tuple[Params, dict, Path]:
    """Train `args.run` of the grid with `raw` (the scale's params with some settings
    changed: the long arm's steps, the width check's width) into `args.out`/RUN/, two
    snapshots (0, last: nothing is probed) beside it; a run another job holds, or params
    that do not load, end the script with one line. Returns the params, the record and
    the run folder."""
    train = raw["scales"][raw["scale"]].setdefault("train", {})
    train["snapshots"] = 2
    train.setdefault("dense", {})["snapshots"] = 0
    try:
        params = load_params(raw)
        spec = params.run(args.run)  # a run of the grid, or one line that names it
    except ParamsError as err:
        sys.exit(f"{prog}: {err}")
    set_up_cpu(args.threads)
    run_dir, snapshots = args.out / args.run, args.out / f"{args.run}.snapshots"
    try:
        with lease_device() as lease:
            record = train_run(spec, params, args.prepared, run_dir, snapshots, lease.device)
    except RunBusy as err:
        sys.exit(f"{prog}: {err}")
    return params, record, run_dir
