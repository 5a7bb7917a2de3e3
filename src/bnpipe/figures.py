"""Figures of the report. Each function returns a matplotlib Figure; nothing is shown."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {
    "standard": "#1f77b4",
    "batchnorm": "#d62728",
    "noisy_batchnorm": "#ff7f0e",
    "l1": "#2ca02c",
    "l2": "#9467bd",
    "linf": "#8c564b",
    "noisy_standard": "#7f7f7f",
}
SPLIT_TITLES = {"train": "train accuracy", "test": "test accuracy", "train_loss": "loss"}


def training_curves(
    curves: pd.DataFrame, runs: pd.DataFrame, model: str, splits: tuple[str, ...], log: bool
) -> plt.Figure:
    """One row of panels per lr, one column per split (see SPLIT_TITLES): the seed mean
    (line) and bootstrap band of each variant; diverged runs marked x at their last step."""
    curves, runs = curves[curves.model == model], runs[runs.model == model]
    lrs = sorted(curves.lr.unique())
    fig, axes = plt.subplots(
        len(lrs), len(splits), figsize=(5 * len(splits), 3.2 * len(lrs)), squeeze=False
    )
    for row, lr in enumerate(lrs):
        for col, split in enumerate(splits):
            ax = axes[row, col]
            sel = curves[(curves.lr == lr) & (curves.split == split)]
            for variant, c in sel.groupby("variant"):
                color = COLORS.get(variant)
                ax.plot(c.step, c["mean"], color=color, label=f"{variant} (n={int(c.n.max())})")
                ax.fill_between(c.step, c.lo, c.hi, color=color, alpha=0.2, linewidth=0)
                dead = runs[(runs.lr == lr) & (runs.variant == variant)]
                for step in dead[dead.status == "diverged"].diverged_at:
                    ax.axvline(step, color=color, linestyle=":", linewidth=1)
                    ax.plot(step, ax.get_ylim()[0], "x", color=color, markersize=9)
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
            qs = sorted(float(m[1:]) for m in wide.columns if m.startswith("p"))
            color = COLORS.get(run.split("-")[1], "#555555")
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


def png_bytes(fig: plt.Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def finite_or_dash(x: float | None, fmt: str = "{:.3f}") -> str:
    return fmt.format(x) if x is not None and np.isfinite(x) else "–"
