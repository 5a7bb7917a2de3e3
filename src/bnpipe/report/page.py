"""The HTML report's page: one self-contained page, one section per claim of the paper.

Every figure is inline (PNG as a data URI; no request leaves the page) and is also written
as SVG, PNG and a JSON of its provenance under reports/figures/. Verdicts, tests and
numbers come from claims.json, which analyze computed; nothing here judges a claim.
"""

from __future__ import annotations

import base64
import html
import json
import math
import shutil
from collections import Counter
from pathlib import Path
from string import Template

import pandas as pd

from bnpipe import hyperparams, layout, variants
from bnpipe.analysis.claims.judging import INSUFFICIENT, METHOD, NOT_TESTABLE, shown
from bnpipe.analysis.claims.multiverse import in_brief
from bnpipe.files import staging_dir, write_text
from bnpipe.params import Params
from bnpipe.provenance import git_state, package_versions
from bnpipe.report import bench_section, figures, markup
from bnpipe.report.claim_figures import FIGURES
from bnpipe.report.figure_specs import FigureSpec, Inputs, overview_figures
from bnpipe.training import speed

TEMPLATE = Path(__file__).with_name("template.html")
# The next scale up, and how to run it (README "Scales"): the report's first line points there.
NEXT_SCALE = {  # scale -> (the next one, its command, what it takes)
    "smoke": ("quick", "make run", "under 10 minutes on 2 CPU cores"),
    "quick": (
        "cpu",
        "make cpu CIFAR=PATH",
        "about 1.5 hours on 2 CPU cores; without CIFAR=, the official archive is downloaded",
    ),  # fmt: skip
    "cpu": ("paper", "snakemake --cores all --resources gpu=N --config scale=paper", "GPUs"),
}


def rebuild_command(params: Params, file_scale: str | None) -> str:
    scale = "" if params.scale == file_scale else f" --config scale={params.scale}"
    target = layout.ScaleLayout(params.scale).report
    return f"snakemake --cores all {target}{scale}"


def build_report(
    params: Params,
    raw_params: dict,
    results: Path,
    claims_file: Path,
    probe_tables: list[Path],
    run_dirs: list[Path],
    out: Path,
    figures_dir: Path,
    bench: Path | None = None,
) -> None:
    """Read analyze's tables, the claims and each run's record; draw every figure into a
    staging folder that replaces `figures_dir` in one rename; write the page last."""
    records = {r["id"]: r for r in (markup.read_json(Path(d) / "run.json") for d in run_dirs)}
    inputs = _inputs(params, Path(results), probe_tables)
    claims = markup.read_json(claims_file)
    # The CIFAR-10 source when VGG runs exist (the DLN's data are synthetic, named there).
    first_vgg = next((r for r in records.values() if r["model"] == "vgg"), None)
    data = (first_vgg or next(iter(records.values())))["provenance"]["data"]
    common = {
        "git": git_state(),
        "packages": package_versions(),
        "rebuild": rebuild_command(params, raw_params.get("scale")),
    }

    parent = Path(figures_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(f".{Path(figures_dir).name}.*"):  # left by a killed report
        shutil.rmtree(stale, ignore_errors=True)
    staging = staging_dir(parent, f".{Path(figures_dir).name}.")
    try:
        sections, overview = _draw(claims, inputs, records, common, staging)
        page = Template(TEMPLATE.read_text()).substitute(
            title="BatchNorm and optimization (Santurkar et al. 2018)",
            scale=params.scale,
            data_source=html.escape(data["source"]),
            data_checksum=data["checksum"][:16],
            params_digest=params.digest(),
            git=_git_label(common["git"]),
            n_runs=len(inputs.runs),
            n_completed=int((inputs.runs.status == "completed").sum()),
            n_diverged=int((inputs.runs.status == "diverged").sum()),
            scope=_scope(params.scale, claims),
            evaluation=_evaluation(params, list(records.values())),
            verdicts=_verdict_table(claims),
            rules=_rules(claims),
            differences=_differences(params, raw_params, data["source"])
            + _hyperparams(params, raw_params),
            sections="\n".join(sections),
            overview="\n".join(overview),
            runs_table=_runs_table(inputs.runs),
            provenance=_provenance(params, list(records.values()), common),
            speed=bench_section.render(markup.read_json(bench) if bench else None),
        )
        markup.replace_dir(staging, Path(figures_dir))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_text(out, page)


def _draw(claims: dict, inputs: Inputs, records: dict, common: dict, folder: Path):
    """Every claim's section with its figures, and the overview figures (HTML blocks);
    the figures' files go to `folder`."""
    params = inputs.params
    sections = []
    for claim in claims["claims"]:
        specs = FIGURES[claim["claim"]](inputs)
        specs += [_panel_figure(claim, inputs)] if claim.get("multiverse") else []
        blocks = [_figure(spec, params, records, common, folder) for spec in specs]
        sections.append(_claim_section(claim, blocks, claims, inputs))
    overview = [_figure(spec, params, records, common, folder) for spec in overview_figures(inputs)]
    return sections, overview


def _panel_figure(claim: dict, x: Inputs) -> FigureSpec:
    """The claim's multiverse panel as a specification curve."""
    rows = claim["multiverse"]["rows"]
    scale = {"log": "ratio, log axis", "points": "percentage points"}.get(rows[0]["scale"], "")
    return FigureSpec(
        f"claim{claim['claim']}_multiverse",
        f"Claim {claim['claim']}'s primary under each alternative of its analysis "
        f"({scale}): estimate and {claim['primary']['level']:.0%} interval, coloured by verdict "
        "(green supported, red contradicted, purple inconclusive; an open dot: the test "
        "waits for training to settle, so its interval does not judge); the dashed line "
        "is the threshold.",
        figures.specification_curve(rows, f"Claim {claim['claim']}: multiverse panel"),
        ("analyze", "grid"),
        sorted(x.runs.id),
    )


def _inputs(params: Params, results: Path, probe_tables: list[Path]) -> Inputs:
    """What the figures and tables read: analyze's tables and the activation probe's rows."""
    probes = pd.concat([pd.read_csv(p) for p in probe_tables], ignore_index=True)
    return Inputs(
        params=params,
        runs=pd.read_csv(layout.table_path(results, "runs")),
        curves=pd.read_csv(layout.table_path(results, "curves")),
        probe_curves=pd.read_csv(layout.table_path(results, "probe_curves")),
        quantities=pd.read_csv(layout.table_path(results, "quantities")),
        summary=pd.read_csv(layout.table_path(results, "summary")),
        correlations=pd.read_csv(layout.table_path(results, "ics_vs_performance")),
        activations=probes[probes.probe == "activations"],
    )


def _figure(spec: FigureSpec, params: Params, records: dict, common: dict, folder: Path) -> str:
    """Write the figure's SVG, PNG and provenance JSON; return its HTML block."""
    png, svg = figures.render(spec.figure)
    drawn = [records[r] for r in spec.runs if r in records]
    prov = {
        "figure": spec.name,
        "params": params.section(*spec.depends_on),
        "params_digest": params.digest(*spec.depends_on),
        "scale": params.scale,
        "git": common["git"],
        "data": _distinct(r["provenance"]["data"] for r in drawn),
        "runs": spec.runs,
        "devices": sorted({r["provenance"]["device"] for r in drawn}),
        "packages": common["packages"],
        "rebuild": common["rebuild"],
    }
    (folder / f"{spec.name}.png").write_bytes(png)
    (folder / f"{spec.name}.svg").write_bytes(svg)
    (folder / f"{spec.name}.json").write_text(json.dumps(prov, indent=1, sort_keys=True) + "\n")
    src = base64.b64encode(png).decode()
    return (
        f'<figure id="{spec.name}"><img alt="{html.escape(spec.caption)}" '
        f'src="data:image/png;base64,{src}">'
        f"<figcaption><b>{spec.name}</b>: {html.escape(spec.caption)} Files: "
        f"<code>reports/figures/{spec.name}.svg|png|json</code>.</figcaption>"
        f"<details><summary>Provenance of {spec.name}</summary>"
        f"<pre>{html.escape(json.dumps(prov, indent=1, sort_keys=True))}</pre></details>"
        "</figure>"
    )


def _distinct(records) -> list[dict]:
    """The distinct dicts among `records`, in a stable order."""
    return [json.loads(d) for d in sorted({json.dumps(r, sort_keys=True) for r in records})]


def _verdict_table(claims: dict) -> str:
    rows = []
    for c in claims["claims"]:
        rows.append(
            f'<tr><td><a href="#claim-{c["claim"]}">{c["claim"]}</a></td>'
            f"<td>{html.escape(c['title'])}</td><td>{markup.badge(c['verdict'])}</td>"
            f"<td>{html.escape(in_brief(c.get('multiverse')))}</td>"
            f"<td>{html.escape(c['primary']['sentence'])}</td></tr>"
        )
    return (
        '<table class="summary"><tr><th>#</th><th>claim</th><th>verdict</th><th>panel</th>'
        "<th>primary test</th></tr>" + "".join(rows) + "</table>"
    )


def _rules(claims: dict) -> str:
    """The verdict rule as analyze applied it (judging.METHOD, CLAIM_RULE and RULES)."""
    items = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in claims["rules"].items()
    )
    method = METHOD.format(confidence=claims["confidence"], min_seeds=claims["min_seeds"])
    return f"<p>{html.escape(method)}</p><p>{html.escape(claims['claim_rule'])}</p><ul>{items}</ul>"


def _claim_section(claim: dict, blocks: list[str], claims: dict, x: Inputs) -> str:
    n = claim["claim"]
    primary = claim["primary"]
    why = f" Why: {html.escape(claim['reason'])}." if claim["reason"] else ""
    notes = "".join(f"<li>{html.escape(t)}</li>" for t in primary["notes"])
    notes = f"<ul>{notes}</ul>" if notes else ""
    parts = _tests_table(primary["parts"], "part") if primary["parts"] else ""
    panel = _panel(claim.get("multiverse"))
    secondaries = ""
    if claim["secondaries"]:
        secondaries = (
            "<h3>Secondary tests (Holm-adjusted intervals; they do not change the "
            "verdict)</h3>" + _tests_table(claim["secondaries"], "secondary")
        )
    extra = _steps_table(x) if n == 1 else ""
    numbers = ""
    if claim.get("numbers"):
        rows = [
            [html.escape(r["label"]), markup.interval(r["estimate"], r["lo"], r["hi"]), r["method"]]
            for r in claim["numbers"]
        ]
        numbers = "<h3>Further numbers (not part of the verdict)</h3>" + markup.table(
            ["what", "estimate [95% CI]", "CI method"], rows, escape=False
        )
    return (
        f'<section id="claim-{n}" class="claim"><h2>Claim {n}: {html.escape(claim["title"])} '
        f"{markup.badge(claim['verdict'])}</h2>"
        f"<p><b>Paper.</b> {html.escape(claim['paper'])}</p>"
        f'<p class="primary"><b>Primary test.</b> {html.escape(primary["sentence"])} '
        f"Verdict: {markup.badge(claim['verdict'])}.{why}</p>{notes}{parts}{panel}"
        f"{secondaries}{numbers}{extra}{''.join(blocks)}</section>"
    )


def _panel(panel: dict | None) -> str:
    """The multiverse panel: its sentence beside the verdict, then one row per
    alternative (the primary first)."""
    if not panel:
        return ""
    rows = [
        [
            html.escape(r["alternative"]),
            html.escape(_row_interval(r)),
            markup.badge(r["verdict"])
            + (
                f" (interval alone: {html.escape(r['interval_verdict'])})"
                if r["interval_verdict"] != r["verdict"]
                else ""
            ),  # fmt: skip
        ]
        for r in panel["rows"]
    ]
    return (
        f'<p class="panel"><b>Robustness.</b> {html.escape(panel["words"])}</p>'
        "<details><summary>Multiverse panel: the primary under each alternative</summary>"
        + markup.table(["alternative", "estimate [interval]", "verdict"], rows, escape=False)
        + "</details>"
    )


def _row_interval(r: dict) -> str:
    unit = {"points": " points", "log": " (ratio)"}.get(r["scale"], "")
    est, lo, hi = (math.nan if r[k] is None else r[k] for k in ("estimate", "lo", "hi"))
    return f"{markup.interval(est, lo, hi)}{unit}"


def _tests_table(tests: list[dict], role: str) -> str:
    rows = []
    for t in tests:
        rows.append(
            [
                html.escape(t["label"]),
                html.escape(_shown_interval(t)),
                f"{t['level']:.1%}",
                html.escape(t["method"]),
                html.escape(t["seeds"]),
                html.escape(f"{t['direction']} {_shown(t['threshold'], t['scale']):.3g}"),
                markup.badge(t["verdict"])
                + (f" ({html.escape(t['reason'])})" if t["reason"] else ""),
            ]
        )
    head = ["test", "estimate [interval]", "level", "method", "seeds", "claimed", role + " verdict"]
    return markup.table(head, rows, escape=False)


def _shown(value, scale: str) -> float:
    return shown(float("nan") if value is None else float(value), scale)


def _shown_interval(t: dict) -> str:
    unit = {"points": " points", "log": " (ratio)"}.get(t["scale"], "")
    est, lo, hi = (_shown(t[k], t["scale"]) for k in ("estimate", "lo", "hi"))
    return f"{markup.interval(est, lo, hi)}{unit}"


def _steps_table(x: Inputs) -> str:
    """Steps to reach each training-accuracy threshold (seeds that reached it)."""
    s = x.summary[x.summary.quantity.str.startswith("steps_to_acc")]
    if s.empty:
        return ""
    seeds = x.runs.groupby(["model", "variant", "lr"]).size()
    rows = []
    for (variant, lr), g in s.groupby(["variant", "lr"]):
        cells = [variant, f"{lr:g}"]
        for q in sorted(g.quantity.unique(), key=lambda q: float(q.removeprefix("steps_to_acc"))):
            r = g[g.quantity == q].iloc[0]
            total = seeds.get(("vgg", variant, lr), 0)
            cells.append(
                f"{markup.interval(r['mean'], r['lo'], r['hi'], '{:.0f}')} ({r['n']}/{total})"
            )
        rows.append(cells)
    qs = sorted(s.quantity.unique(), key=lambda q: float(q.removeprefix("steps_to_acc")))
    head = ["variant", "lr", *(f"steps to train acc {q.removeprefix('steps_to_acc')}" for q in qs)]
    return (
        "<h3>Steps to reach a training accuracy</h3><p>First step whose training accuracy "
        "(train mode, on each step's batch, a running mean over analyze.smooth_fraction of "
        "the steps) is at or above the threshold: seed mean [95% CI] (seeds that reached "
        "it / seeds).</p>" + markup.table(head, rows, escape=False)
    )


def _runs_table(runs: pd.DataFrame) -> str:
    body = []
    for r in runs.itertuples():
        status = r.status if r.status != "diverged" else f"diverged at step {int(r.diverged_at)}"
        cells = [
            r.id,
            status,
            markup.number(r.final_train_acc, "{:.3f}"),
            markup.number(r.final_test_acc, "{:.3f}"),
            markup.number(r.final_train_loss),
            markup.number(r.trained_step, "{:.0f}")
            if variants.is_classifier(r.model)
            else "(regression)",
            f"{r.wall_s:.0f}",
        ]
        cls = ' class="diverged"' if r.status == "diverged" else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = [
        "run",
        "status",
        "final train acc",
        "final test acc",
        "final loss",
        "left chance at step",
        "wall time (s)",
    ]
    return (
        "<table><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(body)
        + "</table>"
    )


def _differences(params: Params, raw_params: dict, data_source: str) -> str:
    """Every resolved value that differs from the `paper` scale, listed by key
    (bnpipe.hyperparams, the same settings `bnpipe params` prints)."""
    diffs = [
        f"<code>{html.escape(x.key)}</code> = {html.escape(json.dumps(x.value))} "
        f"(paper: {html.escape(json.dumps(x.paper))})"
        for x in hyperparams.settings(params, raw_params)
        if x.differs
    ]
    extra = ""
    if "JPEG" in data_source:
        extra = " Data are JPEG re-encodings of CIFAR-10 (lossy), not the official pickles."
    return ("none." if not diffs else "; ".join(diffs) + ".") + extra


def _hyperparams(params: Params, raw_params: dict) -> str:
    """The block `bnpipe params --scale <scale>` prints, folded."""
    return (
        "<details><summary>every hyperparameter of this scale (<code>bnpipe params --scale "
        f"{html.escape(params.scale)}</code>)</summary>"
        f"<pre>{html.escape(hyperparams.block(params, raw_params))}</pre></details>"
    )


def _scope(scale: str, claims: dict) -> str:
    """One line: which claims this scale judges, which it cannot, and the command of the
    scale that tests more."""
    judged, not_here = [], []
    for c in claims["claims"]:
        (not_here if c["verdict"] in (NOT_TESTABLE, INSUFFICIENT) else judged).append(c["claim"])

    def numbers(ns: list[int]) -> str:
        return "claim " + str(ns[0]) if len(ns) == 1 else "claims " + ", ".join(map(str, ns))

    line = f"The <b>{html.escape(scale)}</b> scale "
    line += f"judges {numbers(judged)}" if judged else "judges no claim"
    if not_here:
        line += f"; {numbers(not_here)} cannot be judged here (each section says why)"
    line += "."
    if scale in NEXT_SCALE:
        name, command, cost = NEXT_SCALE[scale]
        line += (
            f" The <b>{name}</b> scale tests more: <code>{html.escape(command)}</code> "
            f"({html.escape(cost)})."
        )
    return line


def _evaluation(params: Params, records: list[dict]) -> str:
    """What evaluation measures and what it cost, as a share of each run's training time."""
    t = params.train
    images = f"{t.eval_train_images:,}" if t.eval_train_images else "all"
    shares = [
        r["timing"]["eval_s"] / (r["timing"]["wall_s"] - r["timing"]["eval_s"])
        for r in records
        if r["model"] == "vgg" and "eval_s" in r["timing"] and r["timing"]["wall_s"] > 0
    ]
    text = (
        f"VGG runs are evaluated in eval mode (running statistics) every {t.eval_every:,} "
        f"steps and at the last, on {images} training images (a fixed subset drawn from the "
        "run's seed) and the full test set."
    )
    if shares:
        text += (
            f" Evaluation took {100 * float(pd.Series(shares).median()):.1f}% as long as the rest "
            f"of a run (median over {len(shares)} runs; at most {100 * max(shares):.1f}%)."
        )
    return text + _training_step(records) + _probe_forms(params)


def _probe_forms(params: Params) -> str:
    """What each probe computed in (speed.MeasurementForm), whatever training used."""
    by_model = ", ".join(
        f"{'the DLN' if model == 'dln' else 'VGG'} in {precision}"
        for model, precision in params.probe.precision.items()
        if model in params.grid.models
    )
    return (
        f" Probes: both landscapes, sharpness and clean statistics in NCHW, eager, {by_model} "
        "(params probe.precision); activation distributions, moment and lag shifts (and the "
        "later moments training records for them), ICS and Theorem 4.1 in "
        f"{speed.FP64.describe()}, whatever the training step used. docs/probes.md gives "
        "each form's agreement with fp64."
    )


def _training_step(records: list[dict]) -> str:
    """How the VGG runs' training step ran (params `speed`), and a warning when a run
    trained in a precision other than fp32 (its results are then not round-off equal)."""
    plans = [r["provenance"].get("speed", {}) for r in records if r["model"] == "vgg"]
    if not plans:
        return ""
    layouts = sum(bool(p.get("channels_last")) for p in plans)
    compiled = sum(bool(p.get("compile")) for p in plans)
    deterministic = sum(bool(p.get("deterministic")) for p in plans)
    precisions = [p.get("precision", "fp32") for p in plans]
    lowered = Counter(precision for precision in precisions if precision != "fp32")
    text = (
        f" Training step: NCHW layout in {len(plans) - layouts} VGG runs, channels_last in "
        f"{layouts} (round-off only)"
        + (f", torch.compile in {compiled}" if compiled else "")
        + (f", deterministic kernels only in {deterministic}" if deterministic else "")
        + "."
    )
    if lowered:
        used = ", ".join(f"{precision} in {n} runs" for precision, n in sorted(lowered.items()))
        text += (
            f" <strong>Reduced precision:</strong> {used} (params speed.precision): these "
            "runs' numbers differ from fp32 by more than round-off."
        )
    else:
        text += " Every run trained in full fp32."
    return text


def _git_label(git: dict) -> str:
    return f"{git['commit'][:10]}{' (dirty)' if git['dirty'] else ''}"


def _provenance(params: Params, records: list[dict], common: dict) -> str:
    block = {
        "rebuild": common["rebuild"],
        "scale": params.scale,
        "params_digest": params.digest(),
        "resolved_params": params.section(*hyperparams.SECTIONS),
        "code_of_runs": sorted({_git_label(r["provenance"]["git"]) for r in records}),
        "code_of_report": common["git"],
        "data": sorted({json.dumps(r["provenance"]["data"], sort_keys=True) for r in records}),
        "devices": sorted({r["provenance"]["device"] for r in records}),
        "packages": common["packages"],
    }
    return (
        "<details><summary>params, code, data, packages, devices</summary>"
        f"<pre>{html.escape(json.dumps(block, indent=1))}</pre></details>"
    )
