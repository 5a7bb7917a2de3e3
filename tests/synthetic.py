"""Synthetic evidence for the claims: runs, scalar quantities and probe curves drawn from
a known truth, so that the verdict machinery can be checked against it (test_claims)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bnpipe.analysis.quantities import Evidence

VARIANTS = ("standard", "batchnorm", "noisy_batchnorm", "l1", "l2", "linf")
LRS = {"vgg": (0.01, 0.1, 0.5), "dln": (1e-6, 1e-7)}
DLN_VARIANTS = ("standard", "batchnorm", "l1", "l2", "linf")
STEPS = {"vgg": 1000, "dln": 1000}
SNAPSHOTS = (0, 100, 1000)
# (probe, metric, layers): the probe curves the claims read; values are lognormal
CURVES = (
    ("activations", "input_lag_shift", (2, 3, 9, 11, 13)),
    ("activations", "pre_lag_shift", (3, 11)),
    ("activations", "input_coord_lag_shift", (2, 3, 9, 11, 13)),
    ("activations", "pre_coord_lag_shift", (3, 11)),
    ("ics", "rel_l2", (5, 9, 10, 17)),
    ("ics", "l2", (5, 9, 10, 17)),
    ("landscape", "beta", (0,)),
    ("landscape", "loss_range", (0,)),
    ("landscape", "gpred_max", (0,)),
    ("landscape_random", "beta", (0,)),
)
COSINE = ("ics", "cos", (5, 9, 10, 17))  # values near 1 - 0.2, additive noise
REDUCTION = ("theorem41", "log_reduction_median")  # logs, additive noise
SCALARS = (
    "final_test_acc",
    "train_mode_acc",
    "test_acc_clean_stats",
    "train_acc_mean",
    "test_acc@125",
)


def evidence(
    rng: np.random.Generator,
    seeds: int = 3,
    lrs: dict | None = None,
    shift: dict | None = None,
    noise: float = 0.3,
    seed_effect: float = 0.3,
    groups: set[tuple[str, str, float]] | None = None,
) -> Evidence:
    """Every group alike (the null) except `shift`: {(variant or '*', key): offset} with
    key a scalar name, 'probe.metric' or 'theorem41'; offsets add to logs for curves, to
    accuracies (fractions) for scalars, to log factors for theorem41. Each seed has its
    own effect shared by every variant (what pairing removes). `groups`: only these
    (model, variant, lr), e.g. a scale's grid."""
    shift = shift or {}

    def offset(variant: str, key: str) -> float:
        return shift.get((variant, key), 0.0)

    runs, scalars, probes = [], [], []
    for model, model_lrs in (lrs or LRS).items():
        variants = VARIANTS if model == "vgg" else DLN_VARIANTS
        for lr in model_lrs:
            effects = rng.normal(0, seed_effect, seeds)
            for variant in variants:
                if groups is not None and (model, variant, lr) not in groups:
                    continue
                for seed in range(seeds):
                    run = f"{model}-{variant}-lr{lr:g}-s{seed}"
                    runs.append((run, model, variant, lr, seed, "completed", STEPS[model], 0.0))
                    e = effects[seed]
                    for q in SCALARS:
                        v = 0.6 + 0.03 * (e + rng.normal(0, noise)) + offset(variant, q)
                        scalars.append((run, model, variant, lr, seed, "completed", q, v))
                    loss = math.exp(e + rng.normal(0, noise) + offset(variant, "final_train_loss"))
                    scalars.append(
                        (run, model, variant, lr, seed, "completed", "final_train_loss", loss)
                    )
                    for probe, metric, layers in CURVES:
                        key = f"{probe}.{metric}"
                        level = e + offset(variant, key)
                        for layer in layers:
                            values = np.exp(level + rng.normal(0, noise, len(SNAPSHOTS)))
                            probes += [
                                (run, s, layer, probe, metric, v)
                                for s, v in zip(SNAPSHOTS, values, strict=True)
                            ]
                    probe, metric, layers = COSINE
                    level = 0.8 + 0.05 * e + offset(variant, "ics.cos")
                    for layer in layers:
                        values = level + rng.normal(0, 0.05 * noise, len(SNAPSHOTS))
                        probes += [
                            (run, s, layer, probe, metric, v)
                            for s, v in zip(SNAPSHOTS, values, strict=True)
                        ]
                    if "batchnorm" in variant:
                        layers = range(1, 14) if model == "vgg" else range(1, 25)
                        level = e + offset(variant, "theorem41")
                        for layer in layers:
                            values = level + rng.normal(0, noise, len(SNAPSHOTS))
                            probes += [
                                (run, s, layer, *REDUCTION, v)
                                for s, v in zip(SNAPSHOTS, values, strict=True)
                            ]
    table = pd.DataFrame(
        runs,
        columns=["id", "model", "variant", "lr", "seed", "status", "steps", "trained_step"],
    )
    table["final_test_acc"] = 0.6
    table["late_rise"] = 0.0  # every run has finished learning
    quantities = pd.DataFrame(
        scalars,
        columns=["run", "model", "variant", "lr", "seed", "status", "quantity", "value"],
    ).assign(layer=0)
    probes = pd.DataFrame(probes, columns=["run", "step", "layer", "probe", "metric", "value"])
    return Evidence(table, quantities, probes)
