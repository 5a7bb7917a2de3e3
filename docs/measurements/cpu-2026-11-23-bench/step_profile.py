import copy, torch
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
m = speed.prepare(build_model(spec, params), plan)
st = speed.TrainingStep(m, task, spec.lr, plan, "cpu")
for t in range(5): st(t)
with torch.profiler.profile() as p:
    for t in range(5, 25): st(t)
print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=22))
