"""Hessian-vector products with and without second_order_forms' linear rewrite, side by
side in one process (alternating blocks), on cpu-scale snapshots; and each against fp64."""
import sys, time, statistics, copy, torch, yaml
import torch.nn.functional as F
from bnpipe import speed
from bnpipe.params import load_params
from bnpipe.probes import second_order as so
from bnpipe.probes.runner import SnapshotProber
from bnpipe.probes.context import SnapshotContext
from bnpipe.models.state import frozen_stats, preserved_state
from bnpipe.probes.replay import gaussian_like, flat, StepReplay
torch.set_num_threads(1)
new_form = so._linear_feature_major
old_form = lambda self, x: F.linear(x, self.weight, self.bias)
rid, npz, steps = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split(",")]
params = load_params(yaml.safe_load(open('/work/pc/P.yaml')))
spec = params.run(rid)
pr = SnapshotProber(spec, params, npz, f"/work/pc/runs/{rid}", f"/work/pc/snapshots/{rid}", "cpu")
def once(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t
for step in steps:
    pr.load(step)
    ctx = SnapshotContext(spec, params, step, pr.model, pr.probe_x, pr.probe_y, pr.task, None)
    times = {"old": [], "new": [], "step": []}
    errs = {}
    with preserved_state(pr.model), frozen_stats(pr.model):
        rep = ctx.replay
        v = gaussian_like(rep.params, 0, step, "ab")
        ops = {}
        for name, form in (("old", old_form), ("new", new_form)):
            so._linear_feature_major = form
            ops[name] = rep.hvp_operator()
        so._linear_feature_major = new_form
        exact = copy.deepcopy(pr.model).double()
        ref = StepReplay(exact, rep.x.double(), rep.y.double() if rep.y.is_floating_point() else rep.y, rep.loss_fn, rep.lr, 4)
        want = flat(ref.hvp_operator(reuse_graph=False)({k: t.double() for k, t in v.items()}))
        for name in ops:
            got = flat(ops[name](v)); errs[name] = ((got - want).norm() / want.norm()).item()
        for block in range(5):
            for name in ("old", "new"):
                for _ in range(4): times[name].append(once(lambda: ops[name](v)))
    pr.load(step)
    ts = speed.TrainingStep(pr.model, pr.task, spec.lr, pr.plan, "cpu")
    for t in range(step, step + 8): times["step"].append(once(lambda: ts(t)))
    med = {k: statistics.median(x) * 1e3 for k, x in times.items()}
    print(f"{rid} step {step}: training step {med['step']:.2f} ms; product old {med['old']:.2f} ms ({med['old']/med['step']:.2f} steps), new {med['new']:.2f} ms ({med['new']/med['step']:.2f}); new/old {med['new']/med['old']:.3f}; off fp64 old {errs['old']:.1e} new {errs['new']:.1e}", flush=True)
