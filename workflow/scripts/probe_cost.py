"""Time the probe suite against a training step, on a finished run's snapshots:
python workflow/scripts/probe_cost.py --run vgg-batchnorm-lr0.1-s0 \
    --prepared data/prepared/quick/cifar10.npz --run-dir results/quick/runs/vgg-batchnorm-lr0.1-s0 \
    --snapshot-dir results/quick/snapshots/vgg-batchnorm-lr0.1-s0"""

from pathlib import Path

from bnpipe.bench.probe_cost import probe_cost
from bnpipe.cli import params_from, run_parser, set_up_cpu
from bnpipe.devices import lease_device

p = run_parser(__doc__)
p.add_argument("--run-dir", type=Path, required=True, help="the run's training outputs")
p.add_argument("--snapshot-dir", type=Path, required=True, help="the run's snapshots")
p.add_argument(
    "--snapshots", type=int, default=3, help="snapshots to time, spread over the run; 0 = all"
)
p.add_argument(
    "--channels-last",
    action="store_true",
    help="also time the probes in training's CPU layout (what the exact NCHW form costs)",
)
args = p.parse_args()
params = params_from(args)
set_up_cpu(args.threads)
with lease_device() as lease:
    table = probe_cost(
        params.run(args.run),
        params,
        args.prepared,
        args.run_dir,
        args.snapshot_dir,
        args.snapshots,
        lease.device,
        args.channels_last,
    )
    print(
        f"{args.run} on {lease.device}, {args.threads} thread(s): one training step = "
        f"{table.attrs['train_step_s'] * 1e3:.1f} ms (median beside every snapshot; quartiles "
        + "-".join(f"{1e3 * q:.1f}" for q in table.attrs["train_step_s_quartiles"])
        + " ms)"
    )
print(
    f"lag shift: {table.attrs['lag_recorded']} of {table.attrs['snapshots']} snapshots "
    "recorded by training (the others replay the lag steps)"
)
wide = table.pivot(index="probe", columns="method", values="train_steps")
print(wide.round(1).to_markdown())
products = table.attrs["products"]  # snapshot step -> {products, converged}
if products:
    counts = [int(p["products"]) for p in products.values()]
    converged = sum(int(p["converged"]) for p in products.values())
    print(
        f"sharpness: {converged} of {len(counts)} snapshots converged; Hessian products "
        f"per snapshot (step:products) "
        + " ".join(f"{s}:{int(p['products'])}" for s, p in sorted(products.items()))
        + f"; mean {sum(counts) / len(counts):.1f}"
    )
