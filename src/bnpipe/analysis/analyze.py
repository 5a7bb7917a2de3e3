"""Pool the runs: tables of curves and per-run numbers, and the verdict of every claim.

Writes (under results/<scale>/, claims.json under reports/<scale>/; bnpipe.layout)
  runs.csv            one row per run: grid point, status, the step it left chance,
                      final numbers (a diverged run at its worst: quantities.runs_table)
  curves.csv          accuracy and eval-mode loss over training per (model, variant, lr):
                      seed mean and t interval at every evaluation step
  probe_curves.csv    the same for the curve metrics each probe kind declares
                      (bnpipe.probe_registry), per layer and snapshot
  quantities.csv      one number per run, quantity and layer: the scalars of
                      quantities.run_quantities, and each probe metric's mean over the
                      run's steps (trapezoid over its snapshots; descriptive)
  summary.csv         per (model, variant, lr), quantity and layer: seed mean, t interval
  differences.csv     every test of every claim (primary, its parts, secondaries)
  ics_vs_performance.csv  per model, ICS metric and layer: Spearman's rho between a run's
                      ICS and its performance within its variant and lr (both centred per
                      stratum), with a stratified bootstrap interval over runs
  metrics.json        for `dvc exp show`: each claim's verdict as a letter, claim 1's headline
  plots/              per-group curve files for `dvc plots` (bnpipe.analysis.dvc_plots)
  claims.json         the seven claims judged (bnpipe.analysis.claims): what the report shows
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bnpipe import probe_registry
from bnpipe.analysis.claims import CLAIM_RULE, RULES, claim1, judge_all
from bnpipe.analysis.claims.judging import VERDICT_CODES, VERDICTS
from bnpipe.analysis.dvc_plots import write_plot_tables
from bnpipe.analysis.quantities import (
    GROUP,
    Evidence,
    run_quantities,
    runs_table,
    window_mean,
    with_run_keys,
)
from bnpipe.analysis.stats import mean_curve, within_strata_spearman
from bnpipe.files import write_csv, write_json
from bnpipe.layout import ANALYSIS_TABLES, table_path
from bnpipe.params import Params

# history column -> curve name; columns a model lacks (the DLN's accuracies) are skipped
CURVE_METRICS = {"eval_train_acc": "train", "test_acc": "test", "eval_train_loss": "train_loss"}
# per-run scalars read off a probe table: (probe, metric) -> quantity
PROBE_SCALARS = {("clean_stats", "test_acc_clean_stats"): "test_acc_clean_stats"}
# model -> the runs.csv column that measures performance (the DLN's: lower is better)
PERFORMANCE = {"vgg": "final_test_acc", "dln": "final_train_loss"}


def _read_all(files: list[Path]) -> list[dict]:
    return [json.loads(Path(f).read_text()) for f in files]


def width_runs(run_dirs: list[Path], params: Params) -> list[dict]:
    """The width check's runs (make width-check) as rows of runs_table, the grid's own
    quantities at today's analysis params, each with its `width` (from its record)."""
    runs = [load_run(d) for d in run_dirs]
    if not runs:
        return []
    rows = runs_table(runs, params).to_dict("records")
    widths = {r["id"]: r["provenance"]["params"]["vgg"]["width"] for r, _ in runs}
    return [{**row, "width": float(widths[row["id"]])} for row in rows]


def load_run(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    run_dir = Path(run_dir)
    return json.loads((run_dir / "run.json").read_text()), pd.read_csv(run_dir / "history.csv")


def load_probes(tables: list[Path]) -> pd.DataFrame:
    """All probe rows, with the derived loss_range = loss_max - loss_min of each line (an
    overflowing loss makes it non-finite: the comparisons rank that worst). A sharpness
    estimate that did not reach its residual tolerance is renamed top_eig_unconverged:
    kept in the table, never drawn or tested as top_eig."""
    probes = pd.concat([pd.read_csv(p) for p in tables], ignore_index=True)
    probes = _flag_unconverged(probes)
    lines = probes[probes.probe.isin(["landscape", "landscape_random"])]
    wide = lines.pivot_table(
        index=["run", "step", "layer", "probe"], columns="metric", values="value",
        aggfunc="first", dropna=False,
    )  # fmt: skip
    if {"loss_min", "loss_max"} <= set(wide.columns):
        with np.errstate(invalid="ignore"):
            span = (wide.loss_max - wide.loss_min).rename("value").reset_index()
        probes = pd.concat([probes, span.assign(metric="loss_range")], ignore_index=True)
    return probes


def _flag_unconverged(probes: pd.DataFrame) -> pd.DataFrame:
    sharp = probes[probes.probe == "sharpness"]
    failed = sharp[(sharp.metric == "converged") & (sharp.value != 1)][["run", "step"]]
    if failed.empty:
        return probes
    keys = pd.MultiIndex.from_frame(probes[["run", "step"]])
    hit = keys.isin(pd.MultiIndex.from_frame(failed))
    top_eig = ((probes.probe == "sharpness") & (probes.metric == "top_eig")).to_numpy()
    rename = hit & top_eig
    probes = probes.copy()
    probes.loc[rename, "metric"] = "top_eig_unconverged"
    return probes


def curves_table(runs: list[tuple[dict, pd.DataFrame]], params: Params) -> pd.DataFrame:
    """Seed mean and t band of every CURVE_METRICS column at every evaluation step."""
    groups: dict[tuple, list[pd.DataFrame]] = {}
    for record, history in runs:
        evals = history.dropna(subset=["eval_train_loss"]).set_index("step")
        groups.setdefault(tuple(record[k] for k in GROUP), []).append(evals)
    frames = []
    for key, members in sorted(groups.items()):
        steps = sorted(set().union(*(m.index for m in members)))
        for column, split in CURVE_METRICS.items():
            # (seeds, steps); a diverged run is NaN after it stopped and drops out there
            matrix = np.array([m[column].reindex(steps).to_numpy() for m in members])
            if not np.isfinite(matrix).any():
                continue  # a column this model lacks (the DLN's accuracies)
            mean, lo, hi, n, _ = mean_curve(matrix, params.analyze.confidence)
            frame = pd.DataFrame({"step": steps, "mean": mean, "lo": lo, "hi": hi, "n": n})
            frames.append(frame.assign(**dict(zip(GROUP, key, strict=True)), split=split))
    return pd.concat(frames, ignore_index=True)[[*GROUP, "split", "step", "mean", "lo", "hi", "n"]]


def _curve_rows(probes: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(
        [
            probes[(probes.probe == p) & probes.metric.isin(ms)]
            for p, ms in probe_registry.probe_curves().items()
        ]
    )


def probe_curves(probes: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Seed mean and t interval of each probe's curve metric per layer and snapshot step."""
    series = ["probe", "metric", "layer", "step"]
    frames = []
    for key, group in _curve_rows(probes).groupby(GROUP, sort=True):
        wide = group.pivot_table(index="seed", columns=series, values="value", aggfunc="first")
        mean, lo, hi, n, method = mean_curve(wide.to_numpy(), params.analyze.confidence)
        frame = wide.columns.to_frame(index=False)
        frame = frame.assign(mean=mean, lo=lo, hi=hi, n=n, method=method)
        frames.append(frame.assign(**dict(zip(GROUP, key, strict=True))))
    return pd.concat(frames, ignore_index=True)[
        [*GROUP, *series, "mean", "lo", "hi", "n", "method"]
    ]


def probe_quantities(probes: pd.DataFrame) -> pd.DataFrame:
    """Per run and layer: each probe's curve metric averaged over the run's steps (finite
    snapshots, trapezoid rule), as `<probe>.<metric>`; and the PROBE_SCALARS."""
    rows = []
    for (run, probe, metric, layer), g in _curve_rows(probes).groupby(
        ["run", "probe", "metric", "layer"], sort=True
    ):
        g = g[np.isfinite(g.value)].sort_values("step")
        if len(g):
            value = window_mean(g.step.to_numpy(), g.value.to_numpy(), 0, np.inf)
            rows.append((run, f"{probe}.{metric}", layer, value))
    for (probe, metric), quantity in PROBE_SCALARS.items():
        sel = probes[(probes.probe == probe) & (probes.metric == metric)]
        for run, g in sel.groupby("run"):
            rows.append((run, quantity, 0, float(g.sort_values("step").value.iloc[-1])))
    return pd.DataFrame(rows, columns=["run", "quantity", "layer", "value"])


def all_quantities(runs, table: pd.DataFrame, probes: pd.DataFrame, params: Params):
    scalars = run_quantities(runs, table, params).assign(layer=0)
    from_probes = with_run_keys(probe_quantities(probes), table)
    out = pd.concat([scalars, from_probes], ignore_index=True)
    out = out[["run", *GROUP, "seed", "status", "quantity", "layer", "value"]]
    return out.sort_values(["run", "quantity", "layer"], ignore_index=True)


def group_summary(quantities: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Seed mean and t interval of every quantity per (model, variant, lr) and layer; a
    diverged run counts at its worst where runs_table gives one."""
    frames = []
    for key, group in quantities.groupby(GROUP, sort=True):
        wide = group.pivot_table(
            index="seed", columns=["quantity", "layer"], values="value", aggfunc="first"
        )
        mean, lo, hi, n, method = mean_curve(wide.to_numpy(), params.analyze.confidence)
        frame = wide.columns.to_frame(index=False).assign(mean=mean, lo=lo, hi=hi, n=n)
        n_diverged = group[group.status == "diverged"].run.nunique()
        frames.append(
            frame.assign(method=method, n_diverged=n_diverged, **dict(zip(GROUP, key, strict=True)))
        )
    cols = [*GROUP, "quantity", "layer", "mean", "lo", "hi", "n", "method", "n_diverged"]
    return pd.concat(frames, ignore_index=True)[cols]


def ics_vs_performance(
    quantities: pd.DataFrame, table: pd.DataFrame, params: Params
) -> pd.DataFrame:
    """Per model, ICS metric and layer: Spearman's rho between runs' ICS and performance
    within their (variant, lr), with a stratified bootstrap interval (bnpipe.analysis.stats)."""
    a = params.analyze
    rows = []
    for model, column in PERFORMANCE.items():
        perf = table[table.model == model].set_index("id")[column]
        for metric in ("l2", "cos"):
            sel = quantities[(quantities.model == model) & (quantities.quantity == f"ics.{metric}")]
            for layer, by_layer in sel.groupby("layer"):
                by_layer = by_layer[by_layer.run.isin(perf.index)]
                strata = by_layer.variant + "/" + by_layer.lr.map("{:g}".format)
                ci = within_strata_spearman(
                    by_layer.value.to_numpy(), perf[by_layer.run].to_numpy(), strata.to_numpy(),
                    a.confidence, a.n_resamples,
                )  # fmt: skip
                rows.append(
                    {
                        "model": model,
                        "metric": metric,
                        "layer": layer,
                        "performance": column,
                        "rho": ci.estimate,
                        "lo": ci.lo,
                        "hi": ci.hi,
                        "n": ci.n,
                        "method": ci.method,
                        "reason": ci.reason,
                    }
                )
    cols = ["model", "metric", "layer", "performance", "rho", "lo", "hi", "n", "method", "reason"]
    return pd.DataFrame(rows, columns=cols)


def tests_table(claims: list[dict]) -> pd.DataFrame:
    """Every test of every claim, one row each, with its role."""
    rows = []
    for c in claims:
        for role, tests in (("primary", [c["primary"]]), ("secondary", c["secondaries"])):
            for t in tests:
                rows.append({"claim": c["claim"], "role": role, **_flat(t)})
                rows += [
                    {"claim": c["claim"], "role": "primary part", **_flat(p)} for p in t["parts"]
                ]
    return pd.DataFrame(rows)


def _flat(test: dict) -> dict:
    """A test's columns for differences.csv: its nested lists and per-seed values left
    out, its error check's rates as columns (error_<key>)."""
    flat = {k: v for k, v in test.items() if k not in ("parts", "notes", "values", "error_check")}
    for key, value in (test.get("error_check") or {}).items():
        if not isinstance(value, dict | list | tuple):
            flat[f"error_{key}"] = value
    return flat


def summary_metrics(table: pd.DataFrame, summary: pd.DataFrame, claims: list[dict]) -> dict:
    """What `dvc exp show` shows of a run, narrow enough for 120 columns with the
    experiment's name, date and params: each claim's verdict as one letter
    (judging.VERDICT_CODES), c1..c7, and the headline of claim 1, the seed means of BN's
    and the plain VGG's final test accuracy at its lr (bn_acc, std_acc; left out where
    the grid lacks the group). Every other number, with intervals: summary.csv and
    claims.json."""
    out: dict = {f"c{c['claim']}": VERDICT_CODES[c["verdict"]] for c in claims}
    finals = summary[summary.layer == 0].set_index([*GROUP, "quantity"])
    for variant, name in (("batchnorm", "bn_acc"), ("standard", "std_acc")):
        key = ("vgg", variant, claim1.PRIMARY_LR, "final_test_acc")
        if key in finals.index:
            out[name] = _num(finals.loc[key]["mean"])
    return out


def analyze(
    run_dirs: list[Path],
    probe_tables: list[Path],
    params: Params,
    out_dir: Path,
    claims_out: Path,
    long_arms: list[Path] = (),
    width_checks: list[Path] = (),
) -> dict:
    runs = [load_run(d) for d in run_dirs]
    table = runs_table(runs, params)
    probes = load_probes(probe_tables)
    quantities = all_quantities(runs, table, probes, params)
    correlations = ics_vs_performance(quantities, table, params)
    evidence = Evidence(table, quantities[quantities.layer == 0], probes, correlations)
    claims = judge_all(evidence, params, _read_all(long_arms), width_runs(width_checks, params))
    out_dir = Path(out_dir)
    curves = curves_table(runs, params)
    pooled_probes = probe_curves(with_run_keys(probes, table), params)
    summary = group_summary(quantities, params)
    tables = {
        "runs": table,
        "curves": curves,
        "probe_curves": pooled_probes,
        "quantities": quantities,
        "summary": summary,
        "differences": tests_table(claims),
        "ics_vs_performance": correlations,
    }
    assert tuple(tables) == ANALYSIS_TABLES  # the names the rules and the report expect
    for name, frame in tables.items():
        write_csv(table_path(out_dir, name), frame)
    write_plot_tables(curves, pooled_probes, out_dir / "plots")
    document = {
        "scale": params.scale,
        "confidence": params.analyze.confidence,
        "min_seeds": params.analyze.min_seeds,
        "verdicts": list(VERDICTS),
        "rules": RULES,
        "claim_rule": CLAIM_RULE,
        "claims": claims,
    }
    write_json(claims_out, _json_safe(document))
    metrics = summary_metrics(table, summary, claims)
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def _json_safe(obj):
    """NaN and Inf become null (JSON has neither); numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return _num(obj)
    return obj


def _num(x: float) -> float | None:
    """JSON has no NaN: missing numbers are null."""
    return None if not np.isfinite(x) else float(f"{x:.7g}")
