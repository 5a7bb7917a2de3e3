import sys, time, statistics, torch, yaml
from bnpipe import speed
from bnpipe.params import load_params
from bnpipe.probes.runner import SnapshotProber
from bnpipe.probes.context import SnapshotContext
from bnpipe.models.state import frozen_stats, preserved_state
from bnpipe.probes.curvature import lanczos_top
from bnpipe.probes.replay import gaussian_like, flat
torch.set_num_threads(1)
rid = sys.argv[1]
params = load_params(yaml.safe_load(open('/work/pc/P.yaml')))
spec = params.run(rid)
pr = SnapshotProber(spec, params, "/work/pc/prep/cifar10.npz", f"/work/pc/runs/{rid}", f"/work/pc/snapshots/{rid}", "cpu")
def once(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t
for step in (1333, 3000):
    pr.load(step)
    ts = speed.TrainingStep(pr.model, pr.task, spec.lr, pr.plan, "cpu")
    steps = [once(lambda: ts(t)) for t in range(step, step + 8)][2:]
    pr.load(step)
    ctx = SnapshotContext(spec, params, step, pr.model, pr.probe_x, pr.probe_y, pr.task, None)
    T = {"point": [], "direct": [], "fc_fwd": [], "fwd": [], "lanczos9": []}
    with preserved_state(pr.model), frozen_stats(pr.model):
        rep = ctx.replay; m = pr.model; g0 = flat(rep.grad0)
        point = {k: v - 0.5 * spec.lr * rep.grad0[k] for k, v in rep.params.items()}
        named = dict(m.named_parameters())
        def direct():
            with torch.no_grad():
                for k, p in named.items(): p.copy_(point[k])
            loss = rep.loss_fn(m(rep.x), rep.y)
            g = torch.autograd.grad(loss, list(named.values()))
            with torch.no_grad():
                for k, p in named.items(): p.copy_(rep.params[k])
            return g
        a = rep.grad_and_loss_at(point)[0]; b = direct()
        same = all(torch.equal(a[k], g) for k, g in zip(named, b))
        for r in range(4):
            T["point"].append(once(lambda: (flat(rep.grad_and_loss_at(point)[0]) - g0).norm().item()))
            T["direct"].append(once(lambda: (flat(list(direct())) - g0).norm().item()))
            with torch.no_grad():
                T["fc_fwd"].append(once(lambda: rep.loss(point)))
                T["fwd"].append(once(lambda: rep.loss_fn(m(rep.x), rep.y)))
        start = gaussian_like(rep.params, 0, 0, "x")
        T["lanczos9"] = [once(lambda: lanczos_top(lambda v: {k: t * 2 for k, t in v.items()}, start, 9, 0.0))]
    st = statistics.median(steps)
    print(rid, step, f"step {st*1e3:.1f} ms", " ".join(f"{k} {statistics.median(v)*1e3:.1f} ms ({statistics.median(v)/st:.3f})" for k, v in T.items()), "direct==point", same, flush=True)
