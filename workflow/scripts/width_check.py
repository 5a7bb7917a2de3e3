"""The width check: train one VGG run of a scale as the grid does, but at another width
(vgg.width), and record the per-run quantities claim 3 reads (`make width-check`; the
rule width_check).

  python workflow/scripts/width_check.py --scale cpu --run vgg-batchnorm-lr0.1-s0 \
      --width 0.25 --prepared data/prepared/cpu/cifar10.npz --out results/cpu/width_check/w0.25

Writes OUT/RUN/ (the run: history, record; resumes if killed) and OUT/RUN.json: the run's
training accuracy in train mode over the last final_fraction of steps, its late rise (the
settled rule's input) and its mean over the run, computed by the grid's own code
(bnpipe.analysis.quantities), with the width, the device and the commit.
"""

import sys
from pathlib import Path

from bnpipe.analysis.analyze import load_run
from bnpipe.analysis.quantities import run_quantities, runs_table
from bnpipe.cli import params_from, run_parser, set_up_cpu
from bnpipe.devices import lease_device
from bnpipe.files import write_json
from bnpipe.params import load_params, read_experiment
from bnpipe.training.train import RunBusy, train_run

p = run_parser(__doc__)
p.add_argument("--width", type=float, required=True, help="vgg.width of this run")
p.add_argument("--out", type=Path, required=True, help="folder of this width's runs")
args = p.parse_args()
scale_params = params_from(args)  # validates the file and the scale first
if not args.run.startswith("vgg-"):
    sys.exit(f"width_check: {args.run} is not a VGG run (only VGG has a width)")
scale = scale_params.scale
raw = read_experiment(args.params, scale)
preset = raw["scales"][scale]
preset.setdefault("vgg", {})["width"] = args.width
preset["width_check"] = {"widths": [], "runs": []}  # (its own width is now the scale's)
train = preset.setdefault("train", {})
# As the grid trains it, at another width; two snapshots (0, last): nothing is probed
train["snapshots"] = 2
train.setdefault("dense", {})["snapshots"] = 0
params = load_params(raw)
set_up_cpu(args.threads)
run_dir, snapshots = args.out / args.run, args.out / f"{args.run}.snapshots"
try:
    with lease_device() as lease:
        record = train_run(params.run(args.run), params, args.prepared, run_dir, snapshots,
                           lease.device)  # fmt: skip
except RunBusy as err:
    sys.exit(f"width_check: {err}")
run = load_run(run_dir)
row = runs_table([run], params).iloc[0]
mean = run_quantities([run], runs_table([run], params), params)
result = {
    "run": args.run,
    "width": args.width,
    "scale": scale,
    "steps": int(row["steps"]),
    "status": record["status"],
    "train_mode_acc": float(row["train_mode_acc"]),
    "late_rise": float(row["late_rise"]),
    "train_acc_mean": float(mean[mean.quantity == "train_acc_mean"].value.iloc[0]),
    "final_test_acc": float(row["final_test_acc"]),
    "wall_s": record["timing"]["wall_s"],
    "device": record["provenance"]["device"],
    "git": record["provenance"]["git"],
}
write_json(args.out / f"{args.run}.json", result)
print(
    f"{args.run} at width {args.width:g}: training accuracy (train mode, last "
    f"{params.analyze.final_fraction:.0%}) {result['train_mode_acc']:.3f}, late rise "
    f"{result['late_rise'] * 100:+.2f} points"
)
