"""GPU slot leases with a faked GPU count (BNPIPE_GPU_COUNT)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import torch

from bnpipe.devices import lease_device


def _hold(lock_dir: str, seconds: float, queue) -> None:
    with lease_device(lock_dir) as lease:
        start = time.monotonic()
        time.sleep(seconds)
        queue.put((lease.slot, lease.visible, start, time.monotonic()))


def test_concurrent_jobs_never_share_a_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("BNPIPE_GPU_COUNT", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(str(tmp_path), 0.4, queue)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    held = [queue.get(timeout=5) for _ in procs]
    for slot, visible, _, _ in held:
        assert visible == str(slot % 2)  # round-robin onto the two GPUs
    for i, (slot_a, _, start_a, end_a) in enumerate(held):
        for slot_b, _, start_b, end_b in held[i + 1 :]:
            if start_a < end_b and start_b < end_a:  # held at the same time
                assert slot_a != slot_b
    assert len({slot for slot, *_ in held}) == 8  # all eight overlapped: eight slots


def test_a_killed_holder_frees_its_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("BNPIPE_GPU_COUNT", "1")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    code = (
        "import sys, time\nfrom bnpipe.devices import lease_device\n"
        f"with lease_device({str(tmp_path)!r}) as l:\n"
        "    print(l.slot, flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "0"
    with lease_device(tmp_path) as lease:
        assert lease.slot == 1  # slot 0 is held
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with lease_device(tmp_path) as lease:
        assert (lease.slot, lease.visible) == (0, "0")
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"  # set for CUDA, inside the lease
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_scheduler_choice_is_kept_and_cpu_without_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with lease_device(tmp_path) as lease:
        assert (lease.slot, lease.visible) == (None, "3")
        assert lease.device == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("BNPIPE_GPU_COUNT", "0")
    with lease_device(tmp_path) as lease:
        assert lease.device == "cpu" and lease.slot is None
