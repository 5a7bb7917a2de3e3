"""At cpu scale: the activation probe's rows with training's lag record equal those by
replay. python equality.py <run id>...; P.yaml, PREPARED/ and OUT/ as in measure.sh."""

import sys
import time
from pathlib import Path

from bnpipe.cli import load_scale, set_up_cpu
from bnpipe.probes.activations import ActivationProbe
from bnpipe.probes.runner import SnapshotProber

set_up_cpu(1)
params = load_scale(Path("P.yaml"))
for run in sys.argv[1:]:
    spec = params.run(run)
    npz = "PREPARED/" + ("dln.npz" if run.startswith("dln") else "cifar10.npz")
    rows = {}
    for use in (True, False):
        pr = SnapshotProber(
            spec,
            params,
            Path(npz),
            Path(f"OUT/runs/{run}"),
            Path(f"OUT/snapshots/{run}"),
            "cpu",
            lag_record=use,
        )
        probe = ActivationProbe(params.probe.activations)
        t0 = time.perf_counter()
        rows[use] = [r for s in pr.snapshot_steps() for r in list(pr.measure(s, [probe]))[0][1]]
        print(
            run,
            "record" if use else "replay",
            f"{time.perf_counter() - t0:.1f} s",
            len(rows[use]),
            "rows",
        )
    lag = [r for r in rows[True] if "lag_shift" in r[1]]
    print(run, "identical:", rows[True] == rows[False], "lag rows:", len(lag))
