"""`make bench`: what a training step and a snapshot's probes cost on this device.

Measured, side by side in one process (a shared machine is noisy: ratios are taken
within each repeat, then the median over repeats, with its distribution-free 95%
interval from 6 repeats on):
  - training images/s of bnpipe's step (speed.TrainingStep: the scale's task, batches
    from the run's counters) with each switch, against a plain PyTorch loop (DataLoader
    over a TensorDataset, shuffled, eager, NCHW, fp32), same model, batch and device;
  - FLOPs of one step (torch.utils.flop_counter, forward + backward, counted on the meta
    device) and the achieved fraction of the device's peak (`device_peak` names it);
  - the probe suite's cost per snapshot in training steps (bench.probe_cost.probe_cost on a
    short run trained here);
  - aggregate steps/s and runs/hour with 1, 2 and 4 training jobs at once on the device,
    one thread each (as the DAG runs them).
Projected, never measured: the `cpu` and `paper` scales' wall time on this machine and
on one H100 (`projection`: FLOPs over a stated utilization, with a kernel-launch floor).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from bnpipe.analysis.stats import median_interval
from bnpipe.files import write_text
from bnpipe.host_memory import keep_freed_memory
from bnpipe.models import build_model, noise_layers, set_step
from bnpipe.params import Params, RunSpec
from bnpipe.provenance import device_name
from bnpipe.training import speed

WARMUP = 3  # steps before each timed block (compile happens in the first)
SETTLE_S = 0.5  # concurrent jobs: seconds from the barrier's opening to the timed window

# Dense peaks from NVIDIA's datasheets (FLOP/s): fp32 on CUDA cores, TF32 and bf16 on
# tensor cores without sparsity. H200 has H100 SXM's compute.
GPU_PEAKS = {
    "H100 SXM": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12},
    "H100 PCIe": {"fp32": 51e12, "tf32": 378e12, "bf16": 756e12},
    "H100 NVL": {"fp32": 60e12, "tf32": 417.5e12, "bf16": 835.5e12},
    "H200": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12},
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12},
}
H100 = "H100 SXM"
# Projection assumptions for one H100 (stated in bench.json and the report):
# of the fp32 peak, for the width-1.0 VGG: measured by `make bench` on an H100 80GB HBM3
# (torch 2.11, cuDNN 9.19, batch 128): BN 30.1%, standard 32.7%, noisy BN 25.9%
# (docs/measurements/h100-2026-11-23)
H100_FP32_UTILIZATION = 0.30
LAUNCH_S = 5e-6  # per aten op when kernels are tiny: CUDA launch plus PyTorch dispatch


def datasheet_entry(gpu_name: str) -> str | None:
    """The GPU_PEAKS entry of a CUDA device name, or None. The SXM H100 names itself by
    its memory ("NVIDIA H100 80GB HBM3"); the PCIe and NVL parts say which they are."""
    if "H100" in gpu_name:
        return next((f"H100 {form}" for form in ("PCIe", "NVL") if form in gpu_name), H100)
    return next((key for key in ("H200", "A100") if key in gpu_name), None)


def device_peak(device: str, threads: int) -> dict:
    """The device's fp32 peak in FLOP/s (`flops`), where the number comes from, and on
    a known GPU the peak of each precision mode (`precisions`: fp32, tf32, bf16)."""
    if str(device).startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
        key = datasheet_entry(name)
        if key is None:
            return {"flops": float("nan"), "source": f"unknown GPU {name!r}: add it to GPU_PEAKS"}
        return {
            "flops": GPU_PEAKS[key]["fp32"],
            "source": f"NVIDIA datasheet, {key} ({name}), dense",
            "precisions": GPU_PEAKS[key],
        }
    flags, mhz = _cpuinfo()
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
    return {
        "flops": threads * mhz * 1e6 * per_cycle,
        "source": (
            f"{threads} core(s) x {mhz:.0f} MHz (/proc/cpuinfo) x {per_cycle} fp32 FLOP/cycle "
            f"({'AVX-512' if per_cycle == 64 else 'AVX2'}: 2 FMA pipes x lanes x 2); an upper "
            "bound that assumes full-width FMA pipes and no turbo"
        ),
    }


def _cpuinfo() -> tuple[set[str], float]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = re.search(r"^flags\s*:(.*)$", text, re.M)
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
    return set(flags.group(1).split()) if flags else set(), float(mhz.group(1)) if mhz else 0.0


def step_cost(params: Params, variant: str) -> dict:
    """FLOPs and aten ops of one VGG training step (forward, backward, SGD update) at the
    params' width and batch size, counted on the meta device (no arithmetic is done)."""
    spec = RunSpec("vgg", variant, 0.1, 0)
    batch = params.train.batch_size
    with torch.device("meta"):
        model = build_model(spec, params)
        x, y = torch.empty(batch, 3, 32, 32), torch.zeros(batch, dtype=torch.long)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.lr)
    noise = noise_layers(model)
    for layer in noise:  # a generator cannot live on the meta device: counted apart below
        layer.active = False
    ops = _OpCounter()
    with FlopCounterMode(display=False) as flops, ops:
        model.train()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return {"flops": flops.get_total_flops(), "aten_ops": ops.count + len(noise) * _noise_ops()}


def _noise_ops() -> int:
    """aten ops of one noise layer's forward and backward (elementwise: no FLOPs counted)."""
    from bnpipe.models.norms import AlgorithmOneNoise
    from bnpipe.params import NoiseParams

    layer = AlgorithmOneNoise(NoiseParams(0.5, 1.25, 0.1, 0.1), layer=1, seed=0)
    set_step([layer], 0)
    x = torch.ones(2, 2, 2, 2, requires_grad=True)
    ops = _OpCounter()
    with ops:
        layer(x).sum().backward()
    return ops.count - 3  # less the sum, its backward and the ones that seed it


class _OpCounter(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts aten ops dispatched (a proxy for kernels launched on a GPU)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


# --- training throughput ------------------------------------------------------------------


def _plain_loop(model, images: torch.Tensor, labels: torch.Tensor, batch: int, lr: float):
    """The reference: DataLoader over normalized float images, eager, NCHW, fp32."""
    loader = DataLoader(
        TensorDataset(images, labels), batch_size=batch, shuffle=True, drop_last=True
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    batches = iter(loader)
    noise = noise_layers(model)  # noisy BN draws each step's noise, as in any loop

    def step(t: int) -> None:
        nonlocal batches
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        model.train()
        set_step(noise, t)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def _timed(
    step: Callable[[int], object], start: int, steps: int, device: str, warmup: int = WARMUP
) -> float:
    """Seconds per step over `steps` steps after `warmup` untimed ones."""
    for t in range(start, start + warmup):
        step(t)
    _sync(device)
    begin = time.perf_counter()
    for t in range(start + warmup, start + warmup + steps):
        step(t)
    _sync(device)
    return (time.perf_counter() - begin) / steps


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def modes(params: Params, device: str, compile_too: bool) -> dict[str, speed.StepPlan]:
    """The step plans compared with the plain loop: bnpipe's default and each switch."""
    on_cuda = str(device).startswith("cuda")
    plans = {
        "bnpipe default": speed.resolve(params.speed, device, "vgg"),
        "bnpipe NCHW fp32": speed.StepPlan(),
        "bnpipe channels_last": speed.StepPlan(channels_last=True),
        "bnpipe channels_last + bf16": speed.StepPlan(channels_last=True, precision="bf16"),
    }
    if on_cuda:
        plans["bnpipe tf32"] = speed.StepPlan(precision="tf32")
        plans["bnpipe cuDNN autotune"] = speed.StepPlan(autotune=True)
        plans["bnpipe deterministic"] = speed.StepPlan(deterministic=True)
    if compile_too:
        plans["bnpipe compile"] = speed.StepPlan(compile=True)
        plans["bnpipe channels_last + compile"] = speed.StepPlan(channels_last=True, compile=True)
    return plans


def throughput(
    params: Params,
    task,
    device: str,
    variants: tuple[str, ...],
    steps: int,
    repeats: int,
    compile_too: bool,
) -> list[dict]:
    """Per variant and mode: median images/s over `repeats` interleaved blocks and the
    median of the per-block ratios to the plain loop."""
    batch = params.train.batch_size
    images, labels = task.data.batch(torch.arange(task.data.n_train))
    rows = []
    for variant in variants:
        spec = RunSpec("vgg", variant, 0.1, 0)
        plans = modes(params, device, compile_too)
        steppers: dict[str, Callable[[int], object]] = {
            "plain loop": _plain_loop(
                build_model(spec, params).to(device), images, labels, batch, spec.lr
            )
        }
        for name, plan in plans.items():
            model = speed.prepare(build_model(spec, params).to(device), plan)
            steppers[name] = speed.TrainingStep(model, task, spec.lr, plan, device)
        seconds: dict[str, list[float]] = {name: [] for name in steppers}
        for r in range(repeats):
            for name, step in steppers.items():
                speed.apply_backend(device, plans.get(name, speed.StepPlan()))
                seconds[name].append(_timed(step, r * (steps + WARMUP), steps, device))
        plain = seconds["plain loop"]
        for name, times in seconds.items():
            ratios = [p / t for p, t in zip(plain, times, strict=True)]
            rows.append(
                {
                    "variant": variant,
                    "mode": name,
                    "plan": plans[name].__dict__ if name in plans else None,
                    "ms_per_step": 1e3 * statistics.median(times),
                    "images_per_s": batch / statistics.median(times),
                    "ratio_to_plain": statistics.median(ratios),
                    "ratio_interval": ratio_interval(ratios),
                    "ratios": ratios,
                }
            )
        speed.apply_backend(device, speed.StepPlan())
    return rows


def ratio_interval(ratios: list[float]) -> dict | None:
    """The per-block ratios' median with its distribution-free 95% interval (two order
    statistics, `stats.median_interval`): {"lo", "hi", "coverage"}, or None below the 6
    blocks such an interval needs. A block's time on a shared machine is skewed (only
    ever slowed), so its ratios get no normal interval. Blocks count as independent:
    a slow drift of the machine's speed across blocks would correlate them, and the
    interval does not model that."""
    interval = median_interval(ratios)
    if not interval.ok:
        return None
    return {"lo": interval.lo, "hi": interval.hi, "coverage": interval.coverage}


# --- concurrent jobs ----------------------------------------------------------------------


def concurrent_steps_per_s(
    params_file: Path, scale: str, prepared: Path, n_jobs: int, window_s: float, device: str
) -> dict:
    """Aggregate training steps/s of `n_jobs` processes training at once, one thread each
    (as the DAG's jobs do). The workers warm up and wait at a barrier; from its opening
    each trains without pause, and counts the steps it finishes inside one shared
    wall-clock window of `window_s` seconds that opens SETTLE_S later. Every count is
    therefore taken while all n jobs run: a fixed number of steps per worker would let
    one that starts late run partly alone (on an H100, 20 steps of 12 ms each)."""
    with tempfile.TemporaryDirectory() as barrier:
        code = (
            "import sys; from bnpipe.bench.timing import _worker; "
            "_worker(*sys.argv[1:4], sys.argv[4], sys.argv[5], int(sys.argv[6]))"
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(params_file), scale, str(prepared), device]
                + [barrier, str(i)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(n_jobs)
        ]
        deadline = time.monotonic() + 600
        while len(list(Path(barrier).glob("ready-*"))) < n_jobs:
            if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"bench: a worker of {n_jobs} concurrent jobs failed")
            time.sleep(0.05)
        opens = time.time() + SETTLE_S
        write_text(Path(barrier) / "go", f"{opens} {opens + window_s}")  # atomic: whole or absent
        results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    rates = [r["steps_per_s"] for r in results]
    return {
        "jobs": n_jobs,
        "steps_per_s": sum(rates),
        "per_job": rates,
        "window_s": window_s,
        "steps_in_window": [r["steps"] for r in results],
    }


def _worker(params_file: str, scale: str, prepared: str, device: str, barrier: str, i: int):
    from bnpipe.cli import load_scale, set_up_cpu

    set_up_cpu(1)  # as a DAG job
    params = load_scale(Path(params_file), scale)
    task = bench_task(params, Path(prepared), device)
    spec = RunSpec("vgg", "batchnorm", 0.1, i)
    plan = speed.resolve(params.speed, device, "vgg")
    step = speed.TrainingStep(
        speed.prepare(build_model(spec, params).to(device), plan), task, spec.lr, plan, device
    )
    for t in range(WARMUP):
        step(t)
    (Path(barrier) / f"ready-{i}").touch()
    go = Path(barrier) / "go"
    while not go.exists():
        time.sleep(0.01)
    opens, closes = map(float, go.read_text().split())
    t = WARMUP
    while time.time() < opens:  # already training when the window opens
        step(t)
        t += 1
    _sync(device)
    begin, first = time.time(), t
    while t == first or time.time() < closes:  # at least one step, however slow
        step(t)
        t += 1
    _sync(device)  # the steps queued on a GPU count once they are done
    print(json.dumps({"steps_per_s": (t - first) / (time.time() - begin), "steps": t - first}))


def bench_task(params: Params, prepared: Path, device: str):
    """The scale's CIFAR task on any prepared CIFAR-10 file (the images' content does not
    change a step's cost)."""
    from bnpipe.data.tasks import CifarTask

    return CifarTask(prepared, None, params.train.batch_size, 0, device, 0)


# --- the probes' cost ---------------------------------------------------------------------


def probe_steps(params: Params, prepared: Path, device: str, variant: str, workdir: Path) -> dict:
    """The probe suite's seconds per snapshot in training steps, on a short run trained
    here (its snapshots at steps 0, ~10 and 20): pipeline and reference forms."""
    import dataclasses

    from bnpipe.bench.probe_cost import probe_cost
    from bnpipe.training.train import train_run

    short = dataclasses.replace(
        params,
        train=dataclasses.replace(
            params.train, steps=20, snapshots=3, eval_every=20, checkpoint_every=20
        ),
    )
    spec = RunSpec("vgg", variant, 0.1, 0)
    run_dir, snapshot_dir = workdir / "runs" / spec.id, workdir / "snapshots" / spec.id
    train_run(spec, short, prepared, run_dir, snapshot_dir, device, progress=False)
    table = probe_cost(spec, short, prepared, run_dir, snapshot_dir, 3, device)
    return {
        "variant": variant,
        "train_step_ms": 1e3 * table.attrs["train_step_s"],
        "hessian_products": table.attrs["products"],
        "rows": table.to_dict("records"),
    }


# --- projection ---------------------------------------------------------------------------


def achieved_flops_per_s(params: Params, prepared: Path, device: str, steps: int) -> float:
    """FLOP/s of one job running bnpipe's default step for BN at the params' width."""
    plan = speed.resolve(params.speed, device, "vgg")
    spec = RunSpec("vgg", "batchnorm", 0.1, 0)
    model = speed.prepare(build_model(spec, params).to(device), plan)
    step = speed.TrainingStep(model, bench_task(params, prepared, device), spec.lr, plan, device)
    return step_cost(params, "batchnorm")["flops"] / _timed(step, 0, steps, device)


def projection(
    scales: dict[str, Params],
    flops_per_s: dict[str, float],
    parallel_speedup: float,
    probe_equiv: float,
) -> dict:
    """Projected wall time of each scale's VGG runs (its DLN runs take minutes), labelled
    a projection. Work = per run: T training steps + snapshots x the probe suite's cost
    in training steps + evaluation (an image's forward pass ~ 1/3 of its share of a
    step), times that variant's FLOPs per step. This machine: work / (one job's measured
    FLOP/s at the scale's width x the measured speedup of concurrent jobs). One H100:
    work / (fp32 peak x an assumed utilization), never below the kernel-launch floor
    (aten ops x LAUNCH_S), which is what binds a width-0.125 VGG."""
    out = {}
    h100_rate = GPU_PEAKS[H100]["fp32"] * H100_FP32_UTILIZATION
    for name, params in scales.items():
        runs = [spec for spec in params.runs() if spec.model == "vgg"]
        t = params.train
        cost = {v: step_cost(params, v) for v in sorted({s.variant for s in runs})}
        evals = t.steps // t.eval_every + 1
        eval_images = (t.eval_train_images or 50_000) + 10_000
        equiv = t.steps + t.snapshots * probe_equiv + evals * eval_images / t.batch_size / 3
        flops = sum(cost[s.variant]["flops"] * equiv for s in runs)
        launch_s = sum(cost[s.variant]["aten_ops"] * equiv for s in runs) * LAUNCH_S
        here = flops / (flops_per_s[name] * parallel_speedup)
        out[name] = {
            "vgg_runs": len(runs),
            "width": params.vgg.width,
            "step_equivalents_per_run": equiv,
            "total_flops": flops,
            "this_machine_hours": here / 3600,
            "h100_hours": max(flops / h100_rate, launch_s) / 3600,
            "h100_bound": "kernel launches" if launch_s > flops / h100_rate else "FLOPs",
        }
    return out


# --- the whole benchmark ------------------------------------------------------------------


def _add_fraction_of_peak(rows: list[dict], params, variants, peak: dict) -> None:
    """Each training-step row gets its FLOPs per step and the fraction of the device's
    peak it reached; a mode's peak is its precision's where the datasheet gives one."""
    for variant in variants:
        flops = step_cost(params, variant)["flops"]
        for row in rows:
            if row["variant"] == variant:
                mode = row["plan"]["precision"] if row["plan"] else "fp32"
                peaks = peak.get("precisions", {"fp32": peak["flops"]})
                row["peak_precision"] = mode if mode in peaks else "fp32"
                row["flops_per_step"] = flops
                seconds = row["ms_per_step"] / 1e3
                row["fraction_of_peak"] = flops / seconds / peaks[row["peak_precision"]]


def _add_runs_per_hour(concurrent: list[dict], jobs: tuple[int, ...], run_equiv: float) -> None:
    """Each concurrency row gets whole runs per hour and its speed-up over one job."""
    single = concurrent[0]["steps_per_s"] if jobs and jobs[0] == 1 else None
    for row in concurrent:
        row["runs_per_hour"] = 3600 * row["steps_per_s"] / run_equiv
        row["speedup_over_one_job"] = row["steps_per_s"] / single if single else None


def run_bench(
    params_file: Path,
    scale: str,
    prepared: Path,
    device: str,
    steps: int = 20,
    repeats: int = 15,
    variants: tuple[str, ...] = ("standard", "batchnorm", "noisy_batchnorm"),
    jobs: tuple[int, ...] = (1, 2, 4),
    window_s: float = 5.0,
    compile_too: bool = False,
    projection_steps: int = 3,
    progress: Callable[[str], None] = print,
) -> dict:
    """Everything `make bench` measures, as one JSON-ready dict (long because it is the
    bench's protocol, read top to bottom: step, probes, concurrency, projection)."""
    from bnpipe.cli import load_scale

    params = load_scale(params_file, scale)
    threads = torch.get_num_threads()
    host_memory_kept = keep_freed_memory()  # as every DAG job runs (bnpipe.cli.set_up_cpu)
    progress(
        f"bench on {device_name(device)}: {scale} scale, VGG width {params.vgg.width:g}, "
        f"batch {params.train.batch_size}"
    )
    task = bench_task(params, prepared, device)
    peak = device_peak(device, threads)
    progress("training step: bnpipe against a plain loop")
    rows = throughput(params, task, device, variants, steps, repeats, compile_too)
    _add_fraction_of_peak(rows, params, variants, peak)
    progress("probe suite per snapshot")
    with tempfile.TemporaryDirectory() as workdir:
        probes = [probe_steps(params, prepared, device, v, Path(workdir)) for v in ("batchnorm",)]
    suite = next(r for r in probes[0]["rows"] if r["probe"] == "all" and r["method"] == "pipeline")
    progress(f"concurrent jobs: {', '.join(map(str, jobs))}")
    concurrent = [
        concurrent_steps_per_s(params_file, scale, prepared, n, window_s, device) for n in jobs
    ]
    # training steps per run, probes included (evaluation aside)
    run_equiv = params.train.steps + params.train.snapshots * suite["train_steps"]
    _add_runs_per_hour(concurrent, jobs, run_equiv)
    speedup = max((r["speedup_over_one_job"] or 1) for r in concurrent) if concurrent else 1
    progress("projection of the cpu and paper scales")
    scales = {name: load_scale(params_file, name) for name in ("cpu", "paper")}
    measured = {
        name: achieved_flops_per_s(p, prepared, device, projection_steps)
        for name, p in scales.items()
    }
    return {
        "device": device_name(device),
        "torch": torch.__version__,
        "threads": threads,
        "host_memory_kept": host_memory_kept,
        "scale": scale,
        "vgg_width": params.vgg.width,
        "batch_size": params.train.batch_size,
        "steps_per_block": steps,
        "repeats": repeats,
        "peak": peak,
        "training_step": rows,
        "probe_cost": probes,
        "run_step_equivalents": run_equiv,
        "concurrent_jobs": concurrent,
        "projection": {
            "label": "PROJECTION, not a measurement",
            "assumptions": {
                "h100_peak_fp32_flops": GPU_PEAKS[H100]["fp32"],
                "h100_fp32_utilization": H100_FP32_UTILIZATION,
                "launch_s_per_aten_op": LAUNCH_S,
                "this_machine_parallel_speedup": speedup,
                "this_machine_flops_per_s_per_job": measured,
                "probe_suite_step_equivalents": suite["train_steps"],
            },
            "scales": projection(scales, measured, speedup, suite["train_steps"]),
        },
    }
