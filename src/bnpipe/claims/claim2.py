"""Claim 2: BatchNorm does not visibly stabilize layer-input distributions (Fig. 2).

The input of the next layer (after the ReLU), every unit, shifts between snapshot t and
t + lag (probe `activations`, lag_shift: a scale-free W2 distance over the unit's sd),
averaged over the trained snapshots and over layers #3 and #11. "Not visibly more
stable" = BN's shift is at least half the standard network's. Never BN's own output:
in training mode its batch mean and variance are beta and ~gamma^2 by construction.
"""

from __future__ import annotations

import math

from bnpipe.claims.context import Context
from bnpipe.claims.judging import Hypothesis, Outcome
from bnpipe.figure_specs import FigureSpec, Inputs, bands_figure, have, probe_figure
from bnpipe.figures import Panel

NUMBER = 2
TITLE = "BatchNorm does not visibly stabilize layer input distributions"
PAPER = (
    "Activations of layers #3 and #11 over training (Fig. 2): with and without BN the "
    "distributions move alike."
)
LR = 0.1
LAYERS = (3, 11)
HALVING = math.log(0.5)


def _shift(site: str, layers: tuple[int, ...], lr: float) -> Hypothesis:
    where = "next layer's input" if site == "input" else "conv output before normalization"
    at = " and ".join(f"#{k}" for k in layers)
    return Hypothesis(
        f"VGG lr {lr:g}, layer {at}: {where} shift at a fixed lag, BN / standard",
        f"BN's shift of the {where} over standard's (VGG lr {lr:g}, layer {at}, trained snapshots)",
        "log",
        "above",
        HALVING,
    )


def judge(c: Context) -> tuple[Outcome, list[Outcome]]:
    def test(site: str, layers: tuple[int, ...], lr: float = LR) -> Outcome:
        return c.curve(
            _shift(site, layers, lr),
            ("vgg", "batchnorm", lr),
            ("vgg", "standard", lr),
            "activations",
            f"{site}_lag_shift",
            layers,
            "all",
        )

    primary = test("input", LAYERS)
    primary.notes.append(
        "read with care: in a BN network the next layer's input is ReLU(gamma x + beta) with "
        "x standardized over the batch, so its unit moments move only as gamma, beta and the "
        "shape of x do; the conv output before normalization (a secondary) is free of that"
    )
    secondaries = [test("input", (k,)) for k in LAYERS] + [test("pre", LAYERS)]
    return primary, secondaries


def figures(x: Inputs) -> list[FigureSpec]:
    variants = ("standard", "batchnorm")
    if not have(x, "vgg", *variants):
        return []
    lag = x.params.probe.activations.lag
    panels = [
        Panel(f"next-layer input, layer #{k}", "activations", "input_lag_shift", k, log=True)
        for k in LAYERS
    ]
    panels += [
        Panel(f"conv output, layer #{k}", "activations", "pre_lag_shift", k, log=True)
        for k in LAYERS
    ]
    return [
        bands_figure(
            x,
            "fig2_activations",
            LAYERS,
            variants,
            "Activation distributions over training, with and without BN (paper Fig. 2).",
        ),
        probe_figure(
            x,
            "fig2_lag_shifts",
            f"What the claim tests: every unit's shift between snapshot t and t + {lag} "
            "steps of real training (W2 distance of the unit's mean and sd over its sd at "
            "t, averaged over units), at the next layer's input (after the ReLU) and at "
            "the conv output before normalization; seed mean and 95% band. Snapshots "
            "before a network left chance are drawn too; the test uses only later ones.",
            "vgg",
            variants,
            panels,
        ),
    ]
