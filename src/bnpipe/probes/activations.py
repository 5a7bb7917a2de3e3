"""Activation distributions (paper Figs. 1c, 2): one unit's values over batch, h and w.

For each layer k, the output at `site` (layer: the raw conv or matrix output; normalized:
after the normalization, noise included; block: the block's output, i.e. the next layer's
input) is taken on the fixed probe batch, in training mode (batch statistics, and the
snapshot step's noise, as training saw them). Unit `unit` gives B*H*W values (B for the
DLN); the probe records their percentiles, mean and variance.
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

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        site, unit = self.settings.site, self.settings.unit
        captured: dict[int, torch.Tensor] = {}
        handles = []
        for k, block in enumerate(ctx.model.blocks, start=1):
            module = {"layer": block.layer, "normalized": block.norm, "block": block}[site]

            def hook(_module, _inputs, output, k=k):
                captured[k] = output[:, min(unit, output.shape[1] - 1)].detach()  # (B, H, W)

            handles.append(module.register_forward_hook(hook))
        try:
            with torch.no_grad(), preserved_state(ctx.model):
                ctx.model.train()
                ctx.model(ctx.probe_x)
        finally:
            for handle in handles:
                handle.remove()
        qs = torch.tensor(self.settings.percentiles, dtype=torch.float64) / 100
        for k, values in sorted(captured.items()):
            flat = values.reshape(-1).double()
            for q, v in zip(
                self.settings.percentiles, torch.quantile(flat, qs.to(flat.device)), strict=True
            ):
                yield k, f"p{q:g}", v.item()
            yield k, "mean", flat.mean().item()
            yield k, "var", flat.var(unbiased=False).item()
