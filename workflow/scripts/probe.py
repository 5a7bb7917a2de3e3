"""Probe one run's snapshots: python workflow/scripts/probe.py --run vgg-batchnorm-lr0.1-s0"""

import sys
from pathlib import Path

from bnpipe.cli import params_from, run_parser, set_up_cpu
from bnpipe.devices import lease_device
from bnpipe.files import CorruptFile
from bnpipe.probes.runner import probe_run

p = run_parser(__doc__)
p.add_argument("--run-dir", type=Path, required=True, help="the run's training outputs")
p.add_argument("--snapshots", type=Path, required=True, help="the run's snapshot directory")
p.add_argument("--out", type=Path, required=True, help="probe table to write (.csv)")
args = p.parse_args()
params = params_from(args)
set_up_cpu(args.threads)
try:
    with lease_device() as lease:
        table = probe_run(
            params.run(args.run),
            params,
            args.prepared,
            args.run_dir,
            args.snapshots,
            args.out,
            device=lease.device,
        )
except CorruptFile as err:
    sys.exit(f"probe: {err}")
print(f"{args.out}: {len(table)} rows")
