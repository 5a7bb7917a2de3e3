"""Figures of the report. Each function returns a matplotlib Figure; nothing is shown.

Curves are the seed mean with its bootstrap interval as a band (analyze's tables); a
diverged run is marked with a dotted line and an x at the step it stopped.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import matplotlib
import matplotlib.ticker

from bnpipe import variants

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Same figure, same bytes: no timestamps, fixed ids in SVG.
matplotlib.rcParams.update({"svg.hashsalt": "bnpipe", "svg.fonttype": "none"})


def variant_color(variant: str) -> str:
    """A variant's colour (bnpipe.variants), grey for an unknown name."""
    known = variants.registry().get(variant)
    return known.color if known else "#555555"


SPLIT_TITLES = {"train": "train accuracy", "test": "test accuracy", "train_loss": "loss"}


def training_curves(
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    model: str,
    splits: tuple[str, ...],
    log: bool,
    variants: tuple[str, ...] | None = None,
) -> plt.Figure:
    """One row of panels per lr, one column per split (see SPLIT_TITLES): the seed mean
    (line) and bootstrap band of each variant; diverged runs marked x at their last step."""
    curves, runs = curves[curves.model == model], runs[runs.model == model]
    if variants is not None:
        curves = curves[curves.variant.isin(variants)]
    lrs = sorted(curves.lr.unique())
    fig, axes = plt.subplots(
        len(lrs), len(splits), figsize=(5 * len(splits), 3.2 * len(lrs)), squeeze=False
    )
    for row, lr in enumerate(lrs):
        for col, split in enumerate(splits):
            ax = axes[row, col]
            sel = curves[(curves.lr == lr) & (curves.split == split)]
            for variant, c in sel.groupby("variant"):
                color = variant_color(variant)
                ax.plot(c.step, c["mean"], color=color, label=f"{variant} (n={int(c.n.max())})")
                ax.fill_between(c.step, c.lo, c.hi, color=color, alpha=0.2, linewidth=0)
                _mark_diverged(ax, runs, lr, variant)
            ax.set_title(f"{model}, lr {lr:g}: {SPLIT_TITLES[split]} (eval mode)")
            ax.set_xlabel("step")
            if log:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def activation_bands(probes: pd.DataFrame, layers: list[int], runs: list[str]) -> plt.Figure:
    """Percentile bands of one unit's activations over training (paper Fig. 2): one column
    per layer, one row per run; the darker the band, the more central the percentiles."""
    fig, axes = plt.subplots(
        len(runs),
        len(layers),
        figsize=(4.5 * len(layers), 2.6 * len(runs)),
        squeeze=False,
        sharex=True,
    )
    acts = probes[probes.probe == "activations"]
    for i, run in enumerate(runs):
        for j, layer in enumerate(layers):
            ax = axes[i, j]
            sel = acts[(acts.run == run) & (acts.layer == layer)]
            wide = sel.pivot(index="step", columns="metric", values="value").sort_index()
            # percentile columns: p5, p50, p97.5 (not pre_lag_shift and the like)
            qs = sorted(float(m[1:]) for m in wide.columns if re.fullmatch(r"p[\d.]+", m))
            color = variant_color(run.split("-")[1])
            for k in range(len(qs) // 2):  # pair the outermost percentiles first
                lo, hi = wide[f"p{qs[k]:g}"], wide[f"p{qs[-1 - k]:g}"]
                ax.fill_between(
                    wide.index,
                    lo,
                    hi,
                    color=color,
                    alpha=0.15 + 0.15 * k,
                    linewidth=0,
                    label=f"p{qs[k]:g}-p{qs[-1 - k]:g}",
                )
            if len(qs) % 2:
                ax.plot(
                    wide.index,
                    wide[f"p{qs[len(qs) // 2]:g}"],
                    color=color,
                    lw=1.2,
                    label=f"p{qs[len(qs) // 2]:g}",
                )
            ax.set_xscale("symlog", linthresh=1)
            ax.set_title(f"{run}, layer #{layer}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(runs) - 1:
                ax.set_xlabel("step (log scale)")
            if i == 0 and j == 0:
                ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Panel:
    """One column of a probe figure: `metric` is drawn as a line with its seed band; a
    (low, high) pair as the band between the seed means of the two (e.g. the loss range
    along the gradient); `reference` is a metric drawn dashed (e.g. 2/lr)."""

    title: str
    probe: str
    metric: str | tuple[str, str]
    layer: int = 0
    log: bool = False
    reference: str = ""


def probe_curves(
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    model: str,
    variants: tuple[str, ...],
    lrs: list[float],
    panels: list[Panel],
) -> plt.Figure:
    """Rows: lrs; columns: panels; per variant the seed mean over snapshot steps."""
    curves = curves[(curves.model == model) & curves.variant.isin(variants)]
    runs = runs[runs.model == model]
    fig, axes = plt.subplots(
        len(lrs), len(panels), figsize=(4.2 * len(panels), 3.0 * len(lrs)), squeeze=False
    )
    for row, lr in enumerate(lrs):
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            sel = curves[np.isclose(curves.lr, lr) & (curves.probe == panel.probe)]
            sel = sel[sel.layer == panel.layer]
            for variant in variants:
                v = sel[sel.variant == variant]
                color = variant_color(variant)
                if isinstance(panel.metric, tuple):
                    low, high = (v[v.metric == m].set_index("step")["mean"] for m in panel.metric)
                    if low.empty:
                        continue
                    ax.fill_between(
                        low.index,
                        low,
                        high.reindex(low.index),
                        color=color,
                        alpha=0.3,
                        linewidth=0.8,
                        edgecolor=color,
                        label=variant,
                    )
                else:
                    c = v[v.metric == panel.metric].sort_values("step")
                    if c.empty:
                        continue
                    ax.plot(c.step, c["mean"], color=color, marker=".", label=variant)
                    ax.fill_between(c.step, c.lo, c.hi, color=color, alpha=0.2, linewidth=0)
                if panel.reference:
                    ref = v[v.metric == panel.reference].sort_values("step")
                    ax.plot(ref.step, ref["mean"], color=color, linestyle="--", linewidth=1)
                _mark_diverged(ax, runs, lr, variant)
            layer = f", layer #{panel.layer}" if panel.layer else ""
            ax.set_title(f"{model}, lr {lr:g}{layer}: {panel.title}", fontsize=9)
            ax.set_xscale("symlog", linthresh=1)
            if panel.log:
                ax.set_yscale("log")
            ax.set_xlabel("step (log scale)")
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def ics_scatter(
    quantities: pd.DataFrame,
    runs: pd.DataFrame,
    correlations: pd.DataFrame,
    model: str,
    layers: tuple[int, ...],
    performance: str,
) -> plt.Figure:
    """Each completed run one point: its ICS (mean over snapshots) at a layer against its
    final performance; the title gives Spearman's rho with its interval over runs."""
    done = quantities[(quantities.model == model) & (quantities.status == "completed")]
    perf = runs.set_index("id")[performance]
    fig, axes = plt.subplots(2, len(layers), figsize=(4.2 * len(layers), 6.4), squeeze=False)
    markers = ["o", "s", "^", "D", "v"]
    for row, metric in enumerate(("l2", "cos")):
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            sel = done[(done.quantity == f"ics.{metric}") & (done.layer == layer)]
            lrs = sorted(sel.lr.unique())
            for (variant, lr), g in sel.groupby(["variant", "lr"]):
                ax.scatter(
                    g.value,
                    perf[g.run],
                    color=variant_color(variant),
                    marker=markers[lrs.index(lr) % len(markers)],
                    s=28,
                    label=f"{variant}, lr {lr:g}",
                )
            c = correlations[
                (correlations.model == model)
                & (correlations.metric == metric)
                & (correlations.layer == layer)
            ]
            rho = (
                f"rho {c.rho.iloc[0]:.2f} [{finite_or_dash(c.lo.iloc[0], '{:.2f}')}, "
                f"{finite_or_dash(c.hi.iloc[0], '{:.2f}')}], n={int(c.n.iloc[0])}"
                if len(c)
                else "rho –"
            )
            ax.set_title(
                f"{model} layer #{layer}: ICS {metric} vs {performance}\n{rho}", fontsize=9
            )
            ax.set_xlabel(f"ICS {metric} (mean over snapshots)")
            ax.set_ylabel(performance)
            if metric == "l2":
                ax.set_xscale("log")
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


def by_layer(frame: pd.DataFrame, series: str, title: str, ylabel: str, log: bool) -> plt.Figure:
    """Estimates per layer with their intervals as error bars, one line per `series` value;
    `frame` has columns layer, estimate, lo, hi and `series`, and `panel` for subplots."""
    panels = list(dict.fromkeys(frame.panel))
    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        sel = frame[frame.panel == panel]
        for name, g in sel.groupby(series, sort=False):
            g = g.sort_values("layer")
            err = np.array([g.estimate - g.lo, g.hi - g.estimate])
            ax.errorbar(
                g.layer,
                g.estimate,
                yerr=np.nan_to_num(err),
                marker="o",
                ms=4,
                capsize=2,
                label=str(name),
            )
        if not log:
            ax.axhline(0, color="#888", linewidth=0.8)
        else:
            ax.set_yscale("log")
        ax.set_title(f"{panel}: {title}", fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


VERDICT_COLORS = {
    "supported": "#1b7837",
    "contradicted": "#b2182b",
    "inconclusive": "#9970ab",
}


def specification_curve(rows: list[dict], title: str) -> plt.Figure:
    """A multiverse panel: one line per alternative (the primary on top), its estimate
    and interval as an error bar coloured by its verdict, the threshold as a vertical
    line; a row with no interval shows its verdict in words. `rows`: the panel's rows
    (analysis.claims.multiverse.row), on their display scale (ratios for logs)."""
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.32 * len(rows)))
    log = rows[0]["scale"] == "log"
    ys = np.arange(len(rows))[::-1]
    for y, r in zip(ys, rows, strict=True):
        est, lo, hi = (np.nan if r[k] is None else r[k] for k in ("estimate", "lo", "hi"))
        if np.isfinite([est, lo, hi]).all():
            gated = r["verdict"] not in VERDICT_COLORS  # judged by its interval, but gated
            color = VERDICT_COLORS.get(r["interval_verdict"], "#888888")
            ax.errorbar(est, y, xerr=[[est - lo], [hi - est]], fmt="o", ms=5, capsize=2,
                        color=color, mfc="white" if gated else color)  # fmt: skip
        else:
            ax.text(0.5, y, r["verdict"], transform=ax.get_yaxis_transform(), ha="center",
                    va="center", fontsize=7, color="#666666")  # fmt: skip
    ax.axvline(rows[0]["threshold"], color="#444444", linewidth=0.9, linestyle="--")
    ax.set_yticks(ys, [r["alternative"] for r in rows], fontsize=7)
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _mark_diverged(ax, runs: pd.DataFrame, lr: float, variant: str) -> None:
    dead = runs[np.isclose(runs.lr, lr) & (runs.variant == variant) & (runs.status == "diverged")]
    for step in dead.diverged_at:
        color = variant_color(variant)
        ax.axvline(step, color=color, linestyle=":", linewidth=1)
        ax.plot(step, ax.get_ylim()[0], "x", color=color, markersize=9, clip_on=False)


def render(fig: plt.Figure, dpi: int = 100) -> tuple[bytes, bytes]:
    """(PNG, SVG) bytes of a figure, free of timestamps; the figure is closed."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return png.getvalue(), svg.getvalue()


def finite_or_dash(x: float | None, fmt: str = "{:.3f}") -> str:
    return fmt.format(x) if x is not None and np.isfinite(x) else "–"
