"""Fault injection through the real tools: kill -9 of training, probing and the report
under Snakemake; bad data; two pipelines (Snakemake, DVC) in one directory; a read-only
output folder. (Library-level faults: test_files, test_train, test_sources, test_params,
test_devices.)"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import copy_built, make_imagefolder_archive
from test_integration import SMK, _copy_checkout, commit_all

from bnpipe.params import PROTOCOL_FILE

pytestmark = pytest.mark.integration
RUN = "dln-standard-lr1e-06-s0"
TARGET = f"results/smoke/runs/{RUN}/run.json"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "BNPIPE_GPU_COUNT": "0",
    }


def _one_long_dln_run(root: Path, steps: int = 10_000) -> Path:
    """A smoke checkout whose DLN run is long enough to be killed (10,000 steps: a few
    seconds on a fast core). Set in params.yaml, as a user sets an experiment, so the
    code's fingerprint in dvc.yaml stays current and `dvc repro` accepts the copy."""
    params = root / "params.yaml"
    params.write_text(
        params.read_text()
        + f"dln: {{train: {{steps: {steps}, eval_every: 500, checkpoint_every: 1000,"
        " snapshots: 6}}\n"
    )
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


def _in_background(cmd: list[str], root: Path) -> subprocess.Popen:
    """Start `cmd` in its own process group (killed as a whole by os.killpg)."""
    return subprocess.Popen(
        cmd,
        cwd=root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


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
    resume = killed / "results" / "smoke" / "runs" / RUN / ".work" / "resume.pt"
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
    a, b = killed / "results" / "smoke" / "runs" / RUN, clean / "results" / "smoke" / "runs" / RUN
    assert (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()
    names = ["runs/" + RUN + "/final.pt"]
    names += [f"snapshots/{RUN}/step{s:06d}.pt" for s in record["snapshot_steps"]]
    for name in names:
        sa, sb = (
            torch.load(killed / "results" / "smoke" / name),
            torch.load(clean / "results" / "smoke" / name),
        )
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name


def test_a_second_pipeline_in_the_same_directory_fails_clearly(tmp_path):
    # long enough to outlast the second Snakemake's start-up on any machine; killed below
    root = _one_long_dln_run(_copy_checkout(tmp_path), steps=2_000_000)
    first = _in_background([*SMK, TARGET], root)
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


def _smk(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [*SMK, *args], cwd=root, env=_env(), capture_output=True, text=True, timeout=900
    )
    if ok:
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _outputs(root: Path) -> dict[str, bytes]:
    """Every file of results/ and reports/ but the logs: path -> bytes."""
    files = [*(root / "results").rglob("*"), *(root / "reports").rglob("*")]
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in files
        if p.is_file() and "logs" not in p.parts and "runs" not in p.parts
    }


def _kill_during(root: Path, script: str, midway, *args: str) -> None:
    """Start Snakemake; kill -9 the job running `script` once `midway()` is true."""
    job = subprocess.Popen(
        [*SMK, *args], cwd=root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    _wait_for(lambda: midway() or job.poll() is not None)
    pids = _pids(f"workflow/scripts/{script}")
    assert pids, f"{script} ended before it could be killed"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    out = job.communicate(timeout=300)[0].decode()
    assert job.returncode != 0, out[-2000:]


def test_kill_9_during_probing_and_during_the_report_then_rerun_equals_a_clean_run(tmp_path):
    root = _copy_checkout(tmp_path)
    params = root / PROTOCOL_FILE  # the protocol's text
    text = params.read_text().replace(  # a probe job of several seconds, to be killed
        "      sharpness: {max_products: 10}\n    analyze: {n_resamples: 199",
        "      sharpness: {max_products: 60, tolerance: 1.0e-9}\n    analyze: {n_resamples: 199",
    )
    text = text.replace(  # the VGG's standard and BN alone: 4 runs of such jobs, not 14
        "      variants: [standard, batchnorm, noisy_batchnorm, l1]\n"
        "      lrs: {vgg: [0.1], dln: [1.0e-6]}",
        "      models: [vgg]\n      variants: [standard, batchnorm]\n      lrs: {vgg: [0.1]}",
    )
    assert text != params.read_text()
    params.write_text(text)
    _smk(root)
    clean = _outputs(root)
    probe = root / "results" / "smoke" / "probes" / "vgg-batchnorm-lr0.1-s0.csv"
    probe.unlink()  # asked for by name, it is probed again; then analyze and report rerun
    started = []

    def probing_for_4_s() -> bool:  # imports take about 2 s, this job's probes 5 s more
        if not started and _pids("workflow/scripts/probe.py"):
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] > 4

    target = str(probe.relative_to(root))
    _kill_during(root, "probe.py", probing_for_4_s, target)
    assert not probe.exists()  # no half-written table under the output's name
    _smk(root, target)  # the same command again completes
    _smk(root)  # and the newer table reruns analyze and report
    assert _outputs(root) == clean

    reports = root / "reports" / "smoke"
    staged = lambda: any(p.is_file() for d in reports.glob(".figures.*") for p in d.iterdir())  # noqa: E731
    _kill_during(root, "report.py", staged, "--forcerun", "report")  # while writing figures
    assert list(reports.glob(".figures.*"))  # a kill -9 leaves its staging folder...
    assert not (reports / "index.html").exists()  # ...and Snakemake drops the failed job's
    _smk(root)
    after = _outputs(root)
    assert after.keys() == clean.keys()  # ...which the rerun clears: nothing stray is left
    assert [k for k in clean if after[k] != clean[k]] == []


def test_bad_data_stops_the_pipeline_before_anything_downstream(tmp_path):
    root = _copy_checkout(tmp_path)
    params = root / PROTOCOL_FILE  # the protocol's text
    text = params.read_text().replace(
        "    data: {source: sample, train_per_class: 30, test_per_class: 10}",
        "    data: {source: cifar10, train_per_class: 3, test_per_class: 1}",
    )
    assert text != params.read_text()
    params.write_text(text)
    archive = tmp_path / "cifar.tar.gz"
    make_imagefolder_archive(archive, n_per_class=3)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])  # truncated
    res = _smk(root, "--config", f"cifar_archive={archive}", ok=False)
    assert res.returncode != 0
    log = (root / "data" / "raw" / "download.log").read_text()
    assert "not a readable tar archive" in log and str(archive) in log, log[-2000:]
    data = root / "data"
    assert not (data / "raw" / "cifar10.tar.gz").exists()  # only the download's own log
    assert not (data / "prepared" / "smoke" / "cifar10.npz").exists()  # (the DLN's may be)
    assert not list(root.glob("results/smoke/runs/vgg-*"))
    assert not (root / "reports" / "smoke").exists()


def test_two_dvc_repro_in_one_directory_the_second_fails_clearly(tmp_path):
    root = _one_long_dln_run(_copy_checkout(tmp_path))
    commit_all(root)
    first = _in_background(["dvc", "repro"], root)
    try:
        _wait_for(lambda: _pids("train.py --params params.yaml") or first.poll() is not None)
        assert first.poll() is None, "the first dvc repro ended before the second began"
        second = subprocess.run(
            ["dvc", "repro"], cwd=root, env=_env(), capture_output=True, text=True, timeout=300
        )
        assert second.returncode != 0
        said = second.stdout + second.stderr  # DVC's lock on the stage's outputs
        assert "is busy, it is being blocked by" in said and "dvc repro" in said, said
        assert first.poll() is None  # the first one goes on
    finally:
        with contextlib.suppress(ProcessLookupError):  # (it may have ended by itself)
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def test_a_read_only_output_folder_fails_the_job_and_keeps_earlier_outputs(smoke_built, tmp_path):
    root = copy_built(smoke_built, tmp_path / "built")  # trained; its probes dropped
    probes = root / "results" / "smoke" / "probes"
    shutil.rmtree(probes)
    runs = {
        p: p.read_bytes() for p in (root / "results" / "smoke" / "runs").rglob("*") if p.is_file()
    }
    probes.mkdir()
    # Root ignores file modes, so a chmod does not make a folder read-only for the tests
    # (CI runs as root); the immutable attribute does, where the file system has it.
    if subprocess.run(["chattr", "+i", str(probes)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        res = _smk(root, "probe_all", ok=False)
        logs = "".join(
            p.read_text() for p in (root / "results" / "smoke" / "logs" / "probe").iterdir()
        )
    finally:
        subprocess.run(["chattr", "-i", str(probes)], check=True)
    assert res.returncode != 0 and "Error in rule probe" in res.stdout + res.stderr
    assert "Operation not permitted" in logs and "results/smoke/probes/" in logs
    assert list(probes.iterdir()) == []
    assert {p: p.read_bytes() for p in runs} == runs  # training outputs untouched
    _smk(root, "probe_all")  # once writable again, the same command completes
    assert len(list(probes.iterdir())) == 14


def _noisy_vgg_checkout(root: Path) -> tuple[Path, list[str]]:
    """A smoke checkout whose VGG trains 300 steps (checkpoints every 50): long enough to
    be killed mid-run; and the train.py command of its noisy-BN run (data prepared)."""
    params = root / PROTOCOL_FILE  # the protocol's text
    text = params.read_text().replace(
        "      steps: 12\n      batch_size: 32\n      eval_every: 4\n"
        "      checkpoint_every: 4\n      snapshots: 3\n",
        "      steps: 300\n      batch_size: 32\n      eval_every: 100\n"
        "      checkpoint_every: 50\n      snapshots: 6\n",
    )
    assert text != params.read_text()
    params.write_text(text)
    prepared = "data/prepared/smoke/cifar10.npz"
    res = subprocess.run([*SMK, prepared], cwd=root, env=_env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    run = "vgg-noisy_batchnorm-lr0.1-s0"
    cmd = [sys.executable, "workflow/scripts/train.py", "--run", run, "--prepared", prepared]
    return root, cmd


def test_kill_9_of_noisy_bn_training_then_resume_gives_the_same_bytes(tmp_path):
    """kill -9 mid-run (after a checkpoint), then the same command: every tensor file and
    the history equal a clean run's byte for byte; so do the recorded sha256s."""
    root, cmd = _noisy_vgg_checkout(_copy_checkout(tmp_path))
    outs = {}
    for name in ("killed", "clean"):
        outs[name] = ["--out", f"{name}/run", "--snapshots", f"{name}/snapshots"]
    job = _in_background([*cmd, *outs["killed"]], root)
    _wait_for(lambda: (root / "killed/run/.work/resume.pt").exists())
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert not (root / "killed/run/run.json").exists()
    for name in ("killed", "clean"):
        subprocess.run([*cmd, *outs[name]], cwd=root, env=_env(), check=True, capture_output=True)
    a, b = (json.loads((root / n / "run" / "run.json").read_text()) for n in ("killed", "clean"))
    assert a["timing"]["resumed_from_step"] >= 50 and b["timing"]["resumed_from_step"] == 0
    assert a["sha256"] == b["sha256"] and a["snapshot_steps"] == b["snapshot_steps"]
    files = ["run/history.csv", "run/final.pt"]
    files += [f"snapshots/step{s:06d}.pt" for s in a["snapshot_steps"]]
    for name in files:
        assert (root / "killed" / name).read_bytes() == (root / "clean" / name).read_bytes(), name
    assert not (root / "killed/run/.work").exists()  # nothing left behind


def test_a_second_writer_on_a_run_folder_fails_at_once_naming_the_holder(tmp_path):
    root, cmd = _noisy_vgg_checkout(_copy_checkout(tmp_path))
    out = ["--out", "run", "--snapshots", "snapshots"]
    first = _in_background([*cmd, *out], root)
    try:
        _wait_for(lambda: (root / "run/.work/writer.lock").exists())
        time.sleep(0.5)
        start = time.monotonic()
        second = subprocess.run([*cmd, *out], cwd=root, env=_env(), capture_output=True, text=True)
        assert time.monotonic() - start < 60 and second.returncode != 0
        line = second.stderr.strip().splitlines()[-1]
        assert line == (
            f"train: run: another training process (pid {first.pid}) is writing this run; "
            "wait for it or stop it"
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def test_a_truncated_snapshot_gives_one_line_naming_the_file_and_the_fix(tmp_path):
    root = _copy_checkout(tmp_path)
    run = "dln-standard-lr1e-06-s0"
    res = subprocess.run(
        [*SMK, f"results/smoke/runs/{run}/run.json"], cwd=root, env=_env(), capture_output=True
    )
    assert res.returncode == 0
    snapshot = root / "results" / "smoke" / "snapshots" / run / "step000020.pt"
    snapshot.write_bytes(snapshot.read_bytes()[:-100])
    res = subprocess.run(
        [*SMK, f"results/smoke/probes/{run}.csv"],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0
    expected = (
        f"probe: results/smoke/snapshots/{run}/step000020.pt: corrupt or truncated (its sha256 "
        "differs from the one recorded when it was written); rebuild it with: snakemake "
        f"--cores all --forcerun train results/smoke/probes/{run}.csv --config scale=smoke"
    )
    assert expected in res.stdout + res.stderr
    assert (
        "Traceback"
        not in (root / "results" / "smoke" / "logs" / "probe" / f"{run}.log").read_text()
    )
