import copy, time, statistics, torch
from pathlib import Path
from bnpipe import speed
from bnpipe.bench import bench_task
from bnpipe.cli import load_scale
from bnpipe.models import build_model
from bnpipe.params import RunSpec
torch.set_num_threads(1)
params = load_scale("params.yaml", "cpu")
task = bench_task(params, Path("/work/cpurun3/data/prepared/cifar10.npz"), "cpu")
spec = RunSpec("vgg", "standard", 0.1, 0)
plan = speed.resolve(params.speed, "cpu", "vgg")
torch.manual_seed(0)
base = build_model(spec, params)
steps = {}
for name, kw in (("default", {}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
    m = speed.prepare(copy.deepcopy(base), plan)
    st = speed.TrainingStep(m, task, spec.lr, plan, "cpu")
    st.optimizer = torch.optim.SGD(m.parameters(), lr=spec.lr, **kw)
    steps[name] = st
for name, st in steps.items():
    for t in range(3): st(t)
same = all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(*(s.model.parameters() for s in steps.values())))
print("params equal after 3 steps:", same)
times = {n: [] for n in steps}
for r in range(6):
    for name, st in steps.items():
        a = time.perf_counter()
        for t in range(3 + 20 * r, 23 + 20 * r): st(t)
        times[name].append((time.perf_counter() - a) / 20)
for n, ts in times.items():
    print(n, f"{1e3*statistics.median(ts):.2f} ms", "ratio to default (median of blocks):", f"{statistics.median(d/t for d, t in zip(times['default'], ts)):.3f}")
# optimizer step alone
for name, st in steps.items():
    opt = st.optimizer; ts = []
    for _ in range(50):
        a = time.perf_counter(); opt.step(); ts.append(time.perf_counter() - a)
    print(name, "optimizer.step alone", f"{1e3*statistics.median(ts):.3f} ms")
