"""Per-run quantities on small hand-built histories and probe tables: known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import raw_params

from bnpipe.analysis.quantities import (
    Evidence,
    run_quantities,
    runs_table,
    trained_step,
    window_mean,
)
from bnpipe.params import load_params

PARAMS = load_params(raw_params("quick"))  # VGG: 250 steps, eval every 50


def _history(losses, accs, evals: dict[int, tuple[float, float]] | None = None) -> pd.DataFrame:
    steps = list(range(len(losses)))
    h = pd.DataFrame({"step": steps, "train_loss": losses, "train_acc": accs})
    cols = ["eval_train_loss", "eval_train_acc", "test_loss", "test_acc"]
    for c in cols:
        h[c] = np.nan
    for step, (train_acc, test_acc) in (evals or {}).items():
        row = {"step": step, "eval_train_loss": 1.0, "eval_train_acc": train_acc,
               "test_loss": 1.0, "test_acc": test_acc}  # fmt: skip
        if step < len(h):
            h.loc[step, cols] = [row[c] for c in cols]
        else:
            h = pd.concat([h, pd.DataFrame([row])], ignore_index=True)
    return h


def _record(run: str, status: str = "completed", model: str = "vgg") -> dict:
    _, variant, lr, seed = run.split("-")
    return {
        "id": run, "model": model, "variant": variant, "lr": float(lr[2:]),
        "seed": int(seed[1:]), "status": status, "steps_done": 250,
        "diverged": {"step": 120, "last_finite_loss": 2.3} if status == "diverged" else None,
        "timing": {"wall_s": 1.0},
    }  # fmt: skip


def test_a_run_leaves_chance_when_its_smoothed_training_loss_drops_below_ln10_minus_margin():
    # ln 10 = 2.303, margin 0.1: the threshold is 2.203; smoothing over 2% of 250 = 5 steps
    losses = [2.303] * 100 + [2.0] * 150
    # the running mean at step 101: (3 * 2.303 + 2 * 2.0) / 5 = 2.18
    assert trained_step(_history(losses, [0.1] * 250), "vgg", 250, PARAMS) == 101.0
    flat = [2.25] * 250  # below ln 10, but not by the margin: still at chance
    assert math.isnan(trained_step(_history(flat, [0.1] * 250), "vgg", 250, PARAMS))
    spike = [2.303] * 100 + [1.9] + [2.303] * 149  # one lucky batch is not leaving chance
    assert math.isnan(trained_step(_history(spike, [0.1] * 250), "vgg", 250, PARAMS))
    assert trained_step(_history(flat, [0.1] * 250), "dln", 250, PARAMS) == 0.0


def test_a_diverged_run_counts_as_chance_never_as_missing():
    evals = {0: (0.1, 0.1), 50: (0.4, 0.35), 250: (0.8, 0.7)}
    good = _history([2.0] * 250, [0.5] * 225 + [0.9] * 25, evals)
    bad = _history([2.0] * 120, [0.3] * 120, {0: (0.1, 0.1), 50: (0.3, 0.3)})
    runs = [
        (_record("vgg-batchnorm-lr0.5-s0"), good),
        (_record("vgg-standard-lr0.5-s0", "diverged"), bad),
    ]
    table = runs_table(runs, PARAMS).set_index("id")
    std, bn = table.loc["vgg-standard-lr0.5-s0"], table.loc["vgg-batchnorm-lr0.5-s0"]
    assert std.final_test_acc == 0.1 and std.train_mode_acc == 0.1 and std.status == "diverged"
    assert bn.final_test_acc == 0.7 and bn.train_mode_acc == pytest.approx(0.9)
    q = run_quantities(runs, table.reset_index(), PARAMS).set_index(["run", "quantity"]).value
    # the speed measure: mean train-mode accuracy over steps 0..249, with the steps after
    # the divergence (120..249) at chance
    expected = (0.3 * 120 + 0.1 * 130) / 250
    assert q["vgg-standard-lr0.5-s0", "train_acc_mean"] == pytest.approx(expected)
    assert math.isnan(q["vgg-batchnorm-lr0.5-s0", "steps_to_acc0.95"])
    # smoothed over 5 steps: the running mean first reaches 0.8 at step 228 (4 of 5 at 0.9)
    assert q["vgg-batchnorm-lr0.5-s0", "steps_to_acc0.8"] == 228
    assert q["vgg-batchnorm-lr0.5-s0", "steps_to_acc0.3"] == 4


def test_window_mean_weights_by_steps_not_by_snapshot_count():
    steps = np.array([0, 1, 2, 3, 4, 100])
    values = np.array([10, 10, 10, 10, 10, 0.0])
    # five early snapshots at 10 and one late at 0: the step-weighted mean over [0, 100]
    # is about the late value's half-way, not 8.3 (the count-weighted mean)
    assert window_mean(steps, values, 0, 100) == pytest.approx((4 * 10 + 96 * 5) / 100)
    assert window_mean(steps, values, 50, 100) == 0.0  # one point inside
    assert math.isnan(window_mean(steps, values, 5, 50))


def _evidence(beta_std: list[float], trained_std: float = 0.0) -> Evidence:
    runs, probes, q = [], [], []
    for variant, betas, trained in (
        ("standard", beta_std, trained_std),
        ("batchnorm", [1.0] * 4, 0),
    ):
        for seed in range(3):
            run = f"vgg-{variant}-lr0.1-s{seed}"
            runs.append((run, "vgg", variant, 0.1, seed, "completed", 100, trained, 0.5))
            for step, beta in zip((0, 10, 50, 100), betas, strict=True):
                probes.append((run, step, 0, "landscape", "beta", beta * (1 + 0.1 * seed)))
            q.append((run, "vgg", variant, 0.1, seed, "completed", "final_test_acc", 0.5, 0))
    cols = ["id", "model", "variant", "lr", "seed", "status", "steps", "trained_step",
            "final_test_acc"]  # fmt: skip
    runs = [(*r, 0.0) for r in runs]
    cols.append("late_rise")
    return Evidence(
        pd.DataFrame(runs, columns=cols),
        pd.DataFrame(
            q,
            columns=[
                "run",
                "model",
                "variant",
                "lr",
                "seed",
                "status",
                "quantity",
                "value",
                "layer",
            ],
        ),  # fmt: skip
        pd.DataFrame(probes, columns=["run", "step", "layer", "probe", "metric", "value"]),
    )


def test_an_overflowing_landscape_point_ranks_worst_not_dropped():
    std, bn = ("vgg", "standard", 0.1), ("vgg", "batchnorm", 0.1)
    ev = _evidence([2.0, np.inf, 2.0, 2.0])
    pairs = ev.window_pairs(std, bn, "landscape", "beta", (0,), (0.0, 1.0), log=False)
    # the inf at step 10 takes the largest finite beta seen (2.0 * 1.2 of seed 2)
    expected = window_mean(np.array([0, 10, 50, 100]), np.array([2.0, 2.4, 2.0, 2.0]), 0, 100)
    assert pairs.a[0] == pytest.approx(expected)
    dropped = window_mean(np.array([0, 50, 100]), np.array([2.0, 2.0, 2.0]), 0, 100)
    assert pairs.a[0] > dropped  # what dropping the point would have given


def test_only_snapshots_after_both_runs_left_chance_are_compared():
    std, bn = ("vgg", "standard", 0.1), ("vgg", "batchnorm", 0.1)
    ev = _evidence([0.1, 0.1, 3.0, 3.0], trained_std=50)  # flat (at chance) until step 50
    pairs = ev.window_pairs(std, bn, "landscape", "beta", (0,), (0.0, 1.0), log=False)
    assert pairs.a[0] == pytest.approx(3.0) and pairs.b[0] == pytest.approx(1.0)
    early = ev.window_pairs(std, bn, "landscape", "beta", (0,), (0.0, 0.1), log=False)
    assert early.untestable.startswith("no snapshot in the window (steps 0-10)")
    ev.table.loc[ev.table.variant == "standard", "trained_step"] = np.nan
    never = Evidence(ev.table, ev.quantities, ev.probes)
    reason = never.window_pairs(std, bn, "landscape", "beta", (0,), (0.0, 1.0)).untestable
    assert reason.startswith("vgg-standard-lr0.1 never left chance")


def test_analyze_derives_the_loss_range_and_keeps_an_overflow_non_finite(tmp_path):
    from bnpipe.analysis.analyze import load_probes, probe_quantities

    rows = [
        ("r", 0, 0, "landscape", "loss_min", 1.0),
        ("r", 0, 0, "landscape", "loss_max", 3.0),
        ("r", 10, 0, "landscape", "loss_min", 1.0),
        ("r", 10, 0, "landscape", "loss_max", np.inf),  # overflowed
        ("r", 0, 0, "landscape", "beta", 2.0),
        ("r", 10, 0, "landscape", "beta", 4.0),
        ("r", 100, 0, "landscape", "beta", 4.0),
    ]
    path = tmp_path / "r.csv"
    pd.DataFrame(rows, columns=["run", "step", "layer", "probe", "metric", "value"]).to_csv(
        path, index=False
    )
    probes = load_probes([path])
    span = probes[probes.metric == "loss_range"].set_index("step").value
    assert span[0] == 2.0 and np.isinf(span[10])  # the comparisons rank it worst
    q = probe_quantities(probes).set_index("quantity").value
    # beta over steps 0..100 by the trapezoid rule: (3 * 10 + 4 * 90) / 100
    assert q["landscape.beta"] == pytest.approx(3.9)


def test_a_seed_whose_run_never_left_chance_gives_no_pair_in_either_order():
    std, bn = ("vgg", "standard", 0.1), ("vgg", "batchnorm", 0.1)
    ev = _evidence([2.0, 2.0, 2.0, 2.0])
    ev.table.loc[(ev.table.variant == "standard") & (ev.table.seed == 1), "trained_step"] = np.nan
    ev = Evidence(ev.table, ev.quantities, ev.probes)
    for a, b in ((std, bn), (bn, std)):
        pairs = ev.window_pairs(a, b, "landscape", "beta", (0,), (0.0, 1.0))
        assert sorted(pairs.a) == sorted(pairs.b) == [0, 2]
