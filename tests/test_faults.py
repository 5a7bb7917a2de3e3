"""Fault injection through the real tools: kill -9 of a training job under Snakemake, and
two pipelines started in one directory. (Library-level faults: test_train, test_sources,
test_params, test_devices.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_integration import SMK, _copy_checkout

pytestmark = pytest.mark.integration
RUN = "dln-standard-lr1e-06-s0"
TARGET = f"results/runs/{RUN}/run.json"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "BNPIPE_GPU_COUNT": "0",
    }


def _one_long_dln_run(root: Path) -> Path:
    """A smoke checkout whose grid is one DLN run, long enough (10,000 steps) to be killed."""
    params = root / "params.yaml"
    text = params.read_text().replace(
        "    dln: {examples: 50, train: {steps: 20, batch_size: 50, eval_every: 5, snapshots: 3}}",
        "    dln: {examples: 50, train: {steps: 10000, batch_size: 50, eval_every: 500,"
        " checkpoint_every: 1000, snapshots: 6}}",
    )
    assert text != params.read_text()
    params.write_text(text)
    return root


def _pids(pattern: str) -> list[int]:
    """Processes whose command line contains `pattern` (this test's own excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if pattern in cmdline and "python" in cmdline:
                found.append(int(entry.name))
    return found


def _wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_kill_9_during_training_then_rerun_resumes_to_identical_outputs(tmp_path):
    killed = _one_long_dln_run(_copy_checkout(tmp_path / "killed"))
    clean = _one_long_dln_run(_copy_checkout(tmp_path / "clean"))
    job = subprocess.Popen(
        [*SMK, TARGET], cwd=killed, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    resume = killed / "results" / "runs" / RUN / ".work" / "resume.pt"
    _wait_for(lambda: resume.exists() or job.poll() is not None)
    pids = _pids(f"train.py --params params.yaml --scale smoke --run {RUN}")
    assert pids, "the training job ended before it could be killed"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    job.communicate(timeout=120)
    assert job.returncode != 0  # Snakemake reports the failed job
    assert not (killed / TARGET).exists()  # an incomplete run is never taken as done

    for root in (killed, clean):
        res = subprocess.run(
            [*SMK, TARGET], cwd=root, env=_env(), capture_output=True, text=True, timeout=600
        )
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    record = json.loads((killed / TARGET).read_text())
    assert record["timing"]["resumed_from_step"] >= 1000  # from its last checkpoint
    a, b = killed / "results" / "runs" / RUN, clean / "results" / "runs" / RUN
    assert (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()
    names = ["final.pt", *(f"snapshots/step{s:06d}.pt" for s in record["snapshot_steps"])]
    for name in names:
        sa, sb = torch.load(a / name), torch.load(b / name)
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name


def test_a_second_pipeline_in_the_same_directory_fails_clearly(tmp_path):
    root = _one_long_dln_run(_copy_checkout(tmp_path))
    first = subprocess.Popen(
        [*SMK, TARGET],
        cwd=root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        locks = root / ".snakemake" / "locks"
        _wait_for(lambda: locks.exists() and any(locks.iterdir()))
        second = subprocess.run(
            [*SMK, TARGET], cwd=root, env=_env(), capture_output=True, text=True, timeout=300
        )
        assert second.returncode != 0
        assert "cannot be locked" in second.stdout + second.stderr
        assert first.poll() is None  # the first one goes on, untouched
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
