"""The package layout is the pipeline: each stage imports only the ground floor and the
stages before it, no module imports itself round a cycle, each stage says what it holds
and may import, and no function runs long without saying why."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src"
# stage -> its rank: a module may import the ground floor (rank 0) and lower ranks
STAGES = {"data": 1, "models": 2, "training": 3, "probes": 4, "analysis": 5, "report": 6}
STAGES["bench"] = 6  # beside the report: neither imports the other
LONG = 60  # lines; a longer function says why in its docstring ("long because ...")


def _modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (SRC / "bnpipe").rglob("*.py")
    }


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else "ground"


def _imports(path: Path, known: set[str]) -> set[str]:
    """The bnpipe modules a file imports anywhere (lazy imports inside functions too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bnpipe"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("bnpipe")}
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(p, set(modules)) - {m} for m, p in modules.items()}


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up the pipeline, or between report and bench."""
    out = []
    for module, targets in graph.items():
        stage = _stage(module)
        for target in targets:
            other = _stage(target)
            beside = {stage, other} == {"report", "bench"}
            if STAGES.get(other, 0) > STAGES.get(stage, 0) or beside:
                out.append(f"{module} ({stage}) -> {target} ({other})")
    return sorted(out)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles a depth-first walk of `graph` meets, each from its first module
    back to it."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(t for t in graph.get(m, ()) if t in graph):
            if state.get(t) == 1:
                cycles.append(path[path.index(t) :] + [t])
            elif t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


def test_every_import_goes_down_the_pipeline_or_to_the_ground_floor():
    assert _upward(_graph()) == []


def test_no_module_imports_itself_round_a_cycle():
    assert _cycles(_graph()) == []


def test_each_stage_says_what_it_holds_and_what_it_may_import():
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((SRC / "bnpipe" / stage / "__init__.py").read_text()))
        assert doc and "Imports:" in doc, stage


def test_no_function_runs_long_without_saying_why():
    long = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                says_why = "long " in (ast.get_docstring(node) or "").lower()
                if lines > LONG and not says_why:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == []


def test_the_checks_see_an_upward_import_a_lazy_one_and_a_cycle(tmp_path):
    """The checks are not vacuous: on a graph with the old cycle (params -> the probe
    registry -> a probe -> models -> params), both find exactly what is wrong, and an
    import inside a function counts like any other."""
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from bnpipe.report.page import build_report\n")
    assert _imports(bad, set(_modules())) == {"bnpipe.report.page"}
    graph = {
        "bnpipe.params": {"bnpipe.probe_registry"},
        "bnpipe.probe_registry": {"bnpipe.probes.ics"},
        "bnpipe.probes.ics": {"bnpipe.models"},
        "bnpipe.models": {"bnpipe.params", "bnpipe.data.batches"},
        "bnpipe.data.batches": set(),
    }
    assert _upward(graph) == [
        "bnpipe.probe_registry (ground) -> bnpipe.probes.ics (probes)",
    ]
    assert _cycles(graph) == [
        [
            "bnpipe.models",
            "bnpipe.params",
            "bnpipe.probe_registry",
            "bnpipe.probes.ics",
            "bnpipe.models",
        ]
    ]  # fmt: skip (the walk takes modules in sorted order, so it enters the cycle at models)
    assert _upward({"bnpipe.report.page": {"bnpipe.bench.timing"}}) == [
        "bnpipe.report.page (report) -> bnpipe.bench.timing (bench)"
    ]
