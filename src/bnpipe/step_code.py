"""Which source files make each step's outputs, and a digest of their content.

Snakemake compares a `shell:` rule's command text, not the code it runs, so an edited
probe would rerun nothing. Each rule therefore carries `code_digest(step)` in its
params: a change of content (never a mere touch) reruns exactly the jobs of the steps
that read the file, and everything downstream of them. dvc.yaml lists the same paths as
its stages' deps (a test keeps the two equal), so `dvc repro` calls Snakemake exactly
when Snakemake has work, and dvc.lock records the code that made the outputs.

Left out on purpose: modules that decide where or how a job runs but not what it
computes (params parsing, paths, devices, provenance, command-line parsing); a change
there reruns nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

STEP_CODE: dict[str, tuple[str, ...]] = {
    "download": ("src/bnpipe/data/sources.py", "workflow/scripts/download.py"),
    "prepare": (
        "src/bnpipe/data/sources.py",
        "src/bnpipe/data/prepare.py",
        "workflow/scripts/prepare.py",
        "workflow/scripts/prepare_dln.py",
    ),
    "train": (
        "src/bnpipe/training",
        "src/bnpipe/data/tasks.py",
        "src/bnpipe/data/batches.py",
        "src/bnpipe/files.py",
        "src/bnpipe/models",
        "src/bnpipe/variants.py",
        "workflow/scripts/train.py",
    ),
    "probe": (
        "src/bnpipe/probes",
        "src/bnpipe/probe_registry.py",
        "src/bnpipe/training/lag_record.py",
        "src/bnpipe/training/schedule.py",  # which probes measure a dense snapshot
        "src/bnpipe/training/speed.py",
        "workflow/scripts/probe.py",
    ),
    "analyze": (
        "src/bnpipe/analysis",
        "src/bnpipe/probe_registry.py",
        "workflow/scripts/analyze.py",
    ),
    "report": (
        "src/bnpipe/report",
        "src/bnpipe/hyperparams.py",
        "src/bnpipe/variants.py",
        "src/bnpipe/analysis/claims",
        "workflow/scripts/report.py",
    ),
}
SUFFIXES = (".py", ".html")  # what counts as code inside a listed folder


def code_files(step: str, root: str | Path = ".") -> list[Path]:
    """The files behind `step`, folders expanded, sorted (relative to `root`)."""
    root = Path(root)
    files: set[Path] = set()
    for entry in STEP_CODE[step]:
        path = root / entry
        if path.is_dir():
            files |= {p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()}
        elif path.exists():
            files.add(path)
        else:
            raise FileNotFoundError(f"bnpipe.step_code: {entry} (code of {step!r}) is missing")
    return sorted(p.relative_to(root) for p in files)


def code_digest(step: str, root: str | Path = ".", extra: tuple[Path, ...] = ()) -> str:
    """Short sha256 over the step's files (and `extra` ones: extension modules), names
    and bytes: equal iff their content is."""
    named = [(str(rel), Path(root) / rel) for rel in code_files(step, root)]
    return _digest(named + [(path.name, path) for path in sorted(extra)])


def _digest(named: list[tuple[str, Path]]) -> str:
    """Short sha256 over (name, file) pairs, names and bytes, in the given order."""
    digest = hashlib.sha256()
    for name, path in named:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


# What DVC's single stage fingerprints: all of the package, the workflow (rules, scripts,
# the protocol) and the Snakefile. Wider than the steps' code on purpose: an edit that
# changes nothing makes DVC call Snakemake, which then finds nothing to do.
FINGERPRINTED = (("src/bnpipe", (".py", ".html")), ("workflow", (".py", ".smk", ".yaml")))
FINGERPRINT = re.compile(r"^(  - code: )([0-9a-f]{12})(.*)$", re.M)  # its line in dvc.yaml


def project_fingerprint(root: str | Path = ".") -> str:
    """Short sha256 over the package, the workflow and the Snakefile (FINGERPRINTED),
    names and bytes: DVC's single stage carries it in its command (dvc.yaml `code`), so
    that an edit anywhere makes the stage changed, with no column per file in `dvc exp
    show`."""
    root = Path(root)
    files = {Path("Snakefile")}
    for folder, suffixes in FINGERPRINTED:
        files |= {
            p.relative_to(root)
            for p in (root / folder).rglob("*")
            if p.suffix in suffixes and p.is_file() and "__pycache__" not in p.parts
        }
    return _digest([(str(rel), root / rel) for rel in sorted(files)])


def recorded_fingerprint(dvc_yaml: str | Path) -> str | None:
    """The fingerprint dvc.yaml's stage carries, or None."""
    m = FINGERPRINT.search(Path(dvc_yaml).read_text())
    return m.group(2) if m else None


def write_fingerprint(dvc_yaml: str | Path, fingerprint: str) -> bool:
    """Put `fingerprint` in dvc.yaml's `code` line; True if it changed."""
    path = Path(dvc_yaml)
    text = path.read_text()
    new, count = FINGERPRINT.subn(lambda m: m.group(1) + fingerprint + m.group(3), text)
    if count != 1:
        raise ValueError(f"{path}: no single `  - code: <12 hex>` line to update")
    if new != text:
        path.write_text(new)
    return new != text


def extension_files(modules: tuple[str, ...]) -> tuple[Path, ...]:
    """The source files of params `extensions` (they may register variants and probes,
    so they count as code of both training and probing)."""
    files = []
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f"bnpipe.step_code: extension {module!r} not found")
        files.append(Path(spec.origin))
    return tuple(files)
