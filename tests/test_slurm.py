"""The smoke DAG through a real one-node SLURM (tests/slurm/start.sh) with
snakemake-executor-plugin-slurm and profiles/slurm, against a local run of the same."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from test_integration import _copy_checkout, _sh

pytestmark = [pytest.mark.integration, pytest.mark.slurm]
# Outputs that carry wall times or job ids and so differ between any two runs:
#   run.json (timing), runs.csv (wall_s), the report and each figure's provenance JSON
#   (they show the runs table and the git state of the copy), logs.
SAME_BYTES = [
    "results/smoke/runs/*/history.csv",
    "results/smoke/runs/*/final.pt",
    "results/smoke/snapshots/*/*.pt",
    "results/smoke/probes/*.csv",
    "results/smoke/curves.csv",
    "results/smoke/probe_curves.csv",
    "results/smoke/quantities.csv",
    "results/smoke/summary.csv",
    "results/smoke/differences.csv",
    "results/smoke/ics_vs_performance.csv",
    "results/smoke/metrics.json",
    "reports/smoke/claims.json",
    "reports/smoke/figures/*.svg",
]


def _slurm_up() -> bool:
    """A SLURM to submit to: tests/slurm/start.sh's where none answers or where it is the
    one start.sh configured (run as root, it restarts it if its configuration is older);
    any other that answers `sinfo` is used as it is."""
    if shutil.which("sinfo") is None:
        return False
    answers = subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0
    conf = Path("/etc/slurm/slurm.conf")
    ours = not answers or (conf.is_file() and "ClusterName=bnpipe" in conf.read_text())
    if ours and os.geteuid() == 0:
        return subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "start.sh")]).returncode == 0
    return answers


def _kept_for_s() -> int:
    """How long SLURM keeps a finished job's record (MinJobAge, seconds)."""
    config = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, check=True
    ).stdout
    return int(re.search(r"^MinJobAge\s*=\s*(\d+)", config, re.MULTILINE).group(1))


@pytest.fixture(scope="module")
def slurm():
    if not _slurm_up():
        if os.environ.get("CI"):
            pytest.fail("no SLURM: .ci/run installs slurm-wlm and munge and starts one")
        pytest.skip("no SLURM here (apt-get install slurm-wlm munge; tests/slurm/start.sh)")
    pytest.importorskip("snakemake_executor_plugin_slurm")
    # the test reads every job it submitted back from `scontrol show job`: a cluster that
    # forgets finished jobs within the DAG's time (the default, 300 s) cannot show them
    if _kept_for_s() < 3600:
        pytest.fail(
            f"this SLURM forgets finished jobs after {_kept_for_s()} s (MinJobAge); "
            "tests/slurm/start.sh configures one that keeps them 12 h"
        )


def test_the_smoke_dag_through_slurm_equals_a_local_run(tmp_path, slurm, smoke_built):
    local = smoke_built  # the session's local build (read only)
    cluster = _copy_checkout(tmp_path / "cluster")
    out = _sh(
        [
            "snakemake",
            "--profile",
            "profiles/slurm",
            "--jobs",
            "4",
            "--default-resources",
            "slurm_partition=gpu",
            "runtime=30",
            "mem_mb=1000",
            "cpus_per_task=1",
        ],
        cluster,
    )
    n_runs = len(list((local / "results" / "smoke" / "runs").iterdir()))
    for pattern in SAME_BYTES:
        files = sorted(p.relative_to(local) for p in local.glob(pattern))
        assert files, pattern
        for rel in files:
            assert filecmp.cmp(local / rel, cluster / rel, shallow=False), rel
    # every train and probe job went through sbatch with one GPU; nothing else did
    jobs = subprocess.run(
        ["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    ours = [line for line in jobs if str(cluster) in line]
    rules = [re.search(r"Comment=rule_(\w+?)_wildcards", line) for line in ours]
    by_rule = [m.group(1) for m in rules if m]
    assert sorted(set(by_rule)) == ["probe", "train"], by_rule
    assert by_rule.count("train") == by_rule.count("probe") == n_runs
    assert all(re.search(r"TresPerJob=gres[:/]gpu:1", line) for line in ours)
    assert "Invalid" not in out
