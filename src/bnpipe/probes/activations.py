"""Activation distributions (paper Figs. 1c, 2): one unit's values over batch, h and w.

For each layer k, the output at `site` (layer: the raw conv or matrix output; normalized:
after the normalization, noise included; block: the block's output, i.e. the next layer's
input) is taken on the fixed probe batch, in training mode (batch statistics, and the
snapshot step's noise, as training saw them). Unit `unit` gives B*H*W values (B for the
DLN); the probe records their percentiles, mean and variance.

Moment shifts (paper Fig. 8), between consecutive snapshots (t-, t) and from the first:
  shift_mean = |mu_t - mu_t-|, shift_var = |var_t - var_t-|   (of unit `unit`)
  drift_mean = mu_t - mu_0,    drift_var = var_t - var_0
  shift_mean_units, shift_var_units: the same shifts averaged over all units of the layer.
The first snapshot has no shift (not recorded) and zero drift.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from bnpipe.params import ActivationParams
from bnpipe.probes import SnapshotContext
from bnpipe.probes.state import preserved_state


class ActivationProbe:
    name = "activations"

    def __init__(self, settings: ActivationParams):
        self.settings = settings
        # per layer: (mean, var) of every unit, shape (2, C), at the first and last snapshot
        self.first: dict[int, torch.Tensor] = {}
        self.previous: dict[int, torch.Tensor] = {}

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        site, unit = self.settings.site, self.settings.unit
        captured: dict[int, torch.Tensor] = {}
        handles = []
        for k, block in enumerate(ctx.model.blocks, start=1):
            module = {"layer": block.layer, "normalized": block.norm, "block": block}[site]

            def hook(_module, _inputs, output, k=k):
                captured[k] = output.detach()  # (B, C, H, W) or (B, C)

            handles.append(module.register_forward_hook(hook))
        try:
            with torch.no_grad(), preserved_state(ctx.model):
                ctx.model.train()
                ctx.model(ctx.probe_x)
        finally:
            for handle in handles:
                handle.remove()
        qs = torch.tensor(self.settings.percentiles, dtype=torch.float64) / 100
        for k, output in sorted(captured.items()):
            j = min(unit, output.shape[1] - 1)
            flat = output[:, j].reshape(-1).double()  # B*H*W values of unit j
            for q, v in zip(
                self.settings.percentiles, torch.quantile(flat, qs.to(flat.device)), strict=True
            ):
                yield k, f"p{q:g}", v.item()
            per_unit = output.transpose(0, 1).reshape(output.shape[1], -1).double()  # (C, m)
            moments = torch.stack([per_unit.mean(1), per_unit.var(1, unbiased=False)]).cpu()
            yield k, "mean", moments[0, j].item()
            yield k, "var", moments[1, j].item()
            first = self.first.setdefault(k, moments)
            if k in self.previous:
                shift = (moments - self.previous[k]).abs()
                yield k, "shift_mean", shift[0, j].item()
                yield k, "shift_var", shift[1, j].item()
                yield k, "shift_mean_units", shift[0].mean().item()
                yield k, "shift_var_units", shift[1].mean().item()
            yield k, "drift_mean", (moments[0, j] - first[0, j]).item()
            yield k, "drift_var", (moments[1, j] - first[1, j]).item()
            self.previous[k] = moments
