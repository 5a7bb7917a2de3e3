"""Claim 5: BatchNorm makes the loss landscape smoother (Figs. 4, 10, 11).

Primary: effective beta-smoothness along the gradient, standard over BN, VGG lr 0.1,
trained snapshots of the early window, paired by seed: above 1. A landscape point whose
loss overflowed ranks worst (quantities.Evidence.window_pairs), never drops out.
"""

from __future__ import annotations

from bnpipe.claims.context import Context
from bnpipe.claims.judging import Hypothesis, Outcome
from bnpipe.figure_specs import FigureSpec, Inputs, have, landscape_panels, probe_figure
from bnpipe.figures import Panel

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


def figures(x: Inputs) -> list[FigureSpec]:
    out = []
    variants = ("standard", "batchnorm")
    sharpness = [
        Panel("top Hessian eigenvalue", "sharpness", "top_eig", log=True, reference="two_over_lr")
    ]
    for model, name, paper in (("vgg", "fig4", "Fig. 4"), ("dln", "fig10_11", "Figs. 10, 11")):
        if not have(x, model, *variants):
            continue
        out.append(
            probe_figure(
                x,
                f"{name}_landscape_{model}",
                f"The landscape along the gradient (paper {paper}): at each snapshot the "
                "range of the loss and of the gradient change over the step sizes, and the "
                "effective beta; bands are the seed means of the min and max.",
                model,
                variants,
                landscape_panels(random=True),
            )
        )
        out.append(
            probe_figure(
                x,
                f"sharpness_{model}",
                "Top Hessian eigenvalue of the step's batch loss (power iteration on "
                "Hessian-vector products) with 2/lr dashed (edge of stability, Cohen et al. "
                "2021); seed mean and band.",
                model,
                variants,
                sharpness,
            )
        )
    return out
