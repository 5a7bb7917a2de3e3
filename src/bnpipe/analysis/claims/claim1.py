"""Claim 1: BatchNorm trains faster and generalizes better (paper Fig. 1)."""

from __future__ import annotations

from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import Hypothesis, Outcome
from bnpipe.analysis.quantities import eval_steps

NUMBER = 1
TITLE = "BatchNorm trains faster and generalizes better"
PAPER = (
    "VGG on CIFAR-10 at lr 0.1 and 0.5 (Fig. 1): 83% test accuracy with BN vs 80% without, "
    "no augmentation, 15k steps."
)
PRIMARY_LR = 0.1
LRS = (0.1, 0.5)  # Fig. 1


def _accuracy(lr: float) -> Hypothesis:
    return Hypothesis(
        f"VGG lr {lr:g}: final test accuracy, BN - standard",
        f"BN's final test accuracy minus standard's (VGG, lr {lr:g})",
        "points",
        "above",
        0.0,
    )


def _bn_vs_std(c: Context, h: Hypothesis, lr: float, quantity: str) -> Outcome:
    return c.scalar(h, ("vgg", "batchnorm", lr), ("vgg", "standard", lr), quantity)


def judge(c: Context) -> tuple[Outcome, list[Outcome]]:
    def bn_vs_std(h: Hypothesis, lr: float, quantity: str) -> Outcome:
        return _bn_vs_std(c, h, lr, quantity)

    primary = bn_vs_std(_accuracy(PRIMARY_LR), PRIMARY_LR, "final_test_acc")
    secondaries = [bn_vs_std(_accuracy(lr), lr, "final_test_acc") for lr in LRS[1:]]
    for lr in LRS:
        h = Hypothesis(
            f"VGG lr {lr:g}: mean training accuracy over the run (speed), BN - standard",
            f"BN's area under the training-accuracy curve minus standard's (VGG, lr {lr:g})",
            "points",
            "above",
            0.0,
        )
        secondaries.append(bn_vs_std(h, lr, "train_acc_mean"))
    return primary, secondaries


def multiverse(c: Context) -> list[tuple[str, Outcome]]:
    """The primary at every earlier evaluation (the claim is about the whole curve: a
    lead at every budget, not only at the last step, which is why it needs no settled
    training), at the other lr, and on training accuracy in train mode."""
    lr = PRIMARY_LR
    last = eval_steps(c.params)[-1]
    rows = []
    for t in eval_steps(c.params)[:-1]:
        h = Hypothesis(
            f"VGG lr {lr:g}: test accuracy at step {t}, BN - standard",
            f"BN's test accuracy at step {t} minus standard's (VGG, lr {lr:g})",
            "points",
            "above",
            0.0,
        )
        rows.append((f"test accuracy at step {t} of {last}", _bn_vs_std(c, h, lr, f"test_acc@{t}")))
    for other in LRS[1:]:
        rows.append((f"lr {other:g}", _bn_vs_std(c, _accuracy(other), other, "final_test_acc")))
    h = Hypothesis(
        f"VGG lr {lr:g}: training accuracy in train mode, BN - standard",
        f"BN's training accuracy (train mode, last {c.a.final_fraction:.0%} of steps) minus "
        f"standard's (VGG, lr {lr:g})",
        "points",
        "above",
        0.0,
    )
    rows.append(("training accuracy (train mode) instead of test accuracy",
                 _bn_vs_std(c, h, lr, "train_mode_acc")))  # fmt: skip
    return rows
