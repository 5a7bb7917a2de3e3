"""Are two trainings of one seed byte-identical on this device? One process per call:
python determinism.py PREPARED MODE STEPS -> prints the sha256 of the final state and the
ms per step. MODE: default | deterministic (bnpipe.speed.StepPlan)."""
import hashlib, io, sys, time
from pathlib import Path
import torch
from bnpipe import speed
from bnpipe.bench import bench_task
from bnpipe.cli import load_scale
from bnpipe.models import build_model
from bnpipe.params import RunSpec

prepared, mode, steps = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
params = load_scale("params.yaml", "paper")
import os; device = os.environ.get("DEV", "cuda")
spec = RunSpec("vgg", "batchnorm", 0.1, 0)
torch.manual_seed(0)
plan = speed.StepPlan(deterministic=mode == "deterministic")
model = speed.prepare(build_model(spec, params).to(device), plan)
task = bench_task(params, prepared, device)
step = speed.TrainingStep(model, task, spec.lr, plan, device)
for t in range(3):
    step(t)
(torch.cuda.synchronize() if device != "cpu" else None); start = time.perf_counter()
for t in range(3, steps):
    step(t)
(torch.cuda.synchronize() if device != "cpu" else None); ms = 1e3 * (time.perf_counter() - start) / (steps - 3)
buf = io.BytesIO(); torch.save(speed.nchw_state(model), buf)
print(mode, hashlib.sha256(buf.getvalue()).hexdigest()[:16], f"{ms:.2f} ms/step", flush=True)
