"""Is a mode's ratio to the plain loop biased by its position in the bench's fixed order?
Plain loop, then three copies of the same default plan (A, B, C), in that order every repeat."""
import os, statistics, sys
from pathlib import Path
import torch
from bnpipe import speed
from bnpipe.bench import bench_task, _plain_loop, _timed
from bnpipe.cli import load_scale
from bnpipe.models import build_model
from bnpipe.params import RunSpec
torch.set_num_threads(1)
from bnpipe.host_memory import keep_freed_memory; keep_freed_memory()
params = load_scale("params.yaml", "cpu")
task = bench_task(params, Path(os.environ["PREPARED"]), "cpu")
variant, repeats = sys.argv[1], int(sys.argv[2])
spec = RunSpec("vgg", variant, 0.1, 0)
plan = speed.resolve(params.speed, "cpu", "vgg")
images, labels = task.data.batch(torch.arange(task.data.n_train))
steppers = {"plain": _plain_loop(build_model(spec, params), images, labels, 128, 0.1)}
for k in "ABC":
    steppers[k] = speed.TrainingStep(speed.prepare(build_model(spec, params), plan), task, 0.1, plan, "cpu")
sec = {k: [] for k in steppers}
for r in range(repeats):
    for k, st in steppers.items():
        sec[k].append(_timed(st, r * 23, 20, "cpu"))
for k in "ABC":
    rs = [p / t for p, t in zip(sec["plain"], sec[k])]
    print(k, f"median ratio {statistics.median(rs):.3f}", f"ms {1e3*statistics.median(sec[k]):.1f}", " ".join(f"{x:.2f}" for x in rs))
print("plain ms", f"{1e3*statistics.median(sec['plain']):.1f}")
