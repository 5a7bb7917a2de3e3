"""Claim 3: noisy BatchNorm trains nearly as well as BatchNorm despite the least stable
distributions (Algorithm 1; Fig. 8).

Primary: training accuracy in training mode (the noisy network as it trains, mean over
the last `final_fraction` of steps), noisy BN minus BN at lr 0.1, not lower by more
than `margin_points`, judged once training has settled (a claim about the end of
training; context.Context.settling: the 90% t interval over seeds of the gap's late rise,
noisy BN's minus BN's, within +-plateau_points; a note says when both groups are
themselves still rising). Eval-mode accuracy is not
used for it: evaluation turns the noise off while BN's running statistics were gathered
with it.
"""

from __future__ import annotations

from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import Hypothesis, Outcome

NUMBER = 3
TITLE = "Noisy BatchNorm trains nearly as well as BatchNorm despite the least stable distributions"
PAPER = (
    "BN with injected, time-varying covariate shift (Algorithm 1) trains almost as well as "
    "BN and better than standard, while its layer inputs move the most (layers #2, #9, "
    "#13; moment shifts, Fig. 8)."
)
LR = 0.1
LAYERS = (2, 9, 13)


def judge(c: Context) -> tuple[Outcome, list[Outcome]]:
    """The primary and three secondaries, declared one after another (long only because
    each test's wording is written out in full)."""
    noisy, bn, std = (("vgg", v, LR) for v in ("noisy_batchnorm", "batchnorm", "standard"))
    margin = c.a.margin_points
    primary = c.scalar(
        Hypothesis(
            f"VGG lr {LR:g}: training accuracy in training mode, noisy BN - BN",
            f"noisy BN's training accuracy (train mode, last {c.a.final_fraction:.0%} of "
            f"steps) minus BN's (VGG, lr {LR:g})",
            "points",
            "above",
            -margin,
        ),
        noisy,
        bn,
        "train_mode_acc",
        settled=True,  # "nearly as well" is about the end of training
    )
    secondaries = [
        c.scalar(
            Hypothesis(
                f"VGG lr {LR:g}: training accuracy in training mode, noisy BN - standard",
                f"noisy BN's training accuracy (train mode) minus standard's (lr {LR:g})",
                "points",
                "above",
                0.0,
            ),
            noisy,
            std,
            "train_mode_acc",
        ),
        c.scalar(
            Hypothesis(
                f"VGG lr {LR:g}: test accuracy with BN statistics re-estimated on clean "
                "batches, noisy BN - BN",
                "noisy BN's test accuracy minus BN's, both with running statistics "
                f"re-estimated on clean training batches (lr {LR:g})",
                "points",
                "above",
                -margin,
            ),
            noisy,
            bn,
            "test_acc_clean_stats",
            settled=True,
        ),
        c.curve(
            Hypothesis(
                f"VGG lr {LR:g}, layers #2, #9, #13: next-layer-input shift at a fixed lag, "
                "noisy BN / standard",
                f"noisy BN's next-layer-input shift over standard's (lr {LR:g}, layers "
                "#2, #9, #13, trained snapshots)",
                "log",
                "above",
                0.0,
            ),
            noisy,
            std,
            "activations",
            "input_lag_shift",
            LAYERS,
            "all",
        ),
    ]
    return primary, secondaries


def multiverse(c: Context) -> list[tuple[str, Outcome]]:
    """The gap over the whole run (the area under the training curve: no end of
    training, so no settling), at the end after re-estimating BN's statistics on clean
    batches, at every other lr the grid has noisy BN, and at every width of the width
    check (make width-check: is the gap a property of the width?)."""
    margin = c.a.margin_points

    def gap(lr: float, quantity: str, what: str, settled: bool) -> Outcome:
        h = Hypothesis(
            f"VGG lr {lr:g}: {what}, noisy BN - BN",
            f"noisy BN's {what} minus BN's (VGG, lr {lr:g})",
            "points",
            "above",
            -margin,
        )
        noisy, bn = ("vgg", "noisy_batchnorm", lr), ("vgg", "batchnorm", lr)
        return c.scalar(h, noisy, bn, quantity, settled=settled)

    rows = [
        ("the gap over the whole run (mean training accuracy, train mode)",
         gap(LR, "train_acc_mean", "mean training accuracy over the run (train mode)", False)),
        ("test accuracy, BN statistics re-estimated on clean batches",
         gap(LR, "test_acc_clean_stats", "test accuracy with clean BN statistics", True)),
    ]  # fmt: skip
    for lr in c.ev.lrs("vgg"):
        if lr != LR and c.ev.find("vgg", "noisy_batchnorm", lr):
            what = "training accuracy in training mode"
            rows.append((f"lr {lr:g}", gap(lr, "train_mode_acc", what, True)))
    own = c.params.vgg.width
    for width in c.widths():
        what = "training accuracy in training mode"
        h = Hypothesis(
            f"VGG lr {LR:g}, width {width:g}: {what}, noisy BN - BN",
            f"noisy BN's {what} minus BN's (VGG width {width:g}, lr {LR:g}; the width check)",
            "points",
            "above",
            -margin,
        )
        noisy, bn = ("vgg", "noisy_batchnorm", LR), ("vgg", "batchnorm", LR)
        test = c.at_width(h, noisy, bn, "train_mode_acc", width, settled=True)
        rows.append((f"width {width:g} ({width / own:g}x the scale's)", test))
    return rows
