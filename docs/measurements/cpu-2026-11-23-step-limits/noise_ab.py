"""The noisy training step with the noise layer's previous form (copied here) against
its in-place form (bnpipe.models.norms), side by side in one process, one thread.

    python noise_ab.py PREPARED VARIANT     (VARIANT: noisy_batchnorm | noisy_standard)

Prints whether losses and parameters are bit-identical after 3 steps from one
initialization, each form's median ms per step over 8 interleaved blocks of 10 steps,
the per-block ratio old/new, and each form's time in the noise layers' forward alone.
"""

import copy
import statistics
import sys
import time
from pathlib import Path

import torch

from bnpipe import speed
from bnpipe.bench import bench_task
from bnpipe.cli import load_scale
from bnpipe.host_memory import keep_freed_memory
from bnpipe.models import build_model, noise_layers
from bnpipe.params import RunSpec
from previous_noise import previous_forward

torch.set_num_threads(1)
keep_freed_memory()  # as every DAG job runs


prepared, variant = Path(sys.argv[1]), sys.argv[2]
params = load_scale("params.yaml", "cpu")
task = bench_task(params, prepared, "cpu")
spec = RunSpec("vgg", variant, 0.1, 0)
plan = speed.resolve(params.speed, "cpu", "vgg")
torch.manual_seed(0)
base = build_model(spec, params)


class NoiseClock:
    """Seconds spent in one model's noise layers' forward passes (hooks on each)."""

    def __init__(self, layers):
        self.total, self.start = 0.0, 0.0
        for layer in layers:
            layer.register_forward_pre_hook(lambda m, a: setattr(self, "start", time.perf_counter()))
            layer.register_forward_hook(lambda m, a, o: self.add(time.perf_counter() - self.start))

    def add(self, seconds):
        self.total += seconds


steps, noise_time = {}, {}
for name in ("old", "new"):
    model = speed.prepare(copy.deepcopy(base), plan)
    if name == "old":
        for layer in noise_layers(model):
            layer.forward = previous_forward.__get__(layer)
    noise_time[name] = NoiseClock(noise_layers(model))
    steps[name] = speed.TrainingStep(model, task, spec.lr, plan, "cpu")
for t in range(3):
    losses = [s(t)[0] for s in steps.values()]
same = torch.equal(*losses) and all(
    torch.equal(a, b) for a, b in zip(*(s.model.parameters() for s in steps.values()), strict=True)
)
print(variant, "bit-identical after 3 steps:", same, flush=True)
times = {n: [] for n in steps}
for clock in noise_time.values():
    clock.total = 0.0  # the timed blocks only
t0 = 3
for block in range(8):
    for name, step in steps.items():
        start = time.perf_counter()
        for t in range(t0, t0 + 10):
            step(t)
        times[name].append((time.perf_counter() - start) / 10)
    t0 += 10
ratios = [a / b for a, b in zip(times["old"], times["new"], strict=True)]
print(
    variant,
    {n: f"{statistics.median(v) * 1e3:.1f} ms/step" for n, v in times.items()},
    "old/new per block", " ".join(f"{r:.3f}" for r in ratios),
    f"median {statistics.median(ratios):.3f}",
    {n: f"noise forward {noise_time[n].total / 80 * 1e3:.1f} ms/step" for n in ("old", "new")},
    flush=True,
)
