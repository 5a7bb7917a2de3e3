"""Claim 5: BatchNorm makes the loss landscape smoother (Figs. 4, 10, 11).

Primary: effective beta-smoothness along the gradient, standard over BN, VGG lr 0.1,
trained snapshots of the early window, paired by seed: above 1. A landscape point whose
loss overflowed ranks worst (quantities.Evidence.window_pairs), never drops out.
"""

from __future__ import annotations

from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import Hypothesis, Outcome
from bnpipe.analysis.claims.multiverse import WINDOW_WORDS, relabel

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


def multiverse(c: Context) -> list[tuple[str, Outcome]]:
    """The late and whole-run windows, the median over snapshots, a random direction,
    the loss range and the gradient change in place of beta, and every other lr."""

    def alt(choice: str, lr: float = 0.1, window: str = "early", summary: str = "mean",
            probe: str = "landscape", metric: str = "beta") -> tuple[str, Outcome]:  # fmt: skip
        h = relabel(_smoother("vgg", lr, probe, metric, window), choice)
        std, bn = ("vgg", "standard", lr), ("vgg", "batchnorm", lr)
        return choice, c.curve(h, std, bn, probe, metric, (0,), window, summary=summary)

    rows = [alt(WINDOW_WORDS[w], window=w) for w in ("late", "all")]
    rows.append(alt("median over snapshots", summary="median"))
    rows.append(alt("a random direction", probe="landscape_random"))
    rows.append(alt("loss range instead of beta", metric="loss_range"))
    rows.append(alt("gradient change instead of beta", metric="gpred_max"))
    rows += [alt(f"lr {lr:g}", lr=lr) for lr in c.ev.lrs("vgg") if lr != 0.1]
    return rows
