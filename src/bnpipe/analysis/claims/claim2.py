"""Claim 2: BatchNorm does not visibly stabilize layer-input distributions (Fig. 2).

Primary (docs/protocol.md, version 2): the input of the next layer (after the ReLU),
per coordinate (c, h, w): each coordinate's distribution over the probe batch shifts
between snapshot t and t + lag (probe `activations`, input_coord_lag_shift: a
scale-free W2 distance over the coordinate's sd, averaged over the layer's coordinates
or a fixed sample of them), averaged over the trained snapshots and over layers #3 and
#11. "Not visibly more stable" = BN's shift is at least half the standard network's.
The paper draws sampled activations, i.e. single coordinates (Figs. 2, 7).

Version 1 measured a channel (its B*H*W values). In a BN network that unit is pinned by
construction: in training mode, on the batch it normalizes, each channel of BN's output
has mean beta and variance ~gamma^2 whatever the weights, and its ReLU almost as
tightly, so a channel-level test measures the drift of gamma and beta. It stays as a
secondary, labelled so. Never BN's own output.
"""

from __future__ import annotations

import math

from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import Hypothesis, Outcome
from bnpipe.analysis.claims.multiverse import relabel

NUMBER = 2
TITLE = "BatchNorm does not visibly stabilize layer input distributions"
PAPER = (
    "Activations of layers #3 and #11 over training (Fig. 2): with and without BN the "
    "distributions move alike."
)
LR = 0.1
LAYERS = (3, 11)
HALVING = math.log(0.5)


UNITS = {"coordinate": "coord_", "channel": ""}  # unit -> metric infix (lag_record.UNITS)


def _shift(site: str, layers: tuple[int, ...], lr: float, unit: str) -> Hypothesis:
    where = "next layer's input" if site == "input" else "conv output before normalization"
    at = " and ".join(f"#{k}" for k in layers)
    per = (
        "per coordinate"
        if unit == "coordinate"
        else "per channel, pinned by construction in BN networks"
    )
    return Hypothesis(
        f"VGG lr {lr:g}, layer {at}: {where} shift at a fixed lag ({per}), BN / standard",
        f"BN's shift of the {where} ({per}) over standard's (VGG lr {lr:g}, layer {at}, "
        "trained snapshots)",
        "log",
        "above",
        HALVING,
    )


def _test(
    c: Context, site: str, layers: tuple[int, ...], unit: str = "coordinate",
    window: str = "all", lr: float = LR, over_units: str = "", summary: str = "mean",
    lag: int | None = None,
) -> Outcome:  # fmt: skip
    """BN's shift over standard's; `over_units` "" (the mean over units) or "_median";
    `summary`: of the window's snapshots (Context.curve); `lag`: one of
    probe.activations.also_lags (None: the main lag)."""
    h = _shift(site, layers, lr, unit)
    extra = [f"lag {lag}"] if lag else []
    extra += [f"{window} window"] if window != "all" else []
    extra += ["median over units"] if over_units else []
    extra += ["median over snapshots"] if summary != "mean" else []
    if extra:
        h = relabel(h, ", ".join(extra))
    return c.curve(
        h, ("vgg", "batchnorm", lr), ("vgg", "standard", lr), "activations",
        f"{site}_{UNITS[unit]}lag_shift{over_units}{f'@lag{lag}' if lag else ''}", layers,
        window, summary=summary,
    )  # fmt: skip


def judge(c: Context) -> tuple[Outcome, list[Outcome]]:
    primary = _test(c, "input", LAYERS)
    secondaries = [_test(c, "input", (k,)) for k in LAYERS] + [_test(c, "pre", LAYERS)]
    pinned = _test(c, "input", LAYERS, "channel")
    pinned.notes.append(
        "pinned by construction in BN networks: on the batch it normalizes, each channel of "
        "BN's output has mean beta and variance ~gamma^2 whatever the weights, and the "
        "ReLU's output channel almost as tightly, so this test measures the drift of gamma "
        "and beta; the primary reads single coordinates (c, h, w), as the paper's figures do"
    )
    return primary, [*secondaries, pinned]


def multiverse(c: Context) -> list[tuple[str, Outcome]]:
    """The other lags, each layer alone, the early and late windows, the median over
    coordinates and over snapshots, and every other lr of the grid."""
    main = c.params.probe.activations.lag
    rows = [
        (f"lag {lag} (not {main})", _test(c, "input", LAYERS, lag=lag))
        for lag in c.params.probe.activations.also_lags
    ]
    rows += [(f"layer #{k} alone", _test(c, "input", (k,))) for k in LAYERS]
    rows += [(f"{w} window", _test(c, "input", LAYERS, window=w)) for w in ("early", "late")]
    rows.append(("median over coordinates", _test(c, "input", LAYERS, over_units="_median")))
    rows.append(("median over snapshots", _test(c, "input", LAYERS, summary="median")))
    rows += [(f"lr {lr:g}", _test(c, "input", LAYERS, lr=lr)) for lr in c.ev.lrs("vgg") if lr != LR]
    return rows
