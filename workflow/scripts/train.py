"""Train one run of the grid: python workflow/scripts/train.py --run vgg-batchnorm-lr0.1-s0"""

import sys
from pathlib import Path

from bnpipe.cli import params_from, run_parser, set_up_cpu
from bnpipe.devices import lease_device
from bnpipe.training.train import RunBusy, train_run

p = run_parser(__doc__)
p.add_argument("--out", type=Path, required=True, help="run directory to write")
p.add_argument("--snapshots", type=Path, required=True, help="snapshot directory to write")
args = p.parse_args()
params = params_from(args)
set_up_cpu(args.threads)
try:
    with lease_device() as lease:
        record = train_run(
            params.run(args.run), params, args.prepared, args.out, args.snapshots, lease.device
        )
except RunBusy as err:
    sys.exit(f"train: {err}")
final = ", ".join(f"{k} {v:.4g}" for k, v in record["final"].items() if v == v)  # skip NaN
print(f"{record['id']}: {record['status']}, {final}")
