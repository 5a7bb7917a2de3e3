"""Pool the runs: per-run quantities, seed-level intervals, claims with verdicts.

Writes (under results/, claims.json under reports/)
  runs.csv            one row per run: id, grid point, status, final accuracy and loss
  curves.csv          accuracy and eval-mode loss over training per (model, variant, lr):
                      seed mean and interval at every evaluation step
  probe_curves.csv    the same for the probe metrics of PROBE_CURVES, per layer and snapshot
  quantities.csv      one number per run, quantity and layer (run_quantities)
  summary.csv         per (model, variant, lr), quantity and layer: mean over seeds with a
                      bootstrap interval, the seeds behind it and the runs that diverged
  differences.csv     every test of every claim: A, B, the difference with its interval,
                      the verdict
  ics_vs_performance.csv  per model, ICS metric and layer: Spearman's rho across runs
                      between the run's ICS and its final performance, interval over runs
  metrics.json        for `dvc exp show`: final numbers per group, the verdict per claim
  claims.json         the seven claims: rule, verdict, tests and numbers (the report's)
A diverged run keeps its rows (status, step) but contributes no number to a pooled
statistic: NaN never enters a mean. Its curves count up to its last finite step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bnpipe.claims import CLAIM4_LAYERS, build_claims, evaluate
from bnpipe.files import write_csv, write_json
from bnpipe.params import Params
from bnpipe.stats import bootstrap_curve, bootstrap_difference, bootstrap_mean, rank_correlation
from bnpipe.verdicts import CLAIM_RULE, RULES, SCORE

GROUP = ["model", "variant", "lr"]
# history column -> curve name; columns a model lacks (the DLN's accuracies) are skipped
CURVE_METRICS = {"eval_train_acc": "train", "test_acc": "test", "eval_train_loss": "train_loss"}
# per model: (runs.csv column, metrics.json name) of the final numbers with intervals
FINAL_METRICS = {
    "vgg": (("final_test_acc", "test_acc"), ("final_train_acc", "train_acc")),
    "dln": (("final_train_loss", "train_loss"),),
}
# probe metrics pooled over seeds per snapshot (curves) and over training (quantities)
PROBE_CURVES = {
    "activations": (
        "mean",
        "var",
        "shift_mean",
        "shift_var",
        "shift_mean_units",
        "shift_var_units",
    ),
    "ics": ("l2", "cos", "rel_l2"),
    "landscape": ("loss_min", "loss_max", "gpred_min", "gpred_max", "beta"),
    "landscape_random": ("loss_min", "loss_max", "gpred_min", "gpred_max", "beta"),
    "sharpness": ("top_eig", "two_over_lr", "rel_residual"),
    "theorem41": ("rel_diff", "rel_diff_printed"),
}
# model -> the runs.csv column that measures performance (the DLN's: lower is better)
PERFORMANCE = {"vgg": "final_test_acc", "dln": "final_train_loss"}


def load_run(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    run_dir = Path(run_dir)
    return json.loads((run_dir / "run.json").read_text()), pd.read_csv(run_dir / "history.csv")


def runs_table(runs: list[tuple[dict, pd.DataFrame]], final_window: int) -> pd.DataFrame:
    rows = []
    for record, history in runs:
        evals = history.dropna(subset=["eval_train_loss"]).tail(final_window)
        completed = record["status"] == "completed"

        def final(column: str, evals=evals, completed=completed) -> float:
            return float(evals[column].mean()) if completed and len(evals) else float("nan")

        rows.append(
            {
                "id": record["id"],
                "model": record["model"],
                "variant": record["variant"],
                "lr": record["lr"],
                "seed": record["seed"],
                "status": record["status"],
                "steps_done": record["steps_done"],
                "diverged_at": (record["diverged"] or {}).get("step"),
                "final_train_acc": final("eval_train_acc"),
                "final_test_acc": final("test_acc"),
                "final_train_loss": final("eval_train_loss"),
                "final_test_loss": final("test_loss"),
                "wall_s": record["timing"]["wall_s"],
            }
        )
    return pd.DataFrame(rows).sort_values(["model", "variant", "lr", "seed"], ignore_index=True)


def curves_table(runs: list[tuple[dict, pd.DataFrame]], params: Params) -> pd.DataFrame:
    """Seed mean and bootstrap band of every CURVE_METRICS column at every evaluation step."""
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
            mean, lo, hi, n, _ = bootstrap_curve(
                matrix, params.analyze.confidence, params.analyze.n_resamples
            )
            frame = pd.DataFrame({"step": steps, "mean": mean, "lo": lo, "hi": hi, "n": n})
            frames.append(frame.assign(**dict(zip(GROUP, key, strict=True)), split=split))
    return pd.concat(frames, ignore_index=True)[[*GROUP, "split", "step", "mean", "lo", "hi", "n"]]


def load_probes(tables: list[Path], table: pd.DataFrame) -> pd.DataFrame:
    """All probe rows, with each run's grid point and status joined on."""
    probes = pd.concat([pd.read_csv(p) for p in tables], ignore_index=True)
    return _with_run_keys(probes, table)


def _with_run_keys(rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """`rows` (with a `run` column) with each run's grid point, seed and status joined on."""
    keys = table[["id", *GROUP, "seed", "status"]].rename(columns={"id": "run"})
    return rows.merge(keys, on="run", how="left", validate="many_to_one")


def probe_curves(probes: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Seed mean and interval of each PROBE_CURVES metric per layer and snapshot step."""
    keep = pd.concat(
        [probes[(probes.probe == p) & probes.metric.isin(ms)] for p, ms in PROBE_CURVES.items()]
    )
    series = ["probe", "metric", "layer", "step"]
    frames = []
    for key, group in keep.groupby(GROUP, sort=True):
        wide = group.pivot_table(index="seed", columns=series, values="value", aggfunc="first")
        mean, lo, hi, n, method = bootstrap_curve(
            wide.to_numpy(), params.analyze.confidence, params.analyze.n_resamples
        )
        frame = wide.columns.to_frame(index=False)
        frame = frame.assign(mean=mean, lo=lo, hi=hi, n=n, method=method)
        frames.append(frame.assign(**dict(zip(GROUP, key, strict=True))))
    return pd.concat(frames, ignore_index=True)[
        [*GROUP, *series, "mean", "lo", "hi", "n", "method"]
    ]


def run_quantities(
    runs: list[tuple[dict, pd.DataFrame]],
    table: pd.DataFrame,
    probes: pd.DataFrame,
    params: Params,
) -> pd.DataFrame:
    """One number per run, quantity and layer (layer 0: the whole network):

    final_test_acc, final_train_acc, final_train_loss   as in runs.csv
    train_acc_mean      mean training accuracy over the evaluations: the area under the
                        training curve, a measure of speed without a threshold
    steps_to_acc<t>     first evaluation step with training accuracy >= t (NaN: never)
    <probe>.<metric>    a PROBE_CURVES metric averaged over the run's snapshots
    activations.rel_shift_mean, .rel_shift_var   scale-free moment shifts of the unit:
                        |mu_t - mu_t-| / sigma_t- and |var_t - var_t-| / var_t- between
                        consecutive snapshots, averaged (comparable across variants whose
                        activations differ in scale)
    landscape.loss_range    loss_max - loss_min along g, averaged over snapshots
    landscape.gpred_max_early   gpred_max over the first `early_fraction` of training
    sharpness.eos_ratio_final   top eigenvalue / (2 / lr) at the last snapshot
    theorem41.rel_diff_max  largest relative gap of the identity over layers and snapshots
    """
    rows = []
    for record, history in runs:
        evals = history.dropna(subset=["eval_train_loss"])
        if record["model"] == "vgg":
            rows.append((record["id"], "train_acc_mean", 0, evals.eval_train_acc.mean()))
            for t in params.analyze.acc_thresholds:
                hit = evals[evals.eval_train_acc >= t].step
                rows.append((record["id"], f"steps_to_acc{t:g}", 0, hit.min()))
    frame = pd.DataFrame(rows, columns=["run", "quantity", "layer", "value"])
    finals = (
        table.melt(
            id_vars="id",
            value_vars=["final_test_acc", "final_train_acc", "final_train_loss"],
            var_name="quantity",
            value_name="value",
        )
        .rename(columns={"id": "run"})
        .assign(layer=0)
    )
    parts = [frame, finals.dropna(subset=["value"])]
    for probe, metrics in PROBE_CURVES.items():
        sel = probes[(probes.probe == probe) & probes.metric.isin(metrics)]
        mean = sel.groupby(["run", "metric", "layer"], as_index=False).value.mean()
        parts.append(mean.assign(quantity=probe + "." + mean.metric).drop(columns="metric"))
    parts += [_activation_shifts(probes), _landscape_quantities(probes, params)]
    parts += [_sharpness_and_theorem(probes)]
    out = _with_run_keys(pd.concat(parts, ignore_index=True), table)
    out = out[["run", *GROUP, "seed", "status", "quantity", "layer", "value"]]
    return out.sort_values(["run", "quantity", "layer"], ignore_index=True)


def _wide(probes: pd.DataFrame, probe: str) -> pd.DataFrame:
    """One probe's rows as (run, layer, step) x metric."""
    sel = probes[probes.probe == probe]
    return sel.pivot_table(
        index=["run", "layer", "step"], columns="metric", values="value", aggfunc="first"
    ).sort_index()


def _long(frame: pd.DataFrame, quantity: str) -> pd.DataFrame:
    return frame.rename("value").reset_index().assign(quantity=quantity)


def _activation_shifts(probes: pd.DataFrame) -> pd.DataFrame:
    w = _wide(probes, "activations")
    if w.empty:
        return pd.DataFrame()
    prev = w.groupby(level=["run", "layer"])[["mean", "var"]].shift(1)  # snapshot t-
    rel_mean = (w["mean"] - prev["mean"]).abs() / np.sqrt(prev["var"])
    rel_var = (w["var"] - prev["var"]).abs() / prev["var"]
    by = ["run", "layer"]
    return pd.concat(
        [
            _long(rel_mean.groupby(level=by).mean(), "activations.rel_shift_mean"),
            _long(rel_var.groupby(level=by).mean(), "activations.rel_shift_var"),
        ]
    )


def _landscape_quantities(probes: pd.DataFrame, params: Params) -> pd.DataFrame:
    w = _wide(probes, "landscape")
    if w.empty:
        return pd.DataFrame()
    by = ["run", "layer"]
    loss_range = (w["loss_max"] - w["loss_min"]).groupby(level=by).mean()
    steps = w.index.get_level_values("step")
    last = pd.Series(steps, index=w.index).groupby(level="run").transform("max")
    early = w["gpred_max"][steps <= params.analyze.early_fraction * last.to_numpy()]
    return pd.concat(
        [
            _long(loss_range, "landscape.loss_range"),
            _long(early.groupby(level=by).mean(), "landscape.gpred_max_early"),
        ]
    )


def _sharpness_and_theorem(probes: pd.DataFrame) -> pd.DataFrame:
    parts = []
    sharp = _wide(probes, "sharpness")
    if not sharp.empty:
        last = sharp.groupby(level=["run", "layer"]).tail(1)
        ratio = (last["top_eig"] / last["two_over_lr"]).droplevel("step")
        parts.append(_long(ratio, "sharpness.eos_ratio_final"))
    theorem = probes[(probes.probe == "theorem41") & (probes.metric == "rel_diff")]
    if not theorem.empty:
        worst = theorem.groupby("run").value.max()
        parts.append(_long(worst, "theorem41.rel_diff_max").assign(layer=0))
    return pd.concat(parts) if parts else pd.DataFrame()


def group_summary(quantities: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Mean over seeds and interval of every quantity per (model, variant, lr) and layer.
    Only completed runs count; `n_diverged` says how many runs of the group diverged."""
    a = params.analyze
    frames = []
    for key, group in quantities.groupby(GROUP, sort=True):
        n_diverged = group[group.status == "diverged"].run.nunique()
        done = group[group.status == "completed"]
        if done.empty:
            frame = group[["quantity", "layer"]].drop_duplicates()
            frame = frame.assign(mean=np.nan, lo=np.nan, hi=np.nan, n=0, method="none")
        else:
            wide = done.pivot_table(
                index="seed",
                columns=["quantity", "layer"],
                values="value",
                aggfunc="first",
                dropna=False,
            )
            # the pivot spans every (quantity, layer) pair; keep those the runs have
            have = set(zip(done.quantity, done.layer, strict=True))
            wide = wide[[c for c in wide.columns if c in have]]
            mean, lo, hi, n, method = bootstrap_curve(wide.to_numpy(), a.confidence, a.n_resamples)
            frame = wide.columns.to_frame(index=False)
            frame = frame.assign(mean=mean, lo=lo, hi=hi, n=n, method=method)
        frames.append(frame.assign(**dict(zip(GROUP, key, strict=True)), n_diverged=n_diverged))
    cols = [*GROUP, "quantity", "layer", "mean", "lo", "hi", "n", "method", "n_diverged"]
    return pd.concat(frames, ignore_index=True)[cols]


def ics_vs_performance(
    quantities: pd.DataFrame, table: pd.DataFrame, params: Params
) -> pd.DataFrame:
    """Across completed runs of a model: Spearman's rho between a run's ICS at a layer
    (mean over its snapshots) and its final performance (PERFORMANCE), with a bootstrap
    interval over runs. If ICS explained performance, rho would be clearly signed."""
    a = params.analyze
    rows = []
    done = quantities[quantities.status == "completed"]
    for model, column in PERFORMANCE.items():
        perf = table[(table.model == model) & (table.status == "completed")]
        perf = perf.set_index("id")[column]
        for metric in ("l2", "cos"):
            sel = done[(done.model == model) & (done.quantity == f"ics.{metric}")]
            for layer, by_layer in sel.groupby("layer"):
                ics = by_layer.set_index("run").value
                runs = ics.index.intersection(perf.index)
                ci = rank_correlation(ics[runs], perf[runs], a.confidence, a.n_resamples)
                rows.append(
                    {
                        "model": model,
                        "metric": metric,
                        "layer": layer,
                        "performance": column,
                        "rho": ci.mean,
                        "lo": ci.lo,
                        "hi": ci.hi,
                        "n": ci.n,
                        "method": ci.method,
                    }
                )
    return pd.DataFrame(
        rows, columns=["model", "metric", "layer", "performance", "rho", "lo", "hi", "n", "method"]
    )


def claim_numbers(
    claim: int, quantities: pd.DataFrame, correlations: pd.DataFrame, params: Params
) -> list[dict]:
    """Numbers a claim's section shows beside its tests (they do not enter its verdict)."""
    a = params.analyze
    done = quantities[quantities.status == "completed"]
    out = []
    if claim == 4:  # at the claim's layers; every layer is in ics_vs_performance.csv
        for r in correlations.itertuples():
            if r.layer in CLAIM4_LAYERS[r.model]:
                label = (
                    f"{r.model.upper()} layer #{r.layer}: Spearman rho of ICS {r.metric} "
                    f"vs {r.performance} across {r.n} runs"
                )
                out.append(_number(label, r.rho, r.lo, r.hi, r.method))
    if claim == 5:  # the early gradient-predictiveness gap, as a ratio standard / BN
        early = done[done.quantity == "landscape.gpred_max_early"]
        for (model, lr), g in early.groupby(["model", "lr"]):
            std, bn = (g[g.variant == v].value.to_numpy() for v in ("standard", "batchnorm"))
            if len(std) and len(bn):
                ci = bootstrap_difference(std, bn, a.confidence, a.n_resamples, relative=True)
                label = (
                    f"{model.upper()} lr {lr:g}: early gradient-change ratio standard / BN "
                    "(paper: close to 100)"
                )
                out.append(_number(label, 1 + ci.mean, 1 + ci.lo, 1 + ci.hi, ci.method))
    if claim == 7:
        printed = done[(done.quantity == "theorem41.rel_diff_printed")]
        for (model, variant, lr), g in printed.groupby(GROUP):
            ci = bootstrap_mean(g.groupby("run").value.max(), a.confidence, a.n_resamples)
            label = (
                f"{model.upper()} {variant} lr {lr:g}: largest relative gap with the printed "
                "1/sqrt(m) form (layer means over snapshots)"
            )
            out.append(_number(label, ci.mean, ci.lo, ci.hi, ci.method))
    return out


def _number(label: str, estimate: float, lo: float, hi: float, method: str) -> dict:
    return {"label": label, "estimate": estimate, "lo": lo, "hi": hi, "method": method}


_NO_SUMMARY = {"mean": np.nan, "lo": np.nan, "hi": np.nan, "method": "none"}  # no finite value


def summary_metrics(
    table: pd.DataFrame, summary: pd.DataFrame, claims: list[dict], params: Params
) -> dict:
    """Nested dict for `dvc exp show`: the verdict per claim and, per model -> variant ->
    lr<lr>, the final numbers with their intervals (from the group summary)."""
    finals = summary[summary.layer == 0].set_index([*GROUP, "quantity"])
    out: dict = {
        "scale": params.scale,
        "runs": {
            "total": len(table),
            "completed": int((table.status == "completed").sum()),
            "diverged": int((table.status == "diverged").sum()),
        },
        "claims": {
            f"claim{c['claim']}": {
                "verdict": c["verdict"],
                "score": SCORE[c["verdict"]],
                **{k: c["counts"][k] for k in ("supported", "contradicted", "inconclusive")},
            }
            for c in claims
        },
    }
    for (model, variant, lr), group in table.groupby(GROUP, sort=True):
        entry = {"n_seeds": len(group), "n_diverged": int((group.status == "diverged").sum())}
        for column, name in FINAL_METRICS[model]:
            key = (model, variant, lr, column)
            ci = finals.loc[key] if key in finals.index else _NO_SUMMARY
            entry[name] = _num(ci["mean"])
            entry[f"{name}_lo"], entry[f"{name}_hi"] = _num(ci["lo"]), _num(ci["hi"])
            entry[f"{name}_ci_method"] = ci["method"]
        out.setdefault(model, {}).setdefault(variant, {})[f"lr{lr:g}"] = entry
    return out


def analyze(
    run_dirs: list[Path],
    probe_tables: list[Path],
    params: Params,
    out_dir: Path,
    claims_out: Path,
) -> dict:
    runs = [load_run(d) for d in run_dirs]
    table = runs_table(runs, params.analyze.final_window)
    probes = load_probes(probe_tables, table)
    quantities = run_quantities(runs, table, probes, params)
    correlations = ics_vs_performance(quantities, table, params)
    groups = {(m, v, float(lr)) for m, v, lr in table[GROUP].itertuples(index=False)}
    claims = []
    for claim in build_claims(params, groups):
        result = evaluate(claim, quantities, params)
        result["numbers"] = claim_numbers(claim.number, quantities, correlations, params)
        claims.append(result)
    out_dir = Path(out_dir)
    write_csv(out_dir / "runs.csv", table)
    write_csv(out_dir / "curves.csv", curves_table(runs, params))
    write_csv(out_dir / "probe_curves.csv", probe_curves(probes, params))
    write_csv(out_dir / "quantities.csv", quantities)
    summary = group_summary(quantities, params)
    write_csv(out_dir / "summary.csv", summary)
    write_csv(out_dir / "ics_vs_performance.csv", correlations)
    tests = [{"claim": c["claim"], **t} for c in claims for t in c["tests"]]
    write_csv(out_dir / "differences.csv", pd.DataFrame(tests))
    document = {
        "scale": params.scale,
        "confidence": params.analyze.confidence,
        "margin": params.analyze.margin,
        "rules": RULES,
        "claim_rule": CLAIM_RULE,
        "claims": claims,
    }
    write_json(claims_out, _json_safe(document))
    metrics = summary_metrics(table, summary, claims, params)
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
