import sys, time, statistics, torch, yaml
import torch.nn.functional as F
from bnpipe import speed
from bnpipe.params import load_params
from bnpipe.probes import second_order as so
from bnpipe.probes.runner import SnapshotProber
from bnpipe.probes.context import SnapshotContext
from bnpipe.models.state import frozen_stats, preserved_state
from bnpipe.probes.landscape import along
import contextlib
torch.set_num_threads(1)
rid = sys.argv[1]
params = load_params(yaml.safe_load(open('/work/pc/P.yaml')))
spec = params.run(rid)
pr = SnapshotProber(spec, params, "/work/pc/prep/dln.npz", f"/work/pc/runs/{rid}", f"/work/pc/snapshots/{rid}", "cpu")
from linear_only import linear_only
def once(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t
for step in (0, 85, 3125):
    pr.load(step)
    ctx = SnapshotContext(spec, params, step, pr.model, pr.probe_x, pr.probe_y, pr.task, None)
    etas = [spec.lr * m for m in torch.logspace(-2, 1.5, 12).tolist()]
    times = {"now": [], "linear": [], "forms": []}
    with preserved_state(pr.model), frozen_stats(pr.model):
        rep = ctx.replay; rep.grad0
        res = {}
        for b in range(4):
            for name in times:
                cm = {"now": contextlib.nullcontext(), "linear": linear_only(pr.model), "forms": so.second_order_forms(pr.model)}[name]
                with cm:
                    times[name].append(once(lambda: res.__setitem__(name, along(rep, rep.grad0, etas, True))))
    worst = {n: max(abs(a - b) / max(abs(a), 1e-30) for a, b in zip(res[n][1], res["now"][1])) for n in res}
    print(rid, step, {n: f"{statistics.median(v)*1e3:.1f} ms" for n, v in times.items()}, "max rel diff of gpred vs now", {n: f"{w:.1e}" for n, w in worst.items()})
