import time, statistics, torch, contextlib
from pathlib import Path
from torch.func import functional_call
from bnpipe.cli import load_scale
from bnpipe.probes.runner import SnapshotProber
from bnpipe.probes.context import SnapshotContext
from bnpipe.models.state import preserved_state, frozen_stats
from bnpipe.probes import second_order
from bnpipe.probes.replay import gaussian_like, flat
torch.set_num_threads(1)
P = load_scale("/work/pc32/P.yaml")
run = "dln-batchnorm-lr1e-06-s0"
pr = SnapshotProber(P.run(run), P, Path("/work/cpurun3/data/prepared/dln.npz"), Path(f"/work/pc/runs/{run}"), Path(f"/work/pc/snapshots/{run}"), "cpu")
orig = second_order.second_order_forms
@contextlib.contextmanager
def nothing(model):
    yield model
for step in pr.snapshot_steps()[::8]:
    pr.load(step)
    ctx = SnapshotContext(pr.spec, P, step, pr.model, pr.probe_x, pr.probe_y, pr.task, None)
    with preserved_state(pr.model), frozen_stats(pr.model):
        rp = ctx.replay
        v = gaussian_like(rp.params, 0, step, "x")
        # fp64 reference: the model in double
        m64 = pr.model.double()
        p64 = {k: t.double() for k, t in rp.params.items()}
        x64, y64 = rp.x.double(), rp.y.double()
        def loss64(p): return rp.loss_fn(functional_call(m64, (p, {k: b.double() if b.is_floating_point() else b for k, b in rp.buffers.items()}), (x64,)), y64)
        ref = torch.func.jvp(torch.func.grad(loss64), (p64,), ({k: t.double() for k, t in v.items()},))[1]
        pr.model.float()
        res = {}
        for name, forms in (("elementary", orig), ("fused", nothing)):
            import bnpipe.probes.replay as R
            R.second_order_forms = forms
            hvp = rp.hvp_operator(True)
            out = hvp(v); ts = []
            for _ in range(7):
                a = time.perf_counter(); out = hvp(v); ts.append(time.perf_counter() - a)
            err = (flat(out) - flat(ref)).norm() / flat(ref).norm()
            res[name] = f"{1e3*statistics.median(ts):.2f} ms, rel err {err.item():.1e}"
        R.second_order_forms = orig
        print(step, res)
