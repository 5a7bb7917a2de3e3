"""Claim 7: Theorem 4.1 on trained BatchNorm layers.

The eps-exact identity (probes/theory.py) holds to round-off by algebra, so it cannot be
contradicted by data: it is a sanity check, reported as its largest gap. The claim's
empirical content is the gradient-reduction factor ||dL/dy_j||^2 / ||g_j||^2, median over
a layer's units: primary, its log averaged over BN layers and the trained snapshots of
the late window (the last half of training: "trained layers"), VGG BN at lr 0.1, below 0
(BN shrinks the gradient that reaches y). The factor's gamma^2 / sigma^2 changes as the
weights grow, so the whole run (window "all") is a secondary, not the test, and the test
waits until BN has stopped learning, by the rule of every test at the end of training
(context.Context.settling: the 90% t interval over seeds of BN's own late rise in
training accuracy within +-plateau_points): measured at 250 steps the factor is 1.8, at
3,000 steps 1.0, and at lr 0.5 0.25.
"""

from __future__ import annotations

from bnpipe.analysis.claims.context import Context
from bnpipe.analysis.claims.judging import Hypothesis, Outcome
from bnpipe.analysis.claims.multiverse import WINDOW_WORDS, relabel

NUMBER = 7
TITLE = "Theorem 4.1: BatchNorm reduces the gradient that reaches a layer"
PAPER = (
    "||dL/dy_j||^2 = (gamma^2/sigma_j^2)(||g||^2 - <1,g>^2/m - <g,yhat_j>^2/m) (with 1/m; "
    "the paper prints 1/sqrt(m)): the gradient through a BN layer is reduced unless gamma "
    "is large."
)
LR = 0.1


def _reduction(model: str, lr: float, window: str) -> Hypothesis:
    span = "the last half of training" if window == "late" else "the whole run"
    return Hypothesis(
        f"{model.upper()} BN lr {lr:g}: gradient-reduction factor (median over units), "
        f"{window} window",
        f"BN's gradient-reduction factor ||dL/dy||^2 / ||g||^2, median over units, "
        f"geometric mean over layers and the trained snapshots of {span} "
        f"({model.upper()} lr {lr:g})",
        "log",
        "below",
        0.0,
    )


def _layers(c: Context, model: str) -> tuple[int, ...]:
    return tuple(range(1, 14)) if model == "vgg" else tuple(range(1, c.params.dln.layers))


def _test(
    c: Context, model: str, lr: float, window: str = "late", layers: tuple[int, ...] = (),
    over_units: str = "median", summary: str = "mean", choice: str = "",
) -> Outcome:  # fmt: skip
    """BN's log factor (over_units "median" or "mean" of the units' factors), averaged
    over `layers` (default: every BN layer) and the window's trained snapshots."""
    bn, h = (model, "batchnorm", lr), _reduction(model, lr, window)
    return c.curve(
        relabel(h, choice) if choice else h, bn, bn, "theorem41",
        f"log_reduction_{over_units}", layers or _layers(c, model), window, log=False,
        settled=True, summary=summary,  # gamma^2 / sigma^2 moves while BN learns
    )  # fmt: skip


def judge(c: Context) -> tuple[Outcome, list[Outcome]]:
    def test(model: str, lr: float, window: str = "late") -> Outcome:
        return _test(c, model, lr, window)

    primary = test("vgg", LR)
    secondaries = [test("vgg", LR, "all")]
    secondaries += [test("vgg", lr) for lr in c.ev.lrs("vgg") if lr != LR]
    secondaries += [test("dln", lr) for lr in c.ev.lrs("dln")]
    return primary, secondaries


def multiverse(c: Context) -> list[tuple[str, Outcome]]:
    """The whole run and the early window, the mean over units, the median over
    snapshots, each layer alone, and every other lr of the grid."""
    rows = [
        (WINDOW_WORDS[w], _test(c, "vgg", LR, w, choice=WINDOW_WORDS[w])) for w in ("all", "early")
    ]
    rows.append(
        ("mean over units", _test(c, "vgg", LR, over_units="mean", choice="mean over units"))
    )
    median = "median over snapshots"
    rows.append((median, _test(c, "vgg", LR, summary="median", choice=median)))
    for k in _layers(c, "vgg"):
        rows.append((f"layer #{k} alone", _test(c, "vgg", LR, layers=(k,), choice=f"layer #{k}")))
    rows += [(f"lr {lr:g}", _test(c, "vgg", lr)) for lr in c.ev.lrs("vgg") if lr != LR]
    return rows


def numbers(c: Context) -> list[dict]:
    """The identity as a sanity check: its largest relative gap over every BN layer,
    snapshot and run, per form (eps-exact, eps-free 1/m, printed 1/sqrt(m))."""
    probes = c.ev.probes
    out = []
    for metric, form in (
        ("rel_diff", "eps-exact identity"),
        ("rel_diff_eps_free", "eps-free form of the proof (1/m)"),
        ("rel_diff_printed", "printed form (1/sqrt(m))"),
    ):
        sel = probes[(probes.probe == "theorem41") & (probes.metric == metric)]
        if len(sel):
            worst = float(sel.value.max())
            label = (
                f"Theorem 4.1, {form}: largest |lhs - rhs| / lhs over {sel.run.nunique()} "
                "BN runs, every layer and snapshot"
            )
            out.append({"label": label, "estimate": worst, "lo": None, "hi": None,
                        "method": "maximum (no interval)"})  # fmt: skip
    return out


FORMS = {
    "theorem41.rel_diff": "eps-exact (identity)",
    "theorem41.rel_diff_eps_free": "1/m without eps (paper's proof)",
    "theorem41.rel_diff_printed": "1/sqrt(m) (printed)",
}
