"""Where an artefact came from: params, code version, data, packages, device."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "numpy", "scipy", "pandas", "matplotlib", "snakemake", "dvc", "bnpipe")


def git_state(root: Path | str = ".") -> dict[str, Any]:
    """Commit and dirty flag of the checkout (tracked files only; outputs are ignored)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (FileNotFoundError, subprocess.TimeoutExpired):
        commit, dirty = "", True
    return {"commit": commit or "unknown", "dirty": dirty if commit else None}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
