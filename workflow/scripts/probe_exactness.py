"""Compare a finished run's probes, as the pipeline computes them, with the same probes in
fp64 (bnpipe.probes.exactness), e.g.:
python workflow/scripts/probe_exactness.py --scale cpu --run vgg-batchnorm-lr0.1-s0 \
    --prepared data/prepared/cpu/cifar10.npz --run-dir results/cpu/runs/vgg-batchnorm-lr0.1-s0 \
    --snapshot-dir results/cpu/snapshots/vgg-batchnorm-lr0.1-s0 --steps 1154 1385 --out x.csv"""

from pathlib import Path

from bnpipe.cli import params_from, run_parser, set_up_cpu
from bnpipe.files import write_csv
from bnpipe.probes.exactness import compare_run, worst

p = run_parser(__doc__)
p.add_argument("--run-dir", type=Path, required=True, help="the run's training outputs")
p.add_argument("--snapshot-dir", type=Path, required=True, help="the run's snapshots")
p.add_argument("--steps", type=int, nargs="*", help="snapshot steps, in order (default: all)")
p.add_argument("--out", type=Path, help="CSV of every compared value")
args = p.parse_args()
params = params_from(args)
set_up_cpu(args.threads)
table = compare_run(
    params.run(args.run), params, args.prepared, args.run_dir, args.snapshot_dir, args.steps
)
if args.out:
    write_csv(args.out, table)
outside = table[~table.within]
print(
    f"{args.run}: {len(table)} values at steps {sorted(set(table.step))}; "
    f"{len(outside)} outside their allowed error (1e-3, or an eigenvalue's own residual)"
)
print(worst(table).head(15).to_string(index=False))
