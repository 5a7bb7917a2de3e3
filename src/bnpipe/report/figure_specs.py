"""What a claim's figures are made of: the report's inputs, a FigureSpec, and builders
for the figure kinds that several claims draw (accuracy curves, activation bands, probe
curves over snapshots). Each claim's figures (bnpipe.report.claim_figures) use them; a figure whose
runs the grid lacks is left out. Names follow the paper's figure numbers where a figure
reproduces one.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bnpipe import variants
from bnpipe.params import Params
from bnpipe.report import figures
from bnpipe.report.figures import Panel


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


def have(x: Inputs, model: str, *variants: str) -> bool:
    r = x.runs
    return all(((r.model == model) & (r.variant == v)).any() for v in variants)


def lrs_of(x: Inputs, model: str, wanted=None) -> list[float]:
    lrs = sorted(x.runs[x.runs.model == model].lr.unique())
    if wanted is None:
        return lrs
    picked = [lr for lr in lrs if any(np.isclose(lr, w) for w in wanted)]
    return picked or lrs


def ids(x: Inputs, model: str, variants, lrs=None) -> list[str]:
    r = x.runs[(x.runs.model == model) & x.runs.variant.isin(variants)]
    if lrs is not None:
        r = r[np.isclose(r.lr.to_numpy()[:, None], np.array(lrs)[None]).any(axis=1)]
    return r.id.tolist()


def accuracy_figure(x: Inputs, name: str, variants: tuple[str, ...], caption: str) -> FigureSpec:
    fig = figures.training_curves(
        x.curves, x.runs, "vgg", ("train", "test"), log=False, variants=variants
    )
    return FigureSpec(name, caption, fig, x.params.model_sections("vgg"), ids(x, "vgg", variants))


def bands_figure(x: Inputs, name: str, layers, variants, caption: str) -> FigureSpec:
    """Activation percentile bands of seed 0 (or the first seed) at the first lr."""
    lr = lrs_of(x, "vgg")[0]
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
    return FigureSpec(name, caption, fig, (*x.params.model_sections("vgg"), "probe"), shown)


def probe_figure(
    x: Inputs, name: str, caption: str, model: str, variants, panels: list[Panel], lrs=None
) -> FigureSpec:
    """Probe metrics over snapshots (figures.probe_curves): rows lrs, columns panels."""
    lrs = lrs_of(x, model) if lrs is None else lrs
    fig = figures.probe_curves(x.probe_curves, x.runs, model, variants, lrs, panels)
    deps = (*x.params.model_sections(model), "probe")
    return FigureSpec(name, caption, fig, deps, ids(x, model, variants, lrs))


def landscape_panels(random: bool) -> list[Panel]:
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


def overview_figures(x: Inputs) -> list[FigureSpec]:
    """Every variant of the grid at once (registered extensions included): VGG accuracy
    and the DLN's loss over training, seed mean and 95% band."""
    out = []
    for model, name, splits, log in (
        ("vgg", "overview_vgg_accuracy", ("train", "test"), False),
        ("dln", "overview_dln_loss", ("train_loss",), True),
    ):
        present = tuple(x.runs[x.runs.model == model].variant.drop_duplicates())
        if present:
            fig = figures.training_curves(
                x.curves, x.runs, model, splits, log=log, variants=present
            )
            what = (
                "accuracy (eval mode)"
                if variants.is_classifier(model)
                else "full-batch loss (eval mode)"
            )
            out.append(
                FigureSpec(
                    name,
                    f"Every {model.upper()} variant of the grid: {what} over training, seed "
                    "mean and 95% band, per lr.",
                    fig,
                    x.params.model_sections(model),
                    ids(x, model, present),
                )
            )
    return out
