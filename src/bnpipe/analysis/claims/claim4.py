"""Claim 4: internal covariate shift (Definition 2.1) is not reduced by BatchNorm
(Figs. 3, 7).

ICS is measured on the same parameter set in every variant: W_i = the conv weight (the
DLN's matrix); gamma and beta are reported apart by the probe. Primary: BN over standard
of rel_l2 = ||G - G'|| / ||G||, VGG lr 0.1, layers #5 and #10 pooled, trained snapshots:
not below 1 / ratio_margin. Cosines are compared with an absolute margin.
"""

from __future__ import annotations

import math

from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import Hypothesis, Outcome
from bnpipe.analysis.claims.multiverse import relabel

NUMBER = 4
TITLE = "Internal covariate shift (Definition 2.1) is not reduced by BatchNorm"
PAPER = (
    "VGG layers #5, #10 at lr 0.1 and 0.01 (Fig. 3); 25-layer DLN layers #9, #17 at lr "
    "1e-6 and 1e-7 (Fig. 7): BN's ICS is as large or larger; in the DLN without BN "
    "cos(G, G') stays near 1, with BN G and G' are nearly uncorrelated."
)
LRS = {"vgg": (0.1, 0.01), "dln": (1e-6, 1e-7)}
LAYERS = {"vgg": (5, 10), "dln": (9, 17)}


def _ratio(model: str, lr: float, metric: str, margin: float) -> Hypothesis:
    what = {"rel_l2": "||G - G'|| / ||G||", "l2": "||G - G'||"}[metric]
    layers = " and ".join(f"#{k}" for k in LAYERS[model])
    return Hypothesis(
        f"{model.upper()} lr {lr:g}, layers {layers}: ICS {what}, BN / standard",
        f"BN's ICS {what} over standard's ({model.upper()} lr {lr:g}, layers {layers}, "
        "trained snapshots)",
        "log",
        "above",
        -math.log(margin),
    )


def _cosine(model: str, lr: float, margin: float) -> Hypothesis:
    """BN - standard of cos(G, G'), absolute margin: VGG, BN's not higher by more than
    the margin; DLN, BN's clearly lower (the paper: nearly uncorrelated with BN)."""
    layers = " and ".join(f"#{k}" for k in LAYERS[model])
    return Hypothesis(
        f"{model.upper()} lr {lr:g}, layers {layers}: cos(G, G'), BN - standard",
        f"BN's cos(G, G') minus standard's ({model.upper()} lr {lr:g}, layers {layers}; "
        f"absolute margin {margin:g})",
        "raw",
        "below",
        -margin if model == "dln" else margin,
    )


def _near_one(lr: float, margin: float) -> Hypothesis:
    layers = " and ".join(f"#{k}" for k in LAYERS["dln"])
    return Hypothesis(
        f"DLN lr {lr:g}, layers {layers}: cos(G, G') of standard",
        f"standard DLN's cos(G, G') (lr {lr:g}, layers {layers}), near 1",
        "raw",
        "above",
        1 - margin,
    )


def judge(c: Context) -> tuple[Outcome, list[Outcome]]:
    ratio, cos = c.a.ratio_margin, c.a.cos_margin

    def ics(model: str, lr: float, metric: str, h: Hypothesis, log: bool = True) -> Outcome:
        bn, std = (model, "batchnorm", lr), (model, "standard", lr)
        return c.curve(h, bn, std, "ics", metric, LAYERS[model], "all", log=log)

    primary = ics("vgg", 0.1, "rel_l2", _ratio("vgg", 0.1, "rel_l2", ratio))
    secondaries = [ics("vgg", 0.1, "l2", _ratio("vgg", 0.1, "l2", ratio))]
    for model in ("vgg", "dln"):
        for lr in LRS[model]:
            if (model, lr) != ("vgg", 0.1):
                secondaries.append(ics(model, lr, "rel_l2", _ratio(model, lr, "rel_l2", ratio)))
            secondaries.append(ics(model, lr, "cos", _cosine(model, lr, cos), log=False))
    for lr in LRS["dln"]:  # without BN, G' ~ G
        std = ("dln", "standard", lr)
        secondaries.append(
            c.curve(_near_one(lr, cos), std, std, "ics", "cos", LAYERS["dln"], "all", log=False)
        )
    return primary, secondaries


def multiverse(c: Context) -> list[tuple[str, Outcome]]:
    """Each layer alone, the early and late windows, the median over snapshots, the
    absolute ||G - G'||, and every other lr of the grid."""
    ratio = c.a.ratio_margin

    def alt(choice: str, lr: float = 0.1, layers=LAYERS["vgg"], window: str = "all",
            summary: str = "mean", metric: str = "rel_l2") -> tuple[str, Outcome]:  # fmt: skip
        h = relabel(_ratio("vgg", lr, metric, ratio), choice)
        bn, std = ("vgg", "batchnorm", lr), ("vgg", "standard", lr)
        return choice, c.curve(h, bn, std, "ics", metric, layers, window, summary=summary)

    rows = [alt(f"layer #{k} alone", layers=(k,)) for k in LAYERS["vgg"]]
    rows += [alt(f"{w} window", window=w) for w in ("early", "late")]
    rows.append(alt("median over snapshots", summary="median"))
    rows.append(alt("||G - G'|| (not relative)", metric="l2"))
    rows += [alt(f"lr {lr:g}", lr=lr) for lr in c.ev.lrs("vgg") if lr != 0.1]
    return rows


def numbers(c: Context) -> list[dict]:
    """ICS vs performance at the claim's layers: Spearman's rho within variant and lr
    (analyze.ics_vs_performance), never part of the verdict."""
    if c.ev.correlations is None:
        return []
    out = []
    for r in c.ev.correlations.itertuples():
        if r.layer in LAYERS[r.model]:
            out.append(
                {
                    "label": f"{r.model.upper()} layer #{r.layer}: Spearman rho of ICS "
                    f"{r.metric} vs {r.performance}, within variant and lr ({r.n} runs)",
                    "estimate": r.rho,
                    "lo": r.lo,
                    "hi": r.hi,
                    "method": r.method if r.method != "insufficient" else f"none: {r.reason}",
                }
            )
    return out
