"""GPU slot leases with a faked GPU count (BNPIPE_GPU_COUNT)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys

import torch

from bnpipe.devices import lease_device


def _hold(lock_dir: str, barrier, queue) -> None:  # in a forked process
    with lease_device(lock_dir) as lease:
        barrier.wait(timeout=30)  # every process holds its lease at this moment
        queue.put((lease.slot, lease.visible))


def _held_at_once(lock_dir, n: int) -> list[tuple[int | None, str | None]]:
    """(slot, device) of `n` forked processes that all hold a lease at one moment."""
    ctx = mp.get_context("fork")
    queue, barrier = ctx.Queue(), ctx.Barrier(n)
    procs = [ctx.Process(target=_hold, args=(str(lock_dir), barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    return [queue.get(timeout=5) for _ in procs]


def test_concurrent_jobs_never_share_a_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("BNPIPE_GPU_COUNT", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    held = _held_at_once(tmp_path, 8)
    assert sorted(slot for slot, _ in held) == list(range(8))  # held at once: 8 distinct
    for slot, visible in held:
        assert visible == str(slot % 2)  # round-robin onto the two GPUs


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


def test_slots_spread_over_the_devices_cuda_visible_devices_lists(tmp_path, monkeypatch):
    """CUDA_VISIBLE_DEVICES=2,5,7 exported: six jobs go two to each of those three, never
    all to one; the list is back in place after each lease."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5,7")
    monkeypatch.setenv("BNPIPE_GPU_COUNT", "8")  # the machine's count must not matter
    held = sorted(_held_at_once(tmp_path, 6))
    assert held == [(0, "2"), (1, "5"), (2, "7"), (3, "2"), (4, "5"), (5, "7")]
    with lease_device(tmp_path) as lease:
        assert os.environ["CUDA_VISIBLE_DEVICES"] == lease.visible == "2"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,5,7"


def test_an_empty_cuda_visible_devices_means_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("BNPIPE_GPU_COUNT", "2")
    with lease_device(tmp_path) as lease:
        assert (lease.slot, lease.visible, lease.device) == (None, None, "cpu")
