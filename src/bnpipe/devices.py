"""Which device a job uses: a GPU slot lease, or the CPU.

Snakemake's `gpu` resource only counts jobs; it never says *which* GPU. Each GPU job
therefore leases a slot: slot k is an exclusive flock on `<lock_dir>/slot-k`, and maps
to GPU k mod n_gpus, so `--resources gpu=4` on 2 GPUs puts two jobs on each. The lock
dies with its process, so a crashed job's slot frees itself. CUDA_VISIBLE_DEVICES is set
before CUDA starts; where a scheduler (SLURM) already set it, the lease keeps that.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_SLOTS = 1024


@dataclass(frozen=True)
class Lease:
    slot: int | None  # None when no slot was leased
    visible: str | None  # the CUDA_VISIBLE_DEVICES in force

    @property
    def device(self) -> str:
        """ "cuda" when a GPU is visible and this torch can use it, else "cpu". Ask only
        inside the lease: it starts CUDA, which must see CUDA_VISIBLE_DEVICES first."""
        import torch

        return "cuda" if self.visible is not None and torch.cuda.is_available() else "cpu"


def gpu_count() -> int:
    """Visible GPUs, counted without starting CUDA. BNPIPE_GPU_COUNT overrides (tests)."""
    if "BNPIPE_GPU_COUNT" in os.environ:
        return int(os.environ["BNPIPE_GPU_COUNT"])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines())


def default_lock_dir() -> Path:
    return Path(os.environ.get("BNPIPE_LOCK_DIR", Path(tempfile.gettempdir()) / "bnpipe-gpu-slots"))


@contextlib.contextmanager
def lease_device(lock_dir: Path | None = None) -> Iterator[Lease]:
    """Hold a GPU slot (or nothing, on CPU) for the duration of the block."""
    if os.environ.get("CUDA_VISIBLE_DEVICES"):  # set by a scheduler: respect it
        yield Lease(None, os.environ["CUDA_VISIBLE_DEVICES"])
        return
    n_gpus = gpu_count()
    if n_gpus == 0:
        yield Lease(None, None)
        return
    lock_dir = Path(lock_dir or default_lock_dir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    slot, fd = _take_free_slot(lock_dir)
    try:
        gpu = str(slot % n_gpus)
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        yield Lease(slot, gpu)
    finally:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        os.close(fd)  # releases the flock


def _take_free_slot(lock_dir: Path) -> tuple[int, int]:
    """Lowest free slot: concurrent callers never get the same one (flock is exclusive)."""
    for slot in range(MAX_SLOTS):
        fd = os.open(lock_dir / f"slot-{slot}", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a curious user
        return slot, fd
    raise RuntimeError(f"{lock_dir}: all {MAX_SLOTS} GPU slots are held")
