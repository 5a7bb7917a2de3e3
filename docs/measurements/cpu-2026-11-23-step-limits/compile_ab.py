"""The standard VGG's step eager against torch.compile of forward and loss (both
channels_last, fp32), side by side: python compile_ab.py PREPARED VARIANT."""
import copy, dataclasses, statistics, sys, time
from pathlib import Path
import torch
from bnpipe import speed
from bnpipe.bench import bench_task
from bnpipe.cli import load_scale
from bnpipe.models import build_model
from bnpipe.params import RunSpec
torch.set_num_threads(1)
from bnpipe.host_memory import keep_freed_memory; keep_freed_memory()
prepared, variant = Path(sys.argv[1]), sys.argv[2]
params = load_scale("params.yaml", "cpu")
task = bench_task(params, prepared, "cpu")
spec = RunSpec("vgg", variant, 0.1, 0)
plan = speed.resolve(params.speed, "cpu", "vgg")
cplan = dataclasses.replace(plan, compile=True)
torch.manual_seed(0)
base = build_model(spec, params)
steps = {}
for name, p in (("eager", plan), ("compiled", cplan)):
    m = speed.prepare(copy.deepcopy(base), p)
    steps[name] = speed.TrainingStep(m, task, spec.lr, p, "cpu")
for name, st in steps.items():
    a = time.perf_counter()
    for t in range(3): st(t)
    print(name, "first 3 steps", f"{time.perf_counter()-a:.1f} s", flush=True)
diff = max((a - b).abs().max().item() for a, b in zip(*(s.model.parameters() for s in steps.values())))
print("max param diff after 3 steps:", diff)
times = {n: [] for n in steps}
for r in range(8):
    for name, st in steps.items():
        a = time.perf_counter()
        for t in range(3 + 20 * r, 23 + 20 * r): st(t)
        times[name].append((time.perf_counter() - a) / 20)
for n, ts in times.items():
    print(n, f"{1e3*statistics.median(ts):.2f} ms", "eager/this per block:", " ".join(f"{d/t:.3f}" for d, t in zip(times['eager'], ts)), flush=True)
