"""The seven claims of the paper as tests on per-run quantities (PROTOCOL.md, "Claims").

Each claim lists tests "quantity of group A <relation> that of group B" (verdicts.RULES)
over the groups (model, variant, lr) that the grid has. Quantities are the per-run numbers
of analyze.run_quantities, e.g. `final_test_acc` or `ics.l2` (a probe metric's mean over
the run's snapshots) at one layer; the seed is the resampling unit. A test whose groups
the grid lacks is left out, and the claim says what it would need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bnpipe.params import Params
from bnpipe.stats import bootstrap_difference, bootstrap_mean
from bnpipe.verdicts import RELATIVE, combine, verdict

Group = tuple[str, str, float]  # (model, variant, lr)

# The paper's settings for each claim: learning rates and layers (1-based) it shows.
CLAIM1_LRS = (0.1, 0.5)  # Fig. 1
CLAIM3_LAYERS = (2, 9, 13)  # Fig. 8
CLAIM4_LRS = {"vgg": (0.1, 0.01), "dln": (1e-6, 1e-7)}  # Figs. 3, 7
CLAIM4_LAYERS = {"vgg": (5, 10), "dln": (9, 17)}
LP_VARIANTS = ("l1", "l2", "linf")


@dataclass(frozen=True)
class Test:
    label: str  # what is compared, in words
    quantity: str  # a run quantity (analyze.run_quantities)
    layer: int  # 0: the whole network
    a: Group
    b: Group | None  # None: A against `bound`
    relation: str  # a key of verdicts.RULES
    margin: float = 0.0
    bound: float = 0.0


@dataclass(frozen=True)
class Claim:
    number: int
    title: str
    paper: str  # the paper's statement and where it shows it
    tests: list[Test] = field(default_factory=list)
    needs: str = ""  # what the grid would need for the tests left out


def build_claims(params: Params, groups: set[Group]) -> list[Claim]:
    """The seven claims with the tests that the available `groups` allow."""
    a = params.analyze
    lrs = {m: sorted({g[2] for g in groups if g[0] == m}) for m in ("vgg", "dln")}

    def have(*gs: Group) -> bool:
        return all(g in groups for g in gs)

    def pick(model: str, wanted) -> list[float]:
        return [lr for lr in lrs[model] if any(np.isclose(lr, w) for w in wanted)]

    claims = []
    # 1. faster training and better generalization
    tests = []
    for lr in pick("vgg", CLAIM1_LRS):
        bn, std = ("vgg", "batchnorm", lr), ("vgg", "standard", lr)
        if have(bn, std):
            tests += [
                Test(
                    f"lr {lr:g}: final test accuracy, BN > standard",
                    "final_test_acc",
                    0,
                    bn,
                    std,
                    "greater",
                ),
                Test(
                    f"lr {lr:g}: mean training accuracy over the run (speed), BN > standard",
                    "train_acc_mean",
                    0,
                    bn,
                    std,
                    "greater",
                ),
            ]
    claims.append(
        Claim(
            1,
            "BatchNorm trains faster and generalizes better",
            "VGG on CIFAR-10 at lr 0.1 and 0.5 (Fig. 1): 83% test accuracy with BN vs "
            "80% without, no augmentation, 15k steps.",
            tests,
            "VGG standard and batchnorm at lr 0.1 or 0.5",
        )
    )
    # 2. distributions not visibly more stable with BN
    tests = []
    for lr in lrs["vgg"]:
        bn, std = ("vgg", "batchnorm", lr), ("vgg", "standard", lr)
        if not have(bn, std):
            continue
        for layer in params.report.activation_layers:  # Fig. 2: layers #3, #11
            tests += [
                Test(
                    f"lr {lr:g}, layer #{layer}: relative {moment} shift, BN not lower than "
                    "standard",
                    f"activations.rel_shift_{key}",
                    layer,
                    bn,
                    std,
                    "not_less",
                    a.margin,
                )
                for moment, key in (("mean", "mean"), ("variance", "var"))
            ]
    claims.append(
        Claim(
            2,
            "BatchNorm does not visibly stabilize layer input distributions",
            "Activations of layers #3 and #11 over training (Fig. 2): with and without BN "
            "the distributions move alike.",
            tests,
            "VGG standard and batchnorm",
        )
    )
    # 3. noisy BN: trains almost like BN, better than standard, least stable
    tests = []
    for lr in pick("vgg", CLAIM1_LRS):
        noisy, bn, std = (("vgg", v, lr) for v in ("noisy_batchnorm", "batchnorm", "standard"))
        if not have(noisy, bn, std):
            continue
        tests += [
            Test(
                f"lr {lr:g}: final test accuracy, noisy BN about as high as BN (not lower by "
                f"more than {a.margin:.0%})",
                "final_test_acc",
                0,
                noisy,
                bn,
                "not_less",
                a.margin,
            ),
            Test(
                f"lr {lr:g}: final test accuracy, noisy BN > standard",
                "final_test_acc",
                0,
                noisy,
                std,
                "greater",
            ),
        ]
        for layer in CLAIM3_LAYERS:
            tests += [
                Test(
                    f"lr {lr:g}, layer #{layer}: relative mean shift, noisy BN > {name}",
                    "activations.rel_shift_mean",
                    layer,
                    noisy,
                    other,
                    "greater",
                )
                for name, other in (("BN", bn), ("standard", std))
            ]
    claims.append(
        Claim(
            3,
            "Noisy BatchNorm trains nearly as well as BatchNorm despite the least "
            "stable distributions",
            "BN with injected, time-varying covariate shift (Algorithm 1) trains almost as "
            "well as BN and better than standard, while its layer inputs move the most "
            "(layers #2, #9, #13; moment shifts, Fig. 8).",
            tests,
            "VGG standard, batchnorm and noisy_batchnorm at lr 0.1 or 0.5",
        )
    )
    # 4. ICS (Definition 2.1) is not reduced by BN
    tests = []
    for model in ("vgg", "dln"):
        for lr in pick(model, CLAIM4_LRS[model]):
            bn, std = (model, "batchnorm", lr), (model, "standard", lr)
            if not have(bn, std):
                continue
            for layer in CLAIM4_LAYERS[model]:
                where = f"{model.upper()} lr {lr:g}, layer #{layer}"
                tests.append(
                    Test(
                        f"{where}: ||G - G'||, BN not lower than standard",
                        "ics.l2",
                        layer,
                        bn,
                        std,
                        "not_less",
                        a.margin,
                    )
                )
                if model == "dln":  # without BN G' ~ G; with BN nearly uncorrelated
                    tests.append(
                        Test(
                            f"{where}: cos(G, G'), standard > BN",
                            "ics.cos",
                            layer,
                            std,
                            bn,
                            "greater",
                        )
                    )
                else:
                    tests.append(
                        Test(
                            f"{where}: cos(G, G'), BN not higher than standard",
                            "ics.cos",
                            layer,
                            bn,
                            std,
                            "not_greater",
                            a.margin,
                        )
                    )
    claims.append(
        Claim(
            4,
            "Internal covariate shift (Definition 2.1) is not reduced by BatchNorm",
            "VGG layers #5, #10 at lr 0.1 and 0.01 (Fig. 3); 25-layer DLN layers #9, #17 "
            "at lr 1e-6 and 1e-7 (Fig. 7): BN's ICS is as large or larger; in the DLN "
            "without BN cos(G, G') stays near 1, with BN G and G' are nearly "
            "uncorrelated.",
            tests,
            "standard and batchnorm at VGG lr 0.1/0.01 or DLN lr 1e-6/1e-7",
        )
    )
    # 5. a smoother landscape with BN
    tests = []
    for model in ("vgg", "dln"):
        for lr in lrs[model]:
            bn, std = (model, "batchnorm", lr), (model, "standard", lr)
            if not have(bn, std):
                continue
            where = f"{model.upper()} lr {lr:g}"
            tests += [
                Test(
                    f"{where}: loss variation along g, standard > BN",
                    "landscape.loss_range",
                    0,
                    std,
                    bn,
                    "greater",
                ),
                Test(
                    f"{where}: gradient change along g, standard > BN",
                    "landscape.gpred_max",
                    0,
                    std,
                    bn,
                    "greater",
                ),
                Test(
                    f"{where}: effective beta-smoothness, standard > BN",
                    "landscape.beta",
                    0,
                    std,
                    bn,
                    "greater",
                ),
            ]
    claims.append(
        Claim(
            5,
            "BatchNorm makes the loss landscape smoother",
            "Along the gradient the loss varies less, the gradient changes less (more "
            "predictive) and the effective beta-smoothness is smaller with BN, for VGG "
            "(Fig. 4) and the DLN (Figs. 10, 11); early in training the "
            "gradient-predictiveness gap is close to two orders of magnitude.",
            tests,
            "standard and batchnorm runs",
        )
    )
    # 6. l_p normalizations smooth as well
    tests = []
    for lr in lrs["vgg"]:
        bn = ("vgg", "batchnorm", lr)
        for p in LP_VARIANTS:
            lp = ("vgg", p, lr)
            if have(lp, bn):
                tests += [
                    Test(
                        f"VGG lr {lr:g}: effective beta, {p} not higher than BN",
                        "landscape.beta",
                        0,
                        lp,
                        bn,
                        "not_greater",
                        a.margin,
                    ),
                    Test(
                        f"VGG lr {lr:g}: final test accuracy, {p} not lower than BN",
                        "final_test_acc",
                        0,
                        lp,
                        bn,
                        "not_less",
                        a.margin,
                    ),
                ]
    for lr in lrs["dln"]:
        bn, l1 = ("dln", "batchnorm", lr), ("dln", "l1", lr)
        if have(bn, l1):
            tests += [
                Test(f"DLN lr {lr:g}: final loss, l1 < BN", "final_train_loss", 0, l1, bn, "less"),
                Test(
                    f"DLN lr {lr:g}: gradient change along g, l1 < BN",
                    "landscape.gpred_max",
                    0,
                    l1,
                    bn,
                    "less",
                ),
            ]
    claims.append(
        Claim(
            6,
            "Other normalizations (l1, l2, l-infinity) smooth the landscape as well",
            "l_p normalizations match or beat BN in training and smoothness on VGG "
            "(Figs. 5, 6); l1 beats BN on the DLN (Figs. 12, 13).",
            tests,
            "batchnorm and l1/l2/linf runs",
        )
    )
    # 7. Theorem 4.1 on trained BN layers
    tests = []
    for model in ("vgg", "dln"):
        for lr in lrs[model]:
            bn = (model, "batchnorm", lr)
            if have(bn):
                tests.append(
                    Test(
                        f"{model.upper()} lr {lr:g}: largest relative gap of the identity "
                        f"(1/m form) over layers and snapshots < {a.theorem_tolerance:g}",
                        "theorem41.rel_diff_max",
                        0,
                        bn,
                        None,
                        "below",
                        bound=a.theorem_tolerance,
                    )
                )
    claims.append(
        Claim(
            7,
            "Theorem 4.1 holds on trained BatchNorm layers",
            "||dL/dy_j||^2 = (gamma^2/sigma_j^2)(||g||^2 - <1,g>^2/m - <g,yhat_j>^2/m), "
            "with 1/m on the last term (the paper prints 1/sqrt(m)).",
            tests,
            "batchnorm runs",
        )
    )
    return claims


def evaluate(claim: Claim, quantities: pd.DataFrame, params: Params) -> dict:
    """Verdict and numbers of one claim; `quantities` is analyze.run_quantities' table."""
    a = params.analyze
    rows = []
    for test in claim.tests:
        va, da = _values(quantities, test.a, test.quantity, test.layer)
        if test.b is None:
            ci = bootstrap_mean(va, a.confidence, a.n_resamples)
            vb, db, b_mean = np.array([]), 0, float("nan")
        else:
            vb, db = _values(quantities, test.b, test.quantity, test.layer)
            ci = bootstrap_difference(
                va, vb, a.confidence, a.n_resamples, relative=test.relation in RELATIVE
            )
            b_mean = _mean(vb)
        rows.append(
            {
                "test": test.label,
                "quantity": test.quantity,
                "layer": test.layer,
                "a": _name(test.a),
                "b": _name(test.b) if test.b else f"bound {test.bound:g}",
                "relation": test.relation,
                "statistic": "A"
                if test.b is None
                else ("(A - B)/|B|" if test.relation in RELATIVE else "A - B"),
                "a_mean": _mean(va),
                "b_mean": b_mean,
                "estimate": ci.mean,
                "lo": ci.lo,
                "hi": ci.hi,
                "ci_method": ci.method,
                "n_a": int(np.isfinite(va).sum()),
                "n_b": int(np.isfinite(vb).sum()),
                "diverged_a": da,
                "diverged_b": db,
                "verdict": verdict(test.relation, ci.lo, ci.hi, test.margin, test.bound),
            }
        )
    verdicts = [r["verdict"] for r in rows]
    return {
        "claim": claim.number,
        "title": claim.title,
        "paper": claim.paper,
        "verdict": combine(verdicts),
        "tests": rows,
        "counts": {v: verdicts.count(v) for v in ("supported", "contradicted", "inconclusive")},
        "needs": "" if rows else f"not testable at this scale: needs {claim.needs}",
    }


def _values(q: pd.DataFrame, group: Group, quantity: str, layer: int) -> tuple[np.ndarray, int]:
    """The per-seed values of a group (completed runs only) and its count of diverged runs."""
    model, variant, lr = group
    sel = q[(q.model == model) & (q.variant == variant) & np.isclose(q.lr, lr)]
    diverged = int(sel[sel.status == "diverged"].run.nunique())
    sel = sel[(sel.quantity == quantity) & (sel.layer == layer) & (sel.status == "completed")]
    return sel.sort_values("seed").value.to_numpy(dtype=float), diverged


def _mean(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _name(group: Group) -> str:
    model, variant, lr = group
    return f"{model}-{variant}-lr{lr:g}"
