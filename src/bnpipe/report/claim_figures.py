"""The figures of each claim's section: which data, which panels, which params they use.

Each builder takes the report's inputs and returns FigureSpecs; a figure whose runs the
grid lacks is left out (its section says what is missing). Names follow the paper's
figure numbers where a figure reproduces one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bnpipe import figures
from bnpipe.claims import CLAIM3_LAYERS, CLAIM4_LAYERS, CLAIM4_LRS, LP_VARIANTS
from bnpipe.figures import Panel
from bnpipe.params import Params

VGG_RUN = ("data", "vgg", "train", "norm", "noise", "grid")
DLN_RUN = ("dln", "norm", "grid")


@dataclass
class Inputs:
    """Everything analyze wrote, read once."""

    params: Params
    runs: pd.DataFrame  # runs.csv
    curves: pd.DataFrame  # curves.csv
    probe_curves: pd.DataFrame  # probe_curves.csv
    quantities: pd.DataFrame  # quantities.csv
    summary: pd.DataFrame  # summary.csv
    correlations: pd.DataFrame  # ics_vs_performance.csv
    activations: pd.DataFrame  # the activation probe's rows of all runs


@dataclass
class FigureSpec:
    name: str  # file stem under reports/figures/
    caption: str
    figure: plt.Figure
    depends_on: tuple[str, ...]  # params sections
    runs: list[str]  # run ids drawn


def _have(x: Inputs, model: str, *variants: str) -> bool:
    r = x.runs
    return all(((r.model == model) & (r.variant == v)).any() for v in variants)


def _lrs(x: Inputs, model: str, wanted=None) -> list[float]:
    lrs = sorted(x.runs[x.runs.model == model].lr.unique())
    if wanted is None:
        return lrs
    picked = [lr for lr in lrs if any(np.isclose(lr, w) for w in wanted)]
    return picked or lrs


def _ids(x: Inputs, model: str, variants, lrs=None) -> list[str]:
    r = x.runs[(x.runs.model == model) & x.runs.variant.isin(variants)]
    if lrs is not None:
        r = r[np.isclose(r.lr.to_numpy()[:, None], np.array(lrs)[None]).any(axis=1)]
    return r.id.tolist()


def _accuracy(x: Inputs, name: str, variants: tuple[str, ...], caption: str) -> FigureSpec:
    fig = figures.training_curves(
        x.curves, x.runs, "vgg", ("train", "test"), log=False, variants=variants
    )
    return FigureSpec(name, caption, fig, VGG_RUN, _ids(x, "vgg", variants))


def _bands(x: Inputs, name: str, layers, variants, caption: str) -> FigureSpec:
    """Activation percentile bands of seed 0 (or the first seed) at the first lr."""
    lr = _lrs(x, "vgg")[0]
    seed = x.runs[x.runs.model == "vgg"].seed.min()
    pick = x.runs[(x.runs.model == "vgg") & np.isclose(x.runs.lr, lr) & (x.runs.seed == seed)]
    shown = [pick[pick.variant == v].id.iloc[0] for v in variants if (pick.variant == v).any()]
    fig = figures.activation_bands(x.activations, list(layers), shown)
    a = x.params.probe.activations
    caption += (
        f" Unit {a.unit} of each layer ({a.site} output) on a fixed probe batch of "
        f"{x.params.probe.batch_size} training images, training mode, at each snapshot; "
        f"lr {lr:g}, seed {seed}; bands pair the percentiles {list(a.percentiles)}."
    )
    return FigureSpec(name, caption, fig, (*VGG_RUN, "probe"), shown)


def claim1(x: Inputs) -> list[FigureSpec]:
    if not _have(x, "vgg", "standard", "batchnorm"):
        return []
    return [
        _accuracy(
            x,
            "fig1_vgg_accuracy",
            ("standard", "batchnorm"),
            "Training and test accuracy (eval mode, full sets) of VGG with and without BN: "
            "seed mean and 95% band over seeds, per lr (paper Fig. 1).",
        )
    ]


def _probe_figure(
    x: Inputs, name: str, caption: str, model: str, variants, panels: list[Panel], lrs=None
) -> FigureSpec:
    """Probe metrics over snapshots (figures.probe_curves): rows lrs, columns panels."""
    lrs = _lrs(x, model) if lrs is None else lrs
    fig = figures.probe_curves(x.probe_curves, x.runs, model, variants, lrs, panels)
    deps = (*(VGG_RUN if model == "vgg" else DLN_RUN), "probe")
    return FigureSpec(name, caption, fig, deps, _ids(x, model, variants, lrs))


def claim2(x: Inputs) -> list[FigureSpec]:
    variants = ("standard", "batchnorm")
    if not _have(x, "vgg", *variants):
        return []
    layers = x.params.report.activation_layers
    unit = x.params.probe.activations.unit
    panels = [
        Panel(f"|mean shift| (unit {unit})", "activations", "shift_mean", k, log=True)
        for k in layers
    ]
    panels += [Panel("|variance shift|", "activations", "shift_var", k, log=True) for k in layers]
    return [
        _bands(
            x,
            "fig2_activations",
            layers,
            variants,
            "Activation distributions over training, with and without BN (paper Fig. 2).",
        ),
        _probe_figure(
            x,
            "fig2_moment_shifts",
            "Moment shifts between consecutive snapshots of the same layers (absolute, log "
            "scale); the claim's test uses them relative to the unit's spread, which makes "
            "variants of different activation scale comparable.",
            "vgg",
            variants,
            panels,
        ),
    ]


def claim3(x: Inputs) -> list[FigureSpec]:
    variants = ("standard", "batchnorm", "noisy_batchnorm")
    if not _have(x, "vgg", *variants):
        return []
    panels = [
        Panel("|mean shift|", "activations", "shift_mean", k, log=True) for k in CLAIM3_LAYERS
    ]
    return [
        _accuracy(
            x,
            "fig3_noisy_accuracy",
            variants,
            "Accuracy of noisy BN against BN and standard: seed mean and 95% band.",
        ),
        _probe_figure(
            x,
            "fig8_moment_shifts",
            "Mean shift of unit 0 between consecutive snapshots (absolute, log scale), "
            "layers #2, #9, #13 (paper Fig. 8, where noisy BN's inputs move the most).",
            "vgg",
            variants,
            panels,
        ),
        _bands(
            x,
            "fig9_noisy_activations",
            CLAIM3_LAYERS,
            variants,
            "Activation distributions of standard, BN and noisy BN (paper Figs. 2, 9).",
        ),
    ]


def claim4(x: Inputs) -> list[FigureSpec]:
    out = []
    variants = ("standard", "batchnorm")
    for model, name, paper in (("vgg", "fig3", "Fig. 3"), ("dln", "fig7", "Fig. 7")):
        if not _have(x, model, *variants):
            continue
        layers = CLAIM4_LAYERS[model]
        panels = [Panel("||G - G'||", "ics", "l2", k, log=True) for k in layers]
        panels += [Panel("cos(G, G')", "ics", "cos", k) for k in layers]
        out.append(
            _probe_figure(
                x,
                f"{name}_ics_{model}",
                f"ICS by Definition 2.1 (paper {paper}): ||G - G'|| and cos(G, G') per "
                "snapshot, G at theta_t, G' after the earlier layers take the real update; "
                "seed mean and 95% band.",
                model,
                variants,
                panels,
                _lrs(x, model, CLAIM4_LRS[model]),
            )
        )
    if (x.correlations.model == "vgg").any():
        out.append(
            FigureSpec(
                "ics_vs_accuracy_vgg",
                "ICS against final test accuracy, one point per completed VGG run (all "
                "variants and lrs), layers of claim 4; Spearman's rho with its 95% interval "
                "over runs. ICS that explained performance would give a clearly negative "
                "rho for ||G - G'|| and a positive one for cos.",
                figures.ics_scatter(
                    x.quantities,
                    x.runs,
                    x.correlations,
                    "vgg",
                    CLAIM4_LAYERS["vgg"],
                    "final_test_acc",
                ),
                (*VGG_RUN, "probe", "analyze"),
                _ids(x, "vgg", x.runs.variant.unique()),
            )
        )
    if len(x.correlations):
        frame = x.correlations.rename(columns={"rho": "estimate"}).assign(
            panel=lambda d: d.model.str.upper() + " vs " + d.performance
        )
        out.append(
            FigureSpec(
                "ics_correlation_by_layer",
                "Spearman's rho between a run's ICS and its final performance at every layer, "
                "with 95% intervals over runs (VGG: test accuracy, higher is better; DLN: "
                "final loss, lower is better).",
                figures.by_layer(
                    frame,
                    "metric",
                    "rank correlation of ICS with performance",
                    "Spearman rho",
                    log=False,
                ),
                ("grid", "probe", "analyze"),
                x.runs.id.tolist(),
            )
        )
    return out


def _landscape_panels(random: bool) -> list[Panel]:
    panels = [
        Panel("loss range along g", "landscape", ("loss_min", "loss_max"), log=True),
        Panel(
            "||grad(theta - eta g) - g|| range", "landscape", ("gpred_min", "gpred_max"), log=True
        ),
        Panel("effective beta-smoothness", "landscape", "beta", log=True),
    ]
    if random:
        panels.append(Panel("beta, random direction", "landscape_random", "beta", log=True))
    return panels


def claim5(x: Inputs) -> list[FigureSpec]:
    out = []
    variants = ("standard", "batchnorm")
    sharpness = [
        Panel("top Hessian eigenvalue", "sharpness", "top_eig", log=True, reference="two_over_lr")
    ]
    for model, name, paper in (("vgg", "fig4", "Fig. 4"), ("dln", "fig10_11", "Figs. 10, 11")):
        if not _have(x, model, *variants):
            continue
        out.append(
            _probe_figure(
                x,
                f"{name}_landscape_{model}",
                f"The landscape along the gradient (paper {paper}): at each snapshot the "
                "range of the loss and of the gradient change over the step sizes, and the "
                "effective beta; bands are the seed means of the min and max.",
                model,
                variants,
                _landscape_panels(random=True),
            )
        )
        out.append(
            _probe_figure(
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


def claim6(x: Inputs) -> list[FigureSpec]:
    out = []
    variants = ("batchnorm", *LP_VARIANTS)
    if _have(x, "vgg", "batchnorm", "l1"):
        out.append(
            _accuracy(
                x,
                "fig5_lp_accuracy_vgg",
                variants,
                "Accuracy of l1, l2, l-infinity normalization against BN (paper Fig. 5).",
            )
        )
        out.append(
            _probe_figure(
                x,
                "fig6_lp_landscape_vgg",
                "The landscape along the gradient with l_p normalizations (paper Fig. 6).",
                "vgg",
                variants,
                _landscape_panels(random=False),
            )
        )
    if _have(x, "dln", "batchnorm", "l1"):
        dln = ("standard", *variants)
        out.append(
            FigureSpec(
                "fig12_lp_loss_dln",
                "DLN full-batch loss (sum over examples, eval mode) with each normalization, "
                "log scale (paper Fig. 12).",
                figures.training_curves(
                    x.curves, x.runs, "dln", ("train_loss",), log=True, variants=dln
                ),
                DLN_RUN,
                _ids(x, "dln", dln),
            )
        )
        out.append(
            _probe_figure(
                x,
                "fig13_lp_landscape_dln",
                "DLN landscape along the gradient with each normalization (paper Fig. 13).",
                "dln",
                dln,
                _landscape_panels(random=False),
            )
        )
    return out


def claim7(x: Inputs) -> list[FigureSpec]:
    s = x.summary
    sel = s[
        (s.variant == "batchnorm")
        & s.quantity.isin(["theorem41.rel_diff", "theorem41.rel_diff_printed"])
    ]
    if sel.empty:
        return []
    form = {
        "theorem41.rel_diff": "1/m (proof)",
        "theorem41.rel_diff_printed": "1/sqrt(m) (printed)",
    }
    frame = sel.rename(columns={"mean": "estimate"}).assign(
        panel=lambda d: d.model.str.upper() + " BN, lr " + d.lr.map("{:g}".format),
        form=lambda d: d.quantity.map(form),
    )
    return [
        FigureSpec(
            "theorem41_by_layer",
            "Relative gap between the two sides of Theorem 4.1 on every BN layer (mean over "
            "snapshots, seed mean and 95% interval), with the 1/m of the proof and the "
            "1/sqrt(m) printed in the paper. The 1/m form is exact up to BN's eps.",
            figures.by_layer(
                frame, "form", "Theorem 4.1 relative gap", "|lhs - rhs| / lhs", log=True
            ),
            ("grid", "norm", "probe", "analyze"),
            _ids(x, "vgg", ["batchnorm"]) + _ids(x, "dln", ["batchnorm"]),
        )
    ]


CLAIM_FIGURES: dict[int, Callable[[Inputs], list[FigureSpec]]] = {
    1: claim1,
    2: claim2,
    3: claim3,
    4: claim4,
    5: claim5,
    6: claim6,
    7: claim7,
}
