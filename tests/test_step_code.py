"""Code as a dependency: which files each step reads, their digest, and dvc.yaml's copy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from bnpipe.layout import ANALYSIS_TABLES
from bnpipe.step_code import STEP_CODE, code_digest, code_files

# dvc stage -> the Snakemake steps it runs
STAGES = {"data": ("download", "prepare"), "runs": ("train", "probe"), "analyze": ("analyze",)}
STAGES["report"] = ("report",)
# sources that decide where or how a job runs, never what it computes
NOT_CODE = {
    "src/bnpipe/__init__.py",
    "src/bnpipe/params.py",
    "src/bnpipe/cli.py",
    "src/bnpipe/devices.py",
    "src/bnpipe/host_memory.py",  # how malloc reuses blocks: the same bits either way
    "src/bnpipe/provenance.py",
    "src/bnpipe/layout.py",
    "src/bnpipe/step_code.py",
    "src/bnpipe/bench/__init__.py",  # make bench and probe_cost: no pipeline step
    "src/bnpipe/bench/timing.py",
    "src/bnpipe/bench/probe_cost.py",
    "src/bnpipe/data/__init__.py",
    "src/bnpipe/data/sample.py",  # the committed sample's maker
    "workflow/scripts/make_sample.py",
    "workflow/scripts/probe_cost.py",
    "workflow/scripts/probe_exactness.py",  # a check on finished runs, no pipeline step
    "workflow/scripts/verdict_table.py",  # prints a run's claims.json as Markdown
    "workflow/scripts/bench.py",
    "workflow/scripts/long_arm.py",  # one run past the scale's steps: no pipeline step
}


def _is_code(dep: str) -> bool:
    return dep.startswith(("src/", "workflow/scripts/"))


def test_dvc_yaml_lists_exactly_the_code_of_the_steps_each_stage_runs():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(STAGES)
    for stage, steps in STAGES.items():
        listed = {d for d in stages[stage]["deps"] if _is_code(d)}
        assert listed == {entry for step in steps for entry in STEP_CODE[step]}, stage


def test_every_source_file_is_some_steps_code_or_declared_not_to_be():
    sources = {
        str(p.relative_to(ROOT))
        for folder in ("src/bnpipe", "workflow/scripts")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".html") and "__pycache__" not in p.parts
    }
    covered = {str(f) for step in STEP_CODE for f in code_files(step, ROOT)}
    assert sources - covered - NOT_CODE == set()  # a new module must be placed
    assert sources >= NOT_CODE


def test_the_digest_follows_content_not_timestamps(tmp_path: Path):
    for entry in STEP_CODE["probe"]:
        src = ROOT / entry
        dest = tmp_path / entry
        if src.is_dir():
            for f in src.rglob("*.py"):
                if "__pycache__" not in f.parts:
                    (dest / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                    (dest / f.relative_to(src)).write_bytes(f.read_bytes())
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
    before = code_digest("probe", tmp_path)
    assert before == code_digest("probe", ROOT)
    ics = tmp_path / "src/bnpipe/probes/ics.py"
    ics.touch()
    assert code_digest("probe", tmp_path) == before  # a touch is not a change
    ics.write_text(ics.read_text() + "\n# an edit\n")
    assert code_digest("probe", tmp_path) != before
    (tmp_path / "src/bnpipe/probes/ics.py").unlink()
    with pytest.raises(FileNotFoundError, match="step_code: src/bnpipe/probes"):
        code_digest("probe", tmp_path / "nowhere")


def test_dvc_yaml_lists_analyzes_outputs_as_the_layout_names_them():
    analyze = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["analyze"]
    outs = {next(iter(o)) if isinstance(o, dict) else o for o in analyze["outs"]}
    tables = {f"results/${{scale}}/{name}.csv" for name in ANALYSIS_TABLES}
    assert tables <= outs
    assert outs - tables == {"results/${scale}/plots", "reports/${scale}/claims.json"}
