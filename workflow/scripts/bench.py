"""Benchmark bnpipe's training step and probes on this device -> reports/bench.json

python workflow/scripts/bench.py                      # the cpu scale's VGG (width 0.125)
python workflow/scripts/bench.py --scale smoke --steps 3 --repeats 1 --jobs 1 2   # CI

Timing data: the committed CIFAR-10 sample, prepared into a temporary file (a step's
cost does not depend on the images), unless --prepared names a prepared file.
"""

import tempfile
from pathlib import Path

from bnpipe import layout
from bnpipe.bench.timing import run_bench
from bnpipe.cli import load_scale, parser, set_up_cpu
from bnpipe.data.prepare import prepare_cifar10
from bnpipe.devices import lease_device
from bnpipe.files import write_json

SAMPLE = Path(layout.SAMPLE)

p = parser(__doc__.splitlines()[0])
p.set_defaults(scale="cpu")
p.add_argument("--prepared", type=Path, help="a prepared CIFAR-10 file (default: the sample)")
p.add_argument("--out", type=Path, default=Path("reports/bench.json"))
p.add_argument("--steps", type=int, default=20, help="timed steps per block")
p.add_argument(
    "--repeats", type=int, default=15, help="interleaved blocks per mode (6+: a 95%% interval)"
)
p.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4], help="concurrent jobs")
p.add_argument("--window", type=float, default=5.0, help="seconds timed with all jobs running")
p.add_argument("--variants", nargs="+", default=["standard", "batchnorm", "noisy_batchnorm"])
p.add_argument("--compile", action="store_true", help="also time torch.compile (slow start)")
p.add_argument("--projection-steps", type=int, default=3)
p.add_argument("--threads", type=int, default=1, help="CPU threads (the DAG's jobs use 1)")
args = p.parse_args()
set_up_cpu(args.threads)
with tempfile.TemporaryDirectory() as tmp, lease_device() as lease:
    prepared = args.prepared
    if prepared is None:
        prepared = Path(tmp) / "sample.npz"
        prepare_cifar10(SAMPLE, prepared, load_scale(args.params, args.scale).data)
    result = run_bench(
        args.params,
        args.scale,
        prepared,
        lease.device,
        steps=args.steps,
        repeats=args.repeats,
        variants=tuple(args.variants),
        jobs=tuple(args.jobs),
        window_s=args.window,
        compile_too=args.compile,
        projection_steps=args.projection_steps,
    )
write_json(args.out, result)
print(f"{args.out}: written")
for row in result["training_step"]:
    interval = row["ratio_interval"]
    within = f" [{interval['lo']:.2f}, {interval['hi']:.2f}]" if interval else ""
    print(
        f"{row['variant']:>16} {row['mode']:<32} {row['ms_per_step']:7.1f} ms/step, "
        f"{row['ratio_to_plain']:.2f}x{within} the plain loop"
    )
