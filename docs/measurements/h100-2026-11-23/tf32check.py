"""Which precision do the convolutions of a BN VGG step (width 1.0, batch 128) run in,
and how fast, in a fresh process: flags, the top CUDA kernels' names and ms/step."""

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from bnpipe import speed
from bnpipe.bench import _timed, bench_task
from bnpipe.cli import load_scale
from bnpipe.models import build_model
from bnpipe.params import RunSpec

dev = "cuda" if torch.cuda.is_available() else "cpu"
params = load_scale(Path("params.yaml"), sys.argv[2] if len(sys.argv) > 2 else "paper")
task = bench_task(params, Path(sys.argv[1]), dev)
spec = RunSpec("vgg", "batchnorm", 0.1, 0)


def flags():
    c = torch.backends.cudnn
    new = {}
    for name, obj in (
        ("cudnn.conv", getattr(c, "conv", None)),
        ("cuda.matmul", torch.backends.cuda.matmul),
        ("backends", torch.backends),
    ):
        if obj is not None and hasattr(obj, "fp32_precision"):
            new[name] = obj.fp32_precision
    return f"cudnn.allow_tf32={c.allow_tf32} matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32} {new}"


print("fresh process:", flags(), flush=True)
plan = speed.StepPlan()
step = speed.TrainingStep(
    speed.prepare(build_model(spec, params).to(dev), plan), task, 0.1, plan, dev
)
print("after TrainingStep(fp32):", flags(), flush=True)


def top_kernels(n=4):
    with profile(
        activities=[ProfilerActivity.CUDA] if dev == "cuda" else [ProfilerActivity.CPU]
    ) as prof:
        for t in range(3):
            step(t)
        if dev == "cuda":
            torch.cuda.synchronize()
    ev = sorted(prof.key_averages(), key=lambda e: -getattr(e, "device_time_total", 0))[:n]
    return "; ".join(f"{e.key[:70]} {getattr(e, 'device_time_total', 0) / 3e3:.2f}ms" for e in ev)


t0 = 0
for rnd in range(2):
    for prec in ("fp32", "tf32", "fp32"):
        speed.set_matmul_precision(dev, prec)
        ms = 1e3 * _timed(step, t0, 40, dev)
        t0 += 45
        print(f"round {rnd} {prec}: {ms:.2f} ms/step  [{flags()}]", flush=True)
speed.set_matmul_precision(dev, "fp32")
print("fp32 kernels:", top_kernels(), flush=True)
speed.set_matmul_precision(dev, "tf32")
print("tf32 kernels:", top_kernels(), flush=True)
# as in the bench process: many more models alive on the device
speed.set_matmul_precision(dev, "fp32")
others = [speed.prepare(build_model(spec, params).to(dev), plan) for _ in range(17)]
print(f"fp32 with 17 more models alive: {1e3 * _timed(step, t0, 40, dev):.2f} ms/step", flush=True)
print("fp32 kernels then:", top_kernels(), flush=True)
