import sys, torch, yaml, contextlib
from bnpipe.params import load_params
from bnpipe.probes import second_order as so
from bnpipe.probes.runner import SnapshotProber
from bnpipe.probes.context import SnapshotContext
from bnpipe.models.state import frozen_stats, preserved_state
from bnpipe.probes.landscape import along
from bnpipe.probes.replay import flat
torch.set_num_threads(1)
from linear_only import linear_only
for rid in ["dln-batchnorm-lr1e-06-s0", "dln-standard-lr1e-06-s0"]:
    params = load_params(yaml.safe_load(open('/work/pc/P.yaml')))
    spec = params.run(rid)
    pr = SnapshotProber(spec, params, "/work/pc/prep/dln.npz", f"/work/pc/runs/{rid}", f"/work/pc/snapshots/{rid}", "cpu")
    for step in (0, 1, 85, 625, 3125, 10000):
        pr.load(step)
        ctx = SnapshotContext(spec, params, step, pr.model, pr.probe_x, pr.probe_y, pr.task, None)
        with preserved_state(pr.model), frozen_stats(pr.model):
            rep = ctx.replay; g = flat(rep.grad0).norm().item()
            etas = [0.0, spec.lr * 0.01]
            now = along(rep, rep.grad0, etas, True)[1]
            with linear_only(pr.model):
                lin = along(rep, rep.grad0, etas, True)[1]
            print(rid, step, f"floor now {now[0]/g:.1e} linear {lin[0]/g:.1e}; gpred at 0.01 lr: {now[1]/g:.1e} (now) {lin[1]/g:.1e} (linear)")
