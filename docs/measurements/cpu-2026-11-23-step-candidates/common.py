"""Shared set-up of this directory's scripts: one thread, glibc's freed blocks kept (as
every bnpipe job), the cpu scale's params and the timing task on PREPARED."""
import os
import statistics
import time
from pathlib import Path

import torch

from bnpipe import speed
from bnpipe.bench import bench_task
from bnpipe.cli import load_scale
from bnpipe.host_memory import keep_freed_memory
from bnpipe.models import build_model
from bnpipe.params import RunSpec

torch.set_num_threads(1)
keep_freed_memory()
PARAMS = load_scale("params.yaml", "cpu")
TASK = bench_task(PARAMS, Path(os.environ["PREPARED"]), "cpu")
PLAN = speed.resolve(PARAMS.speed, "cpu", "vgg")


def training_step(variant: str) -> tuple[torch.nn.Module, speed.TrainingStep]:
    """bnpipe's default step for a fresh VGG of `variant` (seed 0, lr 0.1)."""
    spec = RunSpec("vgg", variant, 0.1, 0)
    torch.manual_seed(0)
    model = speed.prepare(build_model(spec, PARAMS), PLAN)
    return model, speed.TrainingStep(model, TASK, spec.lr, PLAN, "cpu")


_FLUSH = torch.empty(64 * 2**20 // 4)  # 64 MiB: more than the L3 cache


def median_ms(f, n: int = 15, warmup: int = 3, flush: bool = True) -> float:
    """Median ms of f() over n calls after `warmup`, caches flushed before each call
    (as the rest of a training step leaves them) unless flush=False."""
    times = []
    for i in range(warmup + n):
        if flush:
            _FLUSH.fill_(1.0)
        start = time.perf_counter()
        f()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
