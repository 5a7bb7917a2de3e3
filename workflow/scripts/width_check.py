"""The width check: train one VGG run of a scale as the grid does, but at another width
(vgg.width), for claim 3's panel (`make width-check`; the rule width_check).

  python workflow/scripts/width_check.py --scale cpu --run vgg-batchnorm-lr0.1-s0 \
      --width 0.25 --prepared data/prepared/cpu/cifar10.npz --out results/cpu/width_check/w0.25

Writes OUT/RUN/, a run folder as the grid's (history.csv, run.json with the width in its
params; resumes if killed), and OUT/RUN.snapshots/ (steps 0 and last: nothing is probed).
The analysis reads the folder with the grid's own code (analyze --width-check), so the
quantities follow the analysis params and code of the day.
"""

import sys
from pathlib import Path

from bnpipe.analysis.analyze import load_run
from bnpipe.analysis.quantities import runs_table
from bnpipe.cli import params_from, run_parser
from bnpipe.params import read_experiment
from bnpipe.training.aside import train_aside

p = run_parser(__doc__)
p.add_argument("--width", type=float, required=True, help="vgg.width of this run")
p.add_argument("--out", type=Path, required=True, help="folder of this width's runs")
args = p.parse_args()
scale_params = params_from(args)  # validates the file and the scale first
if args.run not in [spec.id for spec in scale_params.runs()] or not args.run.startswith("vgg-"):
    sys.exit(f"width_check: {args.run} is not a VGG run of the {scale_params.scale} grid")
scale = scale_params.scale
raw = read_experiment(args.params, scale)
preset = raw["scales"][scale]
preset.setdefault("vgg", {})["width"] = args.width
preset["width_check"] = {"widths": [], "runs": []}  # (its own width is now the scale's)
# As the grid trains it (every draw comes from the seed, the step and its purpose, so
# the snapshot schedule does not move training), at another width
params, record, run_dir = train_aside(raw, args, f"width_check: --width {args.width:g}")
row = runs_table([load_run(run_dir)], params).iloc[0]
print(
    f"{args.run} at width {args.width:g}: {record['status']}, training accuracy (train "
    f"mode, last {params.analyze.final_fraction:.0%}) {row['train_mode_acc']:.3f}, late rise "
    f"{row['late_rise'] * 100:+.2f} points"
)
