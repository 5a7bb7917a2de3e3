"""Curve files for `dvc plots show` and `dvc plots diff` (dvc.yaml `plots:`).

One CSV per group (model, variant, lr), named like a run id without the seed, in one
folder per curve, so each folder's files share their x and y columns:
  results/plots/vgg_test_acc/<group>.csv     step, test_acc    (seed mean, eval mode)
  results/plots/dln_train_loss/<group>.csv   step, train_loss  (seed mean, eval mode)
  results/plots/beta/<group>.csv             step, beta        (effective beta-smoothness
                                                               along g, seed mean)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from bnpipe.files import staging_dir, write_csv

# folder -> (table, filter on the table, y column name)
CURVES = {
    "vgg_test_acc": ("curves", {"model": "vgg", "split": "test"}, "test_acc"),
    "dln_train_loss": ("curves", {"model": "dln", "split": "train_loss"}, "train_loss"),
    "beta": ("probe_curves", {"probe": "landscape", "metric": "beta", "layer": 0}, "beta"),
}


def write_plot_tables(curves: pd.DataFrame, probe_curves: pd.DataFrame, folder: Path) -> None:
    """Replace `folder` with the per-group curve files (staged, then swapped in whole)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(folder.parent, f".{folder.name}.")
    try:
        tables = {"curves": curves, "probe_curves": probe_curves}
        for name, (table, where, y) in CURVES.items():
            rows = tables[table]
            for column, value in where.items():
                rows = rows[rows[column] == value]
            for (model, variant, lr), group in rows.groupby(["model", "variant", "lr"]):
                frame = group.sort_values("step")[["step", "mean"]].rename(columns={"mean": y})
                write_csv(staging / name / f"{model}-{variant}-lr{lr:g}.csv", frame)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
