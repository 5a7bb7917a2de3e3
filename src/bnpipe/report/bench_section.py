"""The report's "Speed" section, from reports/bench.json (written by `make bench`)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


def render(bench: dict | None) -> str:
    """HTML for the section; a pointer to `make bench` when no benchmark was run."""
    if not bench:
        return (
            "<p>No benchmark in this report: <code>make bench</code> measures the training "
            "step against a plain PyTorch loop, the probes' cost and concurrent jobs on this "
            "device, writes <code>reports/bench.json</code> and renders this section.</p>"
        )
    return "\n".join(
        [
            _intro(bench),
            _steps(bench),
            _probes(bench),
            _concurrency(bench),
            _projection(bench),
        ]
    )


def _intro(b: dict) -> str:
    return (
        f"<p>Measured on <b>{html.escape(b['device'])}</b> (torch {html.escape(b['torch'])}, "
        f"{b['threads']} thread(s)) with the <code>{b['scale']}</code> scale's VGG: width "
        f"{b['vgg_width']:g}, batch {b['batch_size']}. Each mode ran {b['repeats']} "
        f"interleaved blocks of {b['steps_per_block']} steps in one process; a ratio is "
        "taken within each block, then the median, with its distribution-free 95% interval "
        "(two order statistics of the blocks' ratios; 6 blocks or more). Peak: "
        f"{b['peak']['flops'] / 1e9:,.0f} GFLOP/s fp32 ({html.escape(b['peak']['source'])})"
        f"{_other_peaks(b['peak'])}.</p>"
    )


def _other_peaks(peak: dict) -> str:
    """The other precisions' peaks, where the datasheet gives them (a GPU)."""
    others = {k: v for k, v in peak.get("precisions", {}).items() if k != "fp32"}
    return "".join(f", {k} {v / 1e9:,.0f} GFLOP/s" for k, v in others.items())


def _steps(b: dict) -> str:
    rows = [
        (
            r["variant"],
            r["mode"],
            f"{r['ms_per_step']:.1f}",
            f"{r['images_per_s']:,.0f}",
            _ratio(r),
            f"{100 * r['fraction_of_peak']:.1f}% {r.get('peak_precision', 'fp32')}",
        )
        for r in b["training_step"]
    ]
    return "<h3>Training step</h3>" + _table(
        ("variant", "mode", "ms / step", "images / s", "vs plain loop [95%]", "of the mode's peak"),
        rows,
    )


def _ratio(row: dict) -> str:
    """'1.31x [1.27, 1.35]': the median ratio and its interval, where there is one."""
    interval = row.get("ratio_interval")  # absent in a bench.json from before intervals
    if not interval:
        return f"{row['ratio_to_plain']:.2f}x"
    return f"{row['ratio_to_plain']:.2f}x [{interval['lo']:.2f}, {interval['hi']:.2f}]"


METHODS = ("pipeline", "reference")  # the probe suite's two forms (bench.probe_cost)


def _probes(b: dict) -> str:
    parts = ["<h3>Probe suite per snapshot, in training steps</h3>"]
    for p in b["probe_cost"]:
        wide: dict[str, dict[str, float]] = {}
        for r in p["rows"]:
            wide.setdefault(r["probe"], {})[r["method"]] = r["train_steps"]
        rows = [
            (name, *(f"{m[method]:.1f}" if method in m else "" for method in METHODS))
            for name, m in wide.items()
        ]
        products = ", ".join(
            f"step {step}: {int(v['products'])}{'' if v['converged'] else ' (not converged)'}"
            for step, v in p["hessian_products"].items()
        )
        parts.append(
            f"<p>{p['variant']}, one training step {p['train_step_ms']:.1f} ms; Hessian-vector "
            f"products Lanczos needed: {products}.</p>"
        )
        parts.append(_table(("probe", *METHODS), rows))
        if "lag_record" in wide:
            parts.append(
                "<p>lag_record: what training spends recording the lag shift's later "
                "moments at step t + lag (one forward pass of the probe batch), which the "
                "pipeline's activation probe would otherwise replay; counted in its "
                "total ('all'). The reference replays.</p>"
            )
    return "\n".join(parts)


def _concurrency(b: dict) -> str:
    rows = [
        (
            str(r["jobs"]),
            f"{r['steps_per_s']:.1f}",
            f"{r['speedup_over_one_job']:.2f}x" if r["speedup_over_one_job"] else "",
            f"{r['runs_per_hour']:.1f}",
        )
        for r in b["concurrent_jobs"]
    ]
    return (
        "<h3>Concurrent training jobs on this device</h3>"
        f"<p>A run here is {b['run_step_equivalents']:,.0f} training steps with its probes "
        "(the bench scale's steps and snapshots; evaluation aside).</p>"
        + _table(("jobs", "steps / s, all jobs", "vs one job", "runs / hour"), rows)
    )


def _projection(b: dict) -> str:
    p = b["projection"]
    a = p["assumptions"]
    rates = ", ".join(
        f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in a["this_machine_flops_per_s_per_job"].items()
    )
    rows = [
        (
            name,
            f"{s['vgg_runs']} x width {s['width']:g}",
            f"{s['total_flops']:.2e}",
            f"{s['this_machine_hours']:,.1f}",
            f"{s['h100_hours']:,.2f} ({s['h100_bound']})",
        )
        for name, s in p["scales"].items()
    ]
    return (
        f"<h3>{html.escape(p['label'])}: whole scales</h3>"
        "<p>Work = per VGG run, its steps + snapshots x the probe suite's cost "
        f"({a['probe_suite_step_equivalents']:.0f} steps, measured above) + evaluation, "
        "times FLOPs per step. This machine: over one job's FLOP/s measured at that width "
        f"({rates}) "
        f"x the best concurrent speedup ({a['this_machine_parallel_speedup']:.2f}). One H100: over "
        f"{a['h100_fp32_utilization']:.0%} of its {a['h100_peak_fp32_flops'] / 1e12:.0f} TFLOP/s "
        f"fp32 peak (assumed, not measured), never below {a['launch_s_per_aten_op'] * 1e6:.0f} "
        "us per aten op (kernel launches). The DLN runs are left out (minutes).</p>"
        + _table(("scale", "VGG runs", "FLOPs", "this machine (h)", "one H100 (h)"), rows)
    )


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"
