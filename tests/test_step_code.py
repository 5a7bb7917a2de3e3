"""Code as a dependency: which files each step reads, their digest, and dvc.yaml's copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from bnpipe.layout import ANALYSIS_TABLES, EXPERIMENT_METRICS, ScaleLayout
from bnpipe.step_code import STEP_CODE, code_digest, code_files

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
    "workflow/scripts/width_check.py",  # runs at another width: no pipeline step
    "src/bnpipe/training/aside.py",  # only those two scripts train through it
}


def test_dvc_yaml_has_one_stage_with_no_file_dependency():
    """Every file dependency would be a column of `dvc exp show`: the stage reads the
    experiment (params.yaml, whole) and carries the code's fingerprint in its command."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ["bnpipe"]
    stage = stages["bnpipe"]
    assert "deps" not in stage and stage["params"] == [{"params.yaml": None}]
    assert "${code}" in stage["cmd"]


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


def test_dvc_yaml_lists_the_outputs_as_the_layout_names_them():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["bnpipe"]
    outs = {next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]}
    paths = ScaleLayout("${scale}")
    expected = {paths.table(name) for name in ANALYSIS_TABLES}
    expected |= {paths.plots, paths.claims, paths.report, paths.figures}
    expected |= {f"{paths.results}/runs", f"{paths.results}/probes", "data/prepared/${scale}"}
    assert outs == expected
    metrics = [next(iter(m)) for m in stage["metrics"]]
    assert metrics == [EXPERIMENT_METRICS]  # one path for every scale
    assert stage["cmd"].endswith("&& bnpipe metrics")  # which the stage fills


def test_dvc_yaml_carries_the_current_code_fingerprint():
    """DVC's stage sees an edit only through the fingerprint in its command: the committed
    dvc.yaml must carry the code's own (`bnpipe fingerprint --write`; make run does)."""
    from bnpipe.step_code import project_fingerprint, recorded_fingerprint

    assert recorded_fingerprint(ROOT / "dvc.yaml") == project_fingerprint(ROOT), (
        "stale: run `bnpipe fingerprint --write` and commit dvc.yaml"
    )


def test_the_fingerprint_follows_the_protocol_the_rules_and_the_code(tmp_path: Path):
    from bnpipe.cli import fingerprint
    from bnpipe.step_code import project_fingerprint, recorded_fingerprint

    for name in ("src", "workflow", "Snakefile", "dvc.yaml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, tmp_path / name)
    before = project_fingerprint(tmp_path)
    edits = ("workflow/protocol.yaml", "workflow/rules/data.smk", "src/bnpipe/models/dln.py")
    for edited in edits + ("Snakefile", "src/bnpipe/params.py"):
        path = tmp_path / edited
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        assert project_fingerprint(tmp_path) != before, edited
        path.write_bytes(original)
    assert project_fingerprint(tmp_path) == before
    (tmp_path / "workflow/protocol.yaml").write_text("# edited\n", encoding="utf-8")
    assert fingerprint(write=False, check=True, root=tmp_path) == 1  # dvc.yaml is stale
    assert fingerprint(write=True, check=False, root=tmp_path) == 0
    assert recorded_fingerprint(tmp_path / "dvc.yaml") == project_fingerprint(tmp_path)
    assert fingerprint(write=False, check=True, root=tmp_path) == 0


def test_the_stage_puts_the_experiments_metrics_at_one_path(tmp_path: Path, capsys):
    """`bnpipe metrics` copies the metrics.json of params.yaml's scale, byte for byte, to
    the one path DVC reads; a scale with no metrics yet fails, naming the missing file."""
    from bnpipe.cli import publish_metrics

    (tmp_path / "workflow").mkdir()
    shutil.copy2(ROOT / "workflow/protocol.yaml", tmp_path / "workflow/protocol.yaml")
    (tmp_path / "params.yaml").write_text("scale: smoke\n")
    assert publish_metrics(Path("params.yaml"), root=tmp_path) == 2
    assert "results/smoke/metrics.json" in capsys.readouterr().err
    assert not (tmp_path / EXPERIMENT_METRICS).exists()
    made = tmp_path / ScaleLayout("smoke").metrics
    made.parent.mkdir(parents=True)
    made.write_text('{"c1": "S"}\n')
    (tmp_path / EXPERIMENT_METRICS).write_text('{"c1": "F"}\n')  # an earlier experiment's
    assert publish_metrics(Path("params.yaml"), root=tmp_path) == 0
    assert (tmp_path / EXPERIMENT_METRICS).read_bytes() == made.read_bytes()
