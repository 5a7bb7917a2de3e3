"""Each claim's figures, drawn from analyze's tables: FIGURES maps a claim's number to
a function (Inputs) -> [FigureSpec]. The claims' tests and verdicts are in
bnpipe.analysis.claims; this module only draws, and reads a claim's constants (its
layers, learning rates, variants) from there so that a figure shows what was tested.
"""

from __future__ import annotations

from bnpipe.analysis.claims import claim2, claim3, claim4, claim6, claim7
from bnpipe.report import figures as plots
from bnpipe.report.figure_specs import (
    FigureSpec,
    Inputs,
    accuracy_figure,
    bands_figure,
    have,
    ids,
    landscape_panels,
    lrs_of,
    probe_figure,
)
from bnpipe.report.figures import Panel


def claim1_figures(x: Inputs) -> list[FigureSpec]:
    if not have(x, "vgg", "standard", "batchnorm"):
        return []
    subset = x.params.train.eval_train_images
    train_set = (
        f"a fixed subset of {subset:,} training images" if subset else "every training image"
    )
    return [
        accuracy_figure(
            x,
            "fig1_vgg_accuracy",
            ("standard", "batchnorm"),
            f"Training and test accuracy of VGG with and without BN (eval mode; training "
            f"accuracy on {train_set}, test accuracy on the full test set): seed mean and "
            "95% band over seeds, per lr (paper Fig. 1).",
        )
    ]


def claim2_figures(x: Inputs) -> list[FigureSpec]:
    variants = ("standard", "batchnorm")
    if not have(x, "vgg", *variants):
        return []
    lag = x.params.probe.activations.lag
    panels = [
        Panel(f"next-layer input, layer #{k}", "activations", "input_coord_lag_shift", k, log=True)
        for k in claim2.LAYERS
    ]
    panels += [
        Panel(f"conv output, layer #{k}", "activations", "pre_coord_lag_shift", k, log=True)
        for k in claim2.LAYERS
    ]
    panels += [
        Panel(
            f"next-layer input per channel (pinned in BN), layer #{k}",
            "activations",
            "input_lag_shift",
            k,
            log=True,
        )
        for k in claim2.LAYERS
    ]
    return [
        bands_figure(
            x,
            "fig2_activations",
            claim2.LAYERS,
            variants,
            "Activation distributions over training, with and without BN (paper Fig. 2).",
        ),
        probe_figure(
            x,
            "fig2_lag_shifts",
            f"What the claim tests: each coordinate's (c, h, w) shift between snapshot t "
            f"and t + {lag} steps of real training (W2 distance of its mean and sd over the "
            "probe batch, over its sd at t, averaged over the layer's coordinates or a fixed "
            "sample of them), at the next layer's input (after the ReLU) and at the conv "
            "output before normalization; last row: the same per channel, which BN pins by "
            "construction. Seed mean and 95% band. Snapshots before a network left chance "
            "are drawn too; the test uses only later ones.",
            "vgg",
            variants,
            panels,
        ),
    ]


def claim3_figures(x: Inputs) -> list[FigureSpec]:
    variants = ("standard", "batchnorm", "noisy_batchnorm")
    if not have(x, "vgg", *variants):
        return []
    panels = [
        Panel("|mean shift|", "activations", "shift_mean", k, log=True) for k in claim3.LAYERS
    ]
    return [
        accuracy_figure(
            x,
            "fig3_noisy_accuracy",
            variants,
            "Accuracy of noisy BN against BN and standard: seed mean and 95% band.",
        ),
        probe_figure(
            x,
            "fig8_moment_shifts",
            "Shift of every unit of the next layer's input over a fixed lag of real "
            "training steps (scale-free, log scale), layers #2, #9, #13 (paper Fig. 8, "
            "where noisy BN's inputs move the most).",
            "vgg",
            variants,
            panels,
        ),
        bands_figure(
            x,
            "fig9_noisy_activations",
            claim3.LAYERS,
            variants,
            "Activation distributions of standard, BN and noisy BN (paper Figs. 2, 9).",
        ),
    ]


def claim4_figures(x: Inputs) -> list[FigureSpec]:
    """Fig. 3 (VGG) and Fig. 7 (DLN): ICS per snapshot; ICS against accuracy per run;
    the correlation at every layer (long only because each caption is written out)."""
    out = []
    variants = ("standard", "batchnorm")
    for model, name, paper in (("vgg", "fig3", "Fig. 3"), ("dln", "fig7", "Fig. 7")):
        if not have(x, model, *variants):
            continue
        layers = claim4.LAYERS[model]
        panels = [Panel("||G - G'||", "ics", "l2", k, log=True) for k in layers]
        panels += [Panel("cos(G, G')", "ics", "cos", k) for k in layers]
        out.append(
            probe_figure(
                x,
                f"{name}_ics_{model}",
                f"ICS by Definition 2.1 (paper {paper}): ||G - G'|| and cos(G, G') per "
                "snapshot, G at theta_t, G' after the earlier layers take the real update; "
                "seed mean and 95% band.",
                model,
                variants,
                panels,
                lrs_of(x, model, claim4.LRS[model]),
            )
        )
    if (x.correlations.model == "vgg").any():
        out.append(
            FigureSpec(
                "ics_vs_accuracy_vgg",
                "ICS against final test accuracy, one point per VGG run (all variants and "
                "lrs), layers of claim 4. The title's Spearman rho is taken within each "
                "variant and lr (both centred per stratum, so the variants' means cannot "
                "make a correlation: Simpson's paradox), with a stratified bootstrap 95% "
                "interval over runs. ICS that explained performance would give a clearly "
                "negative rho for ||G - G'|| and a positive one for cos.",
                plots.ics_scatter(
                    x.quantities,
                    x.runs,
                    x.correlations,
                    "vgg",
                    claim4.LAYERS["vgg"],
                    "final_test_acc",
                ),
                (*x.params.model_sections("vgg"), "probe", "analyze"),
                ids(x, "vgg", x.runs.variant.unique()),
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
                "within variant and lr, with stratified bootstrap 95% intervals over runs "
                "(VGG: test accuracy, higher is better; DLN: final loss, lower is better).",
                plots.by_layer(
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


def claim5_figures(x: Inputs) -> list[FigureSpec]:
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
                "Top Hessian eigenvalue of the step's batch loss (Lanczos on "
                "Hessian-vector products) with 2/lr dashed (edge of stability, Cohen et al. "
                "2021); seed mean and band.",
                model,
                variants,
                sharpness,
            )
        )
    return out


def claim6_figures(x: Inputs) -> list[FigureSpec]:
    out = []
    variants = ("batchnorm", *claim6.VARIANTS)
    if have(x, "vgg", "batchnorm", "l1"):
        out.append(
            accuracy_figure(
                x,
                "fig5_lp_accuracy_vgg",
                variants,
                "Accuracy of l1, l2, l-infinity normalization against BN (paper Fig. 5).",
            )
        )
        out.append(
            probe_figure(
                x,
                "fig6_lp_landscape_vgg",
                "The landscape along the gradient with l_p normalizations (paper Fig. 6).",
                "vgg",
                variants,
                landscape_panels(random=False),
            )
        )
    if have(x, "dln", "batchnorm", "l1"):
        dln = ("standard", *variants)
        out.append(
            FigureSpec(
                "fig12_lp_loss_dln",
                "DLN full-batch loss (sum over examples, eval mode) with each normalization, "
                "log scale (paper Fig. 12).",
                plots.training_curves(
                    x.curves, x.runs, "dln", ("train_loss",), log=True, variants=dln
                ),
                x.params.model_sections("dln"),
                ids(x, "dln", dln),
            )
        )
        out.append(
            probe_figure(
                x,
                "fig13_lp_landscape_dln",
                "DLN landscape along the gradient with each normalization (paper Fig. 13).",
                "dln",
                dln,
                landscape_panels(random=False),
            )
        )
    return out


def claim7_figures(x: Inputs) -> list[FigureSpec]:
    s = x.summary[x.summary.variant == "batchnorm"]
    gaps = s[s.quantity.isin(list(claim7.FORMS))]
    if gaps.empty:
        return []
    panel = {"panel": lambda d: d.model.str.upper() + " BN, lr " + d.lr.map("{:g}".format)}
    frame = gaps.rename(columns={"mean": "estimate"}).assign(
        **panel, form=lambda d: d.quantity.map(claim7.FORMS)
    )
    reduction = s[s.quantity == "theorem41.reduction_median"]
    reduction = reduction.rename(columns={"mean": "estimate"}).assign(**panel, form="median")
    runs = ids(x, "vgg", ["batchnorm"]) + ids(x, "dln", ["batchnorm"])
    deps = ("grid", "norm", "probe", "analyze")
    return [
        FigureSpec(
            "theorem41_reduction_by_layer",
            "What the claim tests: the gradient-reduction factor ||dL/dy_j||^2 / ||g_j||^2 "
            "of every BN layer, median over its units, mean over the run's steps; seed "
            "mean and 95% interval. Below 1: BN shrinks the gradient that reaches y.",
            plots.by_layer(
                reduction, "form", "gradient-reduction factor", "||dL/dy||^2 / ||g||^2", log=True
            ),
            deps,
            runs,
        ),
        FigureSpec(
            "theorem41_by_layer",
            "Sanity check: relative gap between the two sides of Theorem 4.1 on every BN "
            "layer (largest over units, mean over snapshots, seed mean and 95% interval). "
            "The eps-exact form is an identity (gap at round-off: the probe runs in fp64); "
            "the eps-free form "
            "of the proof misses by about eps / sigma^2; the printed 1/sqrt(m) form does "
            "not hold.",
            plots.by_layer(
                frame, "form", "Theorem 4.1 relative gap", "|lhs - rhs| / lhs", log=True
            ),
            deps,
            runs,
        ),
    ]


FIGURES = {
    n: f
    for n, f in enumerate(
        (
            claim1_figures,
            claim2_figures,
            claim3_figures,
            claim4_figures,
            claim5_figures,
            claim6_figures,
            claim7_figures,
        ),
        start=1,
    )
}
