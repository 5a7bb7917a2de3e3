"""Each claim's multiverse panel, the variance split of a curve test, and the long arm's
settling rule, against answers known by construction."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, raw_params
from synthetic import evidence

from bnpipe.analysis import variance_split
from bnpipe.analysis.claims import judge_all
from bnpipe.analysis.claims.judging import (
    INCONCLUSIVE,
    NOT_TESTABLE,
    SUPPORTED,
    Hypothesis,
    Outcome,
    compare,
)
from bnpipe.analysis.claims.multiverse import DECLARED, in_brief, panel
from bnpipe.analysis.quantities import window_mean
from bnpipe.analysis.settling import late_rise, settle_step
from bnpipe.params import load_params

PARAMS = load_params(raw_params("quick"))
PARAMS_SMOKE = load_params(raw_params("smoke"))
H = Hypothesis("t", "t", "raw", "above", 0.0)


def _outcome(values: list[float]) -> Outcome:
    return compare(H, dict(enumerate(values)), None, 0.95, 3)


def test_a_panel_agrees_disagrees_or_cannot_judge():
    yes, no = _outcome([1.0, 1.1, 0.9]), _outcome([1.0, -1.2, 0.3])
    assert (yes.verdict, no.verdict) == (SUPPORTED, INCONCLUSIVE)
    gated = _outcome([1.0, 1.3, 0.9])
    gated.verdict, gated.reason = NOT_TESTABLE, "not settled"

    agreeing = panel(yes, [("a", _outcome([2.0, 2.1, 1.9])), ("b", gated)])
    assert agreeing["agrees"] is True and agreeing["rows"][0]["alternative"] == DECLARED
    assert "all 1 alternatives that judge give `supported`; 1 cannot judge" in agreeing["words"]
    assert agreeing["rows"][2]["interval_verdict"] == SUPPORTED  # gated, but its interval says

    disagreeing = panel(yes, [("lag 5", no), ("b", _outcome([2.0, 2.1, 1.9]))])
    assert disagreeing["agrees"] is False
    assert "1 of the 2 alternatives that judge differ" in disagreeing["words"]
    assert "lag 5: inconclusive" in disagreeing["words"]
    assert in_brief(disagreeing) == "disagrees (1 of 2 that judge)"

    other = _outcome([1.0, 1.2, 0.8])
    other.verdict, other.reason = NOT_TESTABLE, "not settled"
    silent = panel(gated, [("b", other)])
    assert silent["agrees"] is None and "The primary cannot judge here" in silent["words"]
    assert "(their intervals alone: 1 supported)" in silent["words"]
    # a primary that cannot judge is never "disagreed with" by alternatives that can
    counted = panel(gated, [("whole run", no)])
    assert (
        counted["agrees"] is None
        and "of its alternatives, 1 judge: 1 inconclusive" in (counted["words"])
    )
    # an alternative with the primary's own values (a median of two = their mean) counts
    # for nothing, and says so
    twin = panel(yes, [("median over snapshots", _outcome([1.0, 1.1, 0.9])), ("lag 5", no)])
    assert twin["rows"][1]["same"] and twin["judged"] == 1 and twin["differ"] == 1
    assert "1 the same as the primary on these runs" in twin["words"]


def test_each_claim_panel_re_judges_its_primary_under_its_alternatives():
    """Standard 4x rougher along g only (not in a random direction): claim 5's primary is
    supported, and its panel names the random direction as the alternative that differs."""
    ev = evidence(
        np.random.default_rng(7), lrs={"vgg": (0.1,)}, noise=0.05, seed_effect=0.05,
        shift={("standard", "landscape.beta"): math.log(4.0)},
    )  # fmt: skip
    claims = {c["claim"]: c for c in judge_all(ev, PARAMS)}
    five = claims[5]["multiverse"]
    assert claims[5]["verdict"] == SUPPORTED
    rows = {r["alternative"]: r for r in five["rows"]}
    assert rows["a random direction"]["verdict"] != SUPPORTED
    assert rows["late window"]["verdict"] == rows["median over snapshots"]["verdict"] == SUPPORTED
    assert rows["late window"]["estimate"] == pytest.approx(4.0, rel=0.2)  # shown as a ratio
    assert five["agrees"] is False and "a random direction" in five["words"]
    for n, c in claims.items():  # every claim has a panel, the primary first
        assert c["multiverse"]["rows"][0]["verdict"] == c["verdict"], n
        assert len(c["multiverse"]["rows"]) >= 3, n
    two = {r["alternative"] for r in claims[2]["multiverse"]["rows"]}
    assert {"layer #3 alone", "layer #11 alone", "early window", "late window"} <= two
    one = {r["alternative"] for r in claims[1]["multiverse"]["rows"]}
    assert "test accuracy at step 125 of 250" in one


def test_the_variance_split_of_a_trapezoid_mean_and_of_a_median():
    # two snapshots at steps 0 and 100: weights 1/2, 1/2; s^2 = (3 - 1)^2 / 2 = 2
    two = variance_split.summary_variance(np.array([0, 100]), np.array([1.0, 3.0]), "mean")
    assert two == pytest.approx(2 * 0.5)
    steps = np.array([0.0, 10, 50, 100])
    w = variance_split.trapezoid_weights(steps)
    v = np.array([2.0, 5.0, -1.0, 4.0])
    assert w.sum() == pytest.approx(1)
    assert (w * v).sum() == pytest.approx(window_mean(steps, v, 0, 100))
    s2 = (3**2 + 6**2 + 5**2) / (2 * 3)  # successive differences 3, -6, 5
    assert variance_split.successive_variance(v) == pytest.approx(s2)
    # the median of 4 normals has variance 0.298 (1/4 = 0.25 for their mean)
    assert variance_split.median_factor(4) == pytest.approx(0.298, abs=0.003)
    assert variance_split.summary_variance(steps, v, "median") == pytest.approx(
        s2 * variance_split.median_factor(4)
    )
    # a straight line has no scatter about itself, only its slope: 1^2 / 2 per step
    line = np.arange(6.0)
    assert variance_split.successive_variance(line) == pytest.approx(0.5)


def test_pure_snapshot_noise_is_split_as_within_run():
    """Every seed has the same true level; each run's 6 snapshots scatter by sd 1: the
    variance over 400 seeds of the paired difference is all within-run, and the split
    says so (within / total near 1); with a seed effect of sd 2 it is mostly between."""
    rng = np.random.default_rng(0)
    steps = np.linspace(0, 500, 6)

    def runs(seed_sd: float):
        a, b, pa, pb = {}, {}, {}, {}
        for s in range(400):
            e = rng.normal(0, seed_sd)
            va, vb = e + rng.normal(0, 1, 6), rng.normal(0, 1, 6)
            pa[s], pb[s] = (steps, va), (steps, vb)
            a[s], b[s] = window_mean(steps, va, 0, 500), window_mean(steps, vb, 0, 500)
        return variance_split.split(a, b, pa, pb)

    noise = runs(0.0)
    assert noise["within_share"] == pytest.approx(1.0, abs=0.15)
    for summary in ("mean", "median"):  # the median's small-n variance too
        a, b, pa, pb = {}, {}, {}, {}
        for s in range(400):
            va, vb = rng.normal(0, 1, 6), rng.normal(0, 1, 6)
            pa[s], pb[s] = (steps, va), (steps, vb)
            pick = (lambda x: window_mean(steps, x, 0, 500)) if summary == "mean" else np.median
            a[s], b[s] = pick(va), pick(vb)
        assert variance_split.split(a, b, pa, pb, summary)["within_share"] == pytest.approx(
            1.0, abs=0.15
        ), summary
    seeds = runs(2.0)
    assert seeds["between"] / seeds["total"] > 0.8
    assert "within runs" in variance_split.describe(seeds)


def test_settling_finds_the_length_after_which_every_run_has_settled():
    """Accuracy t / 10,000 up to step 8,000, then flat at 0.8: a run of T steps rose
    3.6 points over its last tenth at T = 9,000, 0.84 at 9,500, 0 from 10,000 on; short
    runs of a slow rise also rise < 1 point (first_below), which is not settling."""
    t = np.arange(12_000)
    acc = pd.Series(np.minimum(t / 10_000, 0.8), index=t)
    assert late_rise(acc, 9_000, 0.1) == pytest.approx(0.0356, abs=5e-4)
    assert late_rise(acc, 9_500, 0.1) == pytest.approx(0.0084, abs=5e-4)
    s = settle_step(acc, list(range(500, 12_001, 500)), 0.1, 0.01)
    assert s.first_below == 500 and s.settled_from == 9_500
    assert settle_step(acc, [9_000], 0.1, 0.01).settled_from is None


@pytest.fixture(scope="module")
def smoke_prepared(tmp_path_factory) -> str:
    """The smoke scale's arrays, prepared from the committed CIFAR-10 sample (seconds)."""
    out = tmp_path_factory.mktemp("prepared") / "cifar10.npz"
    cmd = [sys.executable, str(ROOT / "workflow/scripts/prepare.py"), "--params",
           str(ROOT / "params.yaml"), "--scale", "smoke", "--archive",
           str(ROOT / "data/sample/cifar10-sample.tar.gz"), "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return str(out)


def test_the_long_arm_trains_one_run_past_the_scale_and_reports_its_settling(
    tmp_path, smoke_prepared
):
    prepared = smoke_prepared
    out = tmp_path / "long"
    cmd = [
        sys.executable,
        str(ROOT / "workflow/scripts/long_arm.py"),
        "--params",
        str(ROOT / "params.yaml"),
        "--scale",
        "smoke",
        "--run",
        "vgg-batchnorm-lr0.1-s0",
        "--steps",
        "40",
        "--every",
        "10",
        "--prepared",
        str(prepared),
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    result = json.loads((out / "vgg-batchnorm-lr0.1-s0.json").read_text())
    history = pd.read_csv(out / "vgg-batchnorm-lr0.1-s0" / "history.csv")
    assert result["steps"] == 40 and history.step.max() == 40  # the scale's 12 steps, x3.3
    acc = history.dropna(subset=["train_acc"]).set_index("step").train_acc
    assert result["settling"]["candidates"] == [10, 20, 30, 40]
    assert result["settling"]["rises"] == pytest.approx(
        [late_rise(acc, t, 0.1) for t in (10, 20, 30, 40)]
    )
    assert result["train_s_per_step"] > 0


def test_a_test_waiting_for_training_cites_what_the_long_arm_measured():
    from bnpipe.analysis.claims.context import Context

    ev = evidence(np.random.default_rng(0), lrs={"vgg": (0.1,)})
    arm = {
        "run": "vgg-batchnorm-lr0.1-s0",
        "steps": 15_000,
        "train_s_per_step": 0.12,
        "threads": 1,
        "device": "cpu (x86_64, 1 threads)",
        "settling": {"settled_from": 12_500, "limit": 0.01, "rises": [0.02, 0.009]},
    }
    c = Context(ev, PARAMS, [arm])
    said = c.requirement(("vgg", "batchnorm", 0.1), ("vgg", "standard", 0.1))
    # 3 seeds x 12,500 steps x 0.12 s = 1.25 core-hours; no long arm of standard's
    assert said == (
        "; measured by the long arm: vgg-batchnorm-lr0.1-s0 (one seed, its own rise: an "
        "optimistic estimate of the rule's need) settled, late rise within 1 point, from "
        "12,500 of its 15,000 steps on: 3 seeds of vgg-batchnorm-lr0.1 that long take 1.2 "
        "core-hours of training on cpu (x86_64, 1 threads) (120 ms a step, probes not "
        "counted)"
    )
    arm["settling"]["settled_from"] = None
    assert "had not settled within 15,000 steps (late rise +0.90 points)" in c.requirement(
        ("vgg", "batchnorm", 0.1)
    )
    assert Context(ev, PARAMS).requirement(("vgg", "batchnorm", 0.1)) == ""


def test_the_width_check_trains_the_grids_run_at_another_width(tmp_path, smoke_prepared):
    """At the scale's own width (0.0625) the width check's history is the grid's
    (train.py's) to the byte in its training columns: only the width differs. At 0.125 the
    first conv has 8 channels, not 4, and the analysis reads the run with the grid's code
    (analyze.width_runs): the mean training accuracy over the last 10% of the steps, its
    late rise, and the width from the run's own record."""
    import torch

    from bnpipe.analysis.analyze import width_runs

    run, script = "vgg-batchnorm-lr0.1-s0", str(ROOT / "workflow/scripts/width_check.py")
    common = ["--params", str(ROOT / "params.yaml"), "--scale", "smoke", "--run", run,
              "--prepared", smoke_prepared]  # fmt: skip
    for width in ("0.0625", "0.125"):
        cmd = [sys.executable, script, *common, "--width", width, "--out", str(tmp_path / width)]
        subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    grid_run = tmp_path / "grid" / run
    grid = [sys.executable, str(ROOT / "workflow/scripts/train.py"), *common,
            "--out", str(grid_run), "--snapshots", str(tmp_path / "grid.snap")]  # fmt: skip
    subprocess.run(grid, check=True, cwd=ROOT, capture_output=True)
    training = ["step", "train_loss", "train_acc"]
    same = pd.read_csv(tmp_path / "0.0625" / run / "history.csv")[training]
    pd.testing.assert_frame_equal(
        same, pd.read_csv(tmp_path / "grid" / run / "history.csv")[training]
    )

    wider = tmp_path / "0.125" / run
    state = torch.load(wider / "final.pt", map_location="cpu", weights_only=False)
    weights = state.get("model", state)
    first_conv = next(v for k, v in weights.items() if k.endswith("weight") and v.dim() == 4)
    assert first_conv.shape[0] == 8  # 64 x 0.125
    (row,) = width_runs([wider], PARAMS_SMOKE)
    history = pd.read_csv(wider / "history.csv")
    acc = history.dropna(subset=["train_acc"]).set_index("step").train_acc
    assert row["width"] == 0.125 and row["steps"] == 12 == history.step.max()
    assert row["train_mode_acc"] == pytest.approx(acc[acc.index >= 0.9 * 12].mean())
    assert row["late_rise"] == pytest.approx(late_rise(acc, 12, 0.1))
    bad = subprocess.run([sys.executable, script, *common[:5], "dln-standard-lr1e-06-s0",
                          *common[6:], "--width", "0.125", "--out", str(tmp_path / "x")],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode != 0 and "is not a VGG run of the smoke grid" in bad.stderr


def test_claim_3_panel_re_judges_the_gap_at_each_width_of_the_width_check():
    """Width checks at 0.25 whose noisy BN trails BN by 2 points on every seed (settled:
    no late rise) give a supported row above the -5-point margin; at 0.5, by 12 points,
    contradicted; at 1.0 still rising 3 points a tenth: not testable, saying so."""
    from bnpipe.analysis.claims import claim3
    from bnpipe.analysis.claims.context import Context

    ev = evidence(np.random.default_rng(3), lrs={"vgg": (0.1,)})
    checks = []
    for width, gap, rise in ((0.25, -0.02, 0.0), (0.5, -0.12, 0.0), (1.0, -0.02, 0.03)):
        for seed, jitter in enumerate((0.0, 0.004, -0.003)):
            for variant, acc in (("noisy_batchnorm", 0.8 + gap + jitter), ("batchnorm", 0.8)):
                own_rise = rise if variant == "noisy_batchnorm" else 0.0
                checks.append({"model": "vgg", "variant": variant, "lr": 0.1, "seed": seed,
                               "width": width, "status": "completed", "trained_step": 300.0,
                               "train_mode_acc": acc, "late_rise": own_rise})  # fmt: skip
    rows = dict(claim3.multiverse(Context(ev, PARAMS, width_checks=checks)))
    quarter, half, one = (rows[f"width {w:g} ({w / PARAMS.vgg.width:g}x the scale's)"]
                          for w in (0.25, 0.5, 1.0))  # fmt: skip
    assert quarter.verdict == SUPPORTED
    assert quarter.interval.estimate == pytest.approx(-0.02 + (0.004 - 0.003) / 3)
    assert half.verdict == "contradicted"
    assert one.verdict == NOT_TESTABLE and "has not settled" in one.reason
    assert Context(ev, PARAMS).widths() == []  # no width check: no rows
