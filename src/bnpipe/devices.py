"""Which device a job uses: a GPU slot lease, or the CPU.

Snakemake's `gpu` resource only counts jobs; it never says *which* GPU. Each GPU job
therefore leases a slot: slot k is an exclusive flock on `<lock_dir>/slot-k`, and maps
to the k mod n-th usable GPU (those CUDA_VISIBLE_DEVICES lists, else all), so
`--resources gpu=4` on 2 GPUs puts two jobs on each. The lock dies with its process, so
a crashed job's slot frees itself. CUDA_VISIBLE_DEVICES is set before CUDA starts; a
single device already set (a scheduler's assignment, e.g. SLURM) is kept as it is.
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
    """Hold a GPU slot (or nothing, on CPU) for the duration of the block.

    CUDA_VISIBLE_DEVICES decides which GPUs the slots spread over:
      one device ("3", a UUID)  a scheduler's assignment (SLURM): kept, no slot
      several ("0,1", "2,5,7")  slot k -> the k mod n-th of them
      set but empty             no GPU: the CPU
      unset                     slot k -> GPU k mod (GPUs nvidia-smi lists)
    """
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in given.split(",") if d.strip()] if given is not None else None
    if devices is not None and len(devices) <= 1:
        yield Lease(None, devices[0] if devices else None)
        return
    if devices is None:
        devices = [str(k) for k in range(gpu_count())]
        if not devices:
            yield Lease(None, None)
            return
    lock_dir = Path(lock_dir or default_lock_dir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    slot, fd = _take_free_slot(lock_dir)
    try:
        gpu = devices[slot % len(devices)]
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        yield Lease(slot, gpu)
    finally:
        if given is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = given
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
