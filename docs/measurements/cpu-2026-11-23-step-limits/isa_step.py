"""ms per training step (50 steps after 10) in a fresh process: python isa_step.py
PREPARED VARIANT; run under ONEDNN_MAX_CPU_ISA=AVX2 and =ALL to compare oneDNN's kernels."""
import sys, time
from pathlib import Path
import torch
from bnpipe import speed
from bnpipe.bench import bench_task
from bnpipe.cli import load_scale
from bnpipe.models import build_model
from bnpipe.params import RunSpec
torch.set_num_threads(1)
from bnpipe.host_memory import keep_freed_memory; keep_freed_memory()
params = load_scale("params.yaml", "cpu")
task = bench_task(params, Path(sys.argv[1]), "cpu")
spec = RunSpec("vgg", sys.argv[2], 0.1, 0)
plan = speed.resolve(params.speed, "cpu", "vgg")
torch.manual_seed(0)
m = speed.prepare(build_model(spec, params), plan)
st = speed.TrainingStep(m, task, spec.lr, plan, "cpu")
for t in range(10): st(t)
a = time.perf_counter()
for t in range(10, 60): st(t)
print(sys.argv[2], f"{(time.perf_counter()-a)/50*1e3:.1f} ms/step")
