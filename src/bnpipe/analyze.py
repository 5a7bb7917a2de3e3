"""Pool the runs: one row per run, seed-level intervals, and the metrics DVC shows.

Writes
  runs.csv      id, model, variant, lr, seed, status, final train/test accuracy and loss
  curves.csv    accuracy (VGG) and eval-mode loss over training per (model, variant, lr):
                seed mean and interval
  metrics.json  per model, variant and lr, with a bootstrap interval over seeds: the mean
                final test and train accuracy (VGG) or final loss (DLN); counts of
                completed and diverged runs
A diverged run keeps its row (status, step) but contributes no accuracy: NaN never
enters a mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bnpipe.files import write_csv, write_json
from bnpipe.params import Params
from bnpipe.stats import bootstrap_curve, bootstrap_mean

GROUP = ["model", "variant", "lr"]
# history column -> curve name; columns a model lacks (the DLN's accuracies) are skipped
CURVE_METRICS = {"eval_train_acc": "train", "test_acc": "test", "eval_train_loss": "train_loss"}
# per model: (runs.csv column, metrics.json name) of the final numbers with intervals
FINAL_METRICS = {
    "vgg": (("final_test_acc", "test_acc"), ("final_train_acc", "train_acc")),
    "dln": (("final_train_loss", "train_loss"),),
}


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
            mean, lo, hi, n = bootstrap_curve(
                matrix, params.analyze.confidence, params.analyze.n_resamples
            )
            frame = pd.DataFrame({"step": steps, "mean": mean, "lo": lo, "hi": hi, "n": n})
            frames.append(frame.assign(**dict(zip(GROUP, key, strict=True)), split=split))
    return pd.concat(frames, ignore_index=True)[[*GROUP, "split", "step", "mean", "lo", "hi", "n"]]


def summary_metrics(table: pd.DataFrame, params: Params) -> dict:
    """Nested dict for `dvc exp show`: model -> variant -> lr<lr> -> numbers."""
    a = params.analyze
    out: dict = {
        "scale": params.scale,
        "runs": {
            "total": len(table),
            "completed": int((table.status == "completed").sum()),
            "diverged": int((table.status == "diverged").sum()),
        },
    }
    for (model, variant, lr), group in table.groupby(GROUP, sort=True):
        entry = {"n_seeds": len(group), "n_diverged": int((group.status == "diverged").sum())}
        for column, name in FINAL_METRICS[model]:
            ci = bootstrap_mean(group[column], a.confidence, a.n_resamples)
            entry[name] = _num(ci.mean)
            entry[f"{name}_lo"], entry[f"{name}_hi"] = _num(ci.lo), _num(ci.hi)
            entry[f"{name}_ci_method"] = ci.method
        out.setdefault(model, {}).setdefault(variant, {})[f"lr{lr:g}"] = entry
    return out


def analyze(run_dirs: list[Path], params: Params, out_dir: Path) -> dict:
    runs = [load_run(d) for d in run_dirs]
    table = runs_table(runs, params.analyze.final_window)
    out_dir = Path(out_dir)
    write_csv(out_dir / "runs.csv", table)
    write_csv(out_dir / "curves.csv", curves_table(runs, params))
    metrics = summary_metrics(table, params)
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def _num(x: float) -> float | None:
    """JSON has no NaN: missing numbers are null."""
    return None if not np.isfinite(x) else round(float(x), 6)
