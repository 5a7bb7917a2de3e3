"""The long arm: train one run of a scale far past the scale's steps and say after how
many steps a run of that length has settled (bnpipe.analysis.settling), and what settling
every run of a settled-network test would cost.

  python workflow/scripts/long_arm.py --scale cpu --run vgg-batchnorm-lr0.1-s0 \
      --steps 15000 --prepared data/prepared/cpu/cifar10.npz --out results/cpu/long_arm

Writes OUT/RUN/ (the run: history, record; resumes if killed) and OUT/RUN.json: the late
rise at every run length that is a multiple of --every, the first settled length, and
the training cost per step measured on this run.
"""

import sys
from pathlib import Path

import pandas as pd

from bnpipe.analysis.settling import candidate_lengths, settle_step
from bnpipe.cli import params_from, run_parser, set_up_cpu
from bnpipe.devices import lease_device
from bnpipe.files import write_json
from bnpipe.params import load_params, read_yaml
from bnpipe.training.train import RunBusy, train_run

p = run_parser(__doc__)
p.add_argument("--steps", type=int, required=True, help="steps of the long run")
p.add_argument("--every", type=int, default=500, help="run lengths tried: every N steps")
p.add_argument("--out", type=Path, required=True, help="folder of long-arm runs")
args = p.parse_args()
scale = params_from(args).scale  # validates the file and the scale first
raw = read_yaml(args.params)
raw["scale"] = scale
train = raw["scales"][scale].setdefault("train", {})
# Only the length changes: constant lr and one data order make the first T steps those
# of a T-step run. Two snapshots (0, last): nothing is probed.
train.update(steps=args.steps, snapshots=2)
params = load_params(raw)
set_up_cpu(args.threads)
run_dir, snapshots = args.out / args.run, args.out / f"{args.run}.snapshots"
try:
    with lease_device() as lease:
        record = train_run(params.run(args.run), params, args.prepared, run_dir, snapshots,
                           lease.device)  # fmt: skip
except RunBusy as err:
    sys.exit(f"long_arm: {err}")
history = pd.read_csv(run_dir / "history.csv")
acc = history.dropna(subset=["train_acc"]).set_index("step").train_acc
a = params.analyze
settling = settle_step(acc, candidate_lengths(args.steps, args.every), a.final_fraction,
                       a.plateau_points)  # fmt: skip
timing = record["timing"]
result = {
    "run": args.run,
    "scale": scale,
    "steps": args.steps,
    "status": record["status"],
    "settling": settling.as_dict(),
    "train_s_per_step": timing["wall_s"] / max(1, timing["steps_this_session"]),
    "threads": args.threads,
    "device": record["provenance"]["device"],
    "final": record["final"],
    "git": record["provenance"]["git"],
}
write_json(args.out / f"{args.run}.json", result)
print(
    f"{args.run}: settled (rise < {a.plateau_points * 100:g} points over the last "
    f"{a.final_fraction:.0%}) from {settling.settled_from} steps of {args.steps} "
    f"(first below at {settling.first_below})"
)
