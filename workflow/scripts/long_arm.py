"""The long arm: train one run of a scale far past the scale's steps and say after how
many steps a run of that length has settled (bnpipe.analysis.settling), and what training
costs per step (`make long-arm`; the rule long_arm).

  python workflow/scripts/long_arm.py --scale cpu --run vgg-batchnorm-lr0.1-s0 \
      --prepared data/prepared/cpu/cifar10.npz --out results/cpu/long_arm

Writes OUT/RUN/ (the run: history, record; resumes if killed) and OUT/RUN.json: the late
rise at every run length that is a multiple of --every, the first settled length, and
the training cost per step measured on this run.
"""

from pathlib import Path

import pandas as pd

from bnpipe.analysis.settling import candidate_lengths, settle_step
from bnpipe.cli import params_from, run_parser
from bnpipe.files import write_json
from bnpipe.params import read_experiment
from bnpipe.training.aside import train_aside

p = run_parser(__doc__)
p.add_argument("--steps", type=int, help="steps of the long run (default: long_arm.steps)")
p.add_argument("--every", type=int, help="run lengths tried (default: long_arm.every)")
p.add_argument("--out", type=Path, required=True, help="folder of long-arm runs")
args = p.parse_args()
scale_params = params_from(args)  # validates the file and the scale first
scale = scale_params.scale
steps = args.steps or scale_params.long_arm.steps
every = args.every or scale_params.long_arm.every
raw = read_experiment(args.params, scale)
train = raw["scales"][scale].setdefault("train", {})
# Only the length changes: constant lr and one data order make the first T steps those
# of a T-step run
train["steps"] = steps
params, record, run_dir = train_aside(raw, args, "long_arm")
history = pd.read_csv(run_dir / "history.csv")
acc = history.dropna(subset=["train_acc"]).set_index("step").train_acc
a = params.analyze
settling = settle_step(acc, candidate_lengths(steps, every), a.final_fraction,
                       a.plateau_points)  # fmt: skip
timing = record["timing"]
result = {
    "run": args.run,
    "scale": scale,
    "steps": steps,
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
    f"{a.final_fraction:.0%}) from {settling.settled_from} steps of {steps} "
    f"(first below at {settling.first_below})"
)
