"""Claim 5: BatchNorm makes the loss landscape smoother (Figs. 4, 10, 11).

Primary: effective beta-smoothness along the gradient, standard over BN, VGG lr 0.1,
trained snapshots of the early window, paired by seed: above 1. A landscape point whose
loss overflowed ranks worst (quantities.Evidence.window_pairs), never drops out.
"""

from __future__ import annotations

from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import Hypothesis, Outcome

NUMBER = 5
TITLE = "BatchNorm makes the loss landscape smoother"
PAPER = (
    "Along the gradient the loss varies less, the gradient changes less (more predictive) "
    "and the effective beta-smoothness is smaller with BN, for VGG (Fig. 4) and the DLN "
    "(Figs. 10, 11); early in training the gradient-predictiveness gap is close to two "
    "orders of magnitude."
)
WHAT = {
    "beta": "effective beta-smoothness",
    "loss_range": "loss variation (max - min) along the line",
    "gpred_max": "gradient change ||grad(theta - eta g) - g|| (max along the line)",
}


def _smoother(model: str, lr: float, probe: str, metric: str, window: str) -> Hypothesis:
    along = "a random direction" if probe == "landscape_random" else "g"
    return Hypothesis(
        f"{model.upper()} lr {lr:g}, {window} window: {WHAT[metric]} along {along}, standard / BN",
        f"standard's {WHAT[metric]} along {along} over BN's ({model.upper()} lr {lr:g}, "
        f"{window} window, trained snapshots)",
        "log",
        "above",
        0.0,
    )


def judge(c: Context) -> tuple[Outcome, list[Outcome]]:
    def test(model: str, lr: float, metric: str, window: str, probe: str = "landscape"):
        h = _smoother(model, lr, probe, metric, window)
        return c.curve(
            h, (model, "standard", lr), (model, "batchnorm", lr), probe, metric, (0,), window
        )

    primary = test("vgg", 0.1, "beta", "early")
    secondaries = [
        test("vgg", 0.1, "loss_range", "early"),
        test("vgg", 0.1, "gpred_max", "early"),
        test("vgg", 0.1, "beta", "early", "landscape_random"),
        test("vgg", 0.1, "beta", "late"),
    ]
    for lr in c.ev.lrs("dln"):
        secondaries += [test("dln", lr, "beta", "early"), test("dln", lr, "loss_range", "early")]
    return primary, secondaries
