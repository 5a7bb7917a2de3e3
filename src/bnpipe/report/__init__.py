"""The HTML report: one self-contained page (figures inline as PNG, styles inline)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from string import Template

import pandas as pd

from bnpipe import figures
from bnpipe.files import write_text
from bnpipe.params import Params, load_params
from bnpipe.provenance import git_state, package_versions

TEMPLATE = Path(__file__).with_name("template.html")
REBUILD = "snakemake --cores all reports/index.html"


def build_report(
    params: Params,
    raw_params: dict,
    results: Path,
    probe_tables: list[Path],
    run_dirs: list[Path],
    out: Path,
) -> None:
    results = Path(results)
    runs = pd.read_csv(results / "runs.csv")
    curves = pd.read_csv(results / "curves.csv")
    records = [json.loads((Path(d) / "run.json").read_text()) for d in run_dirs]
    probes = pd.concat([pd.read_csv(p) for p in probe_tables], ignore_index=True)
    # The CIFAR-10 source when VGG runs exist (the DLN's data are synthetic, named there).
    data = next((r for r in records if r["model"] == "vgg"), records[0])["provenance"]["data"]

    metrics = json.loads((results / "metrics.json").read_text())
    sections = []
    if "vgg" in params.grid.models:
        sections += [
            _section(
                "VGG on CIFAR-10: training and test accuracy per variant",
                "Seed mean (line) and 95% bootstrap interval over seeds (band), evaluated in "
                "eval mode on the full train and test sets. Paper (full scale, no "
                "augmentation): 83% test accuracy with BN vs 80% without; noisy BN close to BN.",
                figures.training_curves(curves, runs, "vgg", ("train", "test"), log=False),
                _final_table(metrics, "vgg", ("test_acc", "train_acc"), params),
                params,
                ["train", "vgg", "norm", "noise", "grid", "data"],
                runs[runs.model == "vgg"].id.tolist(),
            ),
            _activation_section(params, probes, runs),
        ]
    if "dln" in params.grid.models:
        sections.append(
            _section(
                "Deep linear network: loss per variant",
                "Full-batch loss (sum over examples of ||f(x) - Ax||^2) in eval mode, seed mean "
                "and 95% bootstrap band, log scale. Paper Fig. 12-13: l1 normalization trains "
                "the DLN faster than BN.",
                figures.training_curves(curves, runs, "dln", ("train_loss",), log=True),
                _final_table(metrics, "dln", ("train_loss",), params),
                params,
                ["dln", "norm", "grid"],
                runs[runs.model == "dln"].id.tolist(),
            )
        )
    git = git_state()
    page = Template(TEMPLATE.read_text()).substitute(
        title="BatchNorm and optimization (Santurkar et al. 2018)",
        scale=params.scale,
        data_source=html.escape(data["source"]),
        data_checksum=data["checksum"][:16],
        params_digest=params.digest(),
        git=f"{git['commit'][:10]}{' (dirty)' if git['dirty'] else ''}",
        n_runs=len(runs),
        n_completed=int((runs.status == "completed").sum()),
        n_diverged=int((runs.status == "diverged").sum()),
        differences=_differences(params, raw_params, data["source"]),
        sections="\n".join(sections),
        runs_table=_runs_table(runs),
        provenance=_provenance(params, records),
    )
    write_text(out, page)


def _section(title, caption, fig, table_html, params, depends_on, run_ids) -> str:
    img = base64.b64encode(figures.png_bytes(fig)).decode()
    prov = {
        "params": params.section(*depends_on),
        "params_digest": params.digest(*depends_on),
        "runs": run_ids,
        "rebuild": REBUILD,
    }
    return (
        f"<h2>{html.escape(title)}</h2><p>{html.escape(caption)}</p>"
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{img}">{table_html}'
        f"<details><summary>Provenance of this figure</summary>"
        f"<pre>{html.escape(json.dumps(prov, indent=1))}</pre></details>"
    )


def _activation_section(params: Params, probes: pd.DataFrame, runs: pd.DataFrame) -> str:
    lr = params.grid.lrs["vgg"][0]
    seed = params.grid.seeds["vgg"][0]
    pick = (runs.model == "vgg") & (runs.lr == lr) & (runs.seed == seed)
    shown = [r for r in runs[pick].id if r in set(probes.run)]
    layers = list(params.report.activation_layers)
    caption = (
        f"Distribution of unit {params.probe.activations.unit} of conv layers "
        f"{', '.join(f'#{k}' for k in layers)} ({params.probe.activations.site} output) on a "
        f"fixed probe batch of {params.probe.batch_size} training images, in training mode, "
        f"at each snapshot; lr {lr:g}, seed {seed}. Paper Fig. 2: BN does not visibly make "
        "these distributions more stable."
    )
    fig = figures.activation_bands(probes, layers, shown)
    return _section(
        "Activation distributions over training",
        caption,
        fig,
        "",
        params,
        ["probe", "vgg", "train"],
        shown,
    )


def _final_table(metrics: dict, model: str, names: tuple[str, ...], params: Params) -> str:
    """Final numbers with their intervals, as analyze computed them (metrics.json)."""
    rows = []
    for variant, by_lr in sorted(metrics.get(model, {}).items()):
        for lr, m in by_lr.items():
            cells = [model, variant, lr.removeprefix("lr")]
            for name in names:
                mean, lo, hi = (
                    figures.finite_or_dash(m[k], "{:.4g}")
                    for k in (name, f"{name}_lo", f"{name}_hi")
                )
                cells.append(f"{mean} [{lo}, {hi}]")
            rows.append([*cells, str(m["n_seeds"]), str(m["n_diverged"])])
    level = f"{params.analyze.confidence:.0%} CI"
    head = ["model", "variant", "lr", *(f"final {n} [{level}]" for n in names), "seeds"]
    return _table([*head, "diverged"], rows)


def _runs_table(runs: pd.DataFrame) -> str:
    rows = []
    for r in runs.itertuples():
        status = r.status if r.status != "diverged" else f"diverged at step {int(r.diverged_at)}"
        rows.append(
            (
                [
                    r.id,
                    status,
                    figures.finite_or_dash(r.final_train_acc),
                    figures.finite_or_dash(r.final_test_acc),
                    f"{r.wall_s:.0f}",
                ],
                "diverged" if r.status == "diverged" else "",
            )
        )
    head = ["run", "status", "final train acc", "final test acc", "wall time (s)"]
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        for cells, cls in rows
    )
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + body + "</table>"


def _table(head: list[str], rows: list[list[str]]) -> str:
    out = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    for cells in rows:
        out += "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
    return out + "</table>"


def _differences(params: Params, raw_params: dict, data_source: str) -> str:
    """Every resolved value that differs from the `paper` scale, listed by key."""
    paper = load_params({**raw_params, "scale": "paper"})
    diffs: list[str] = []

    def walk(a, b, key):
        if isinstance(a, dict):
            for k in a:
                walk(a[k], b.get(k), f"{key}.{k}" if key else k)
        elif a != b:
            diffs.append(
                f"<code>{html.escape(key)}</code> = {html.escape(json.dumps(a))} "
                f"(paper: {html.escape(json.dumps(b))})"
            )

    names = ("data", "grid", "vgg", "dln", "norm", "noise", "train", "probe")
    walk(params.section(*names), paper.section(*names), "")
    extra = ""
    if "JPEG" in data_source:
        extra = " Data are JPEG re-encodings of CIFAR-10 (lossy), not the official pickles."
    return ("none." if not diffs else "; ".join(diffs) + ".") + extra


def _provenance(params: Params, records: list[dict]) -> str:
    commits = sorted(
        {
            f"{r['provenance']['git']['commit'][:10]}"
            f"{' (dirty)' if r['provenance']['git']['dirty'] else ''}"
            for r in records
        }
    )
    devices = sorted({r["provenance"]["device"] for r in records})
    block = {
        "rebuild": REBUILD,
        "scale": params.scale,
        "params_digest": params.digest(),
        "resolved_params": params.section(
            "data", "grid", "vgg", "dln", "norm", "noise", "train", "probe", "analyze", "report"
        ),
        "code_of_runs": commits,
        "code_of_report": git_state(),
        "data": sorted({json.dumps(r["provenance"]["data"], sort_keys=True) for r in records}),
        "devices": devices,
        "packages": package_versions(),
    }
    return (
        "<details open><summary>params, code, data, packages, devices</summary>"
        f"<pre>{html.escape(json.dumps(block, indent=1))}</pre></details>"
    )
