"""Theorem 4.1 on trained BatchNorm layers.

For a BN layer with input y (the conv or matrix output) and output z = gamma * yhat + beta,
per unit j over its m values (batch, and h, w for convs), with g = dL/dz_j and sigma_j the
biased batch std of y_j:

  ||dL/dy_j||^2 = (gamma_j^2 / sigma_j^2) * (||g||^2 - (1/m) <1, g>^2 - (1/m) <g, yhat_j>^2)

(PROTOCOL.md: the paper prints 1/sqrt(m) on the last term; the proof gives 1/m.) The left
side comes from autograd through the real layer on step t's batch (fp32, with the layer's
eps); the right side from y and g in fp64. With eps > 0 the layer divides by
sqrt(sigma^2 + eps), so the two sides differ by a relative O(eps / sigma^2) beside fp32
round-off; as eps -> 0 the identity is exact (tests/test_probe_math.py).

Rows per BN layer (numbered as the paper's layers): lhs, rhs (sums over units), rel_diff
(max over units of |lhs_j - rhs_j| / lhs_j), rhs_printed and rel_diff_printed (1/sqrt(m)),
and the parts of the right side: g_sq, mean_term, proj_term (sums over units), units.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from bnpipe.probes import SnapshotContext


def bn_layers(model: nn.Module) -> list[tuple[int, nn.modules.batchnorm._BatchNorm]]:
    """(paper layer number, BN module) for every BN layer of the model."""
    found = []
    for k, block in enumerate(model.blocks, start=1):
        for module in block.norm.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                found.append((k, module))
    return found


def _per_unit(t: torch.Tensor) -> torch.Tensor:
    """(N, C) or (N, C, H, W) -> (C, m) in fp64."""
    return t.transpose(0, 1).reshape(t.shape[1], -1).double()


def theorem41_sides(
    y: torch.Tensor, g: torch.Tensor, grad_y: torch.Tensor, gamma: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Both sides per unit, from the layer input y, g = dL/dz and dL/dy (same shape as y)."""
    y, g, grad_y = _per_unit(y), _per_unit(g), _per_unit(grad_y)
    m = y.shape[1]
    mean, var = y.mean(1, keepdim=True), y.var(1, unbiased=False, keepdim=True)
    yhat = (y - mean) / var.sqrt()
    gain = gamma.double() ** 2 / var.squeeze(1)
    g_sq = g.pow(2).sum(1)
    mean_term = g.sum(1) ** 2 / m
    dot = (g * yhat).sum(1) ** 2
    return {
        "lhs": grad_y.pow(2).sum(1),
        "rhs": gain * (g_sq - mean_term - dot / m),
        "rhs_printed": gain * (g_sq - mean_term - dot / math.sqrt(m)),
        "g_sq": g_sq,
        "mean_term": mean_term,
        "proj_term": dot / m,
        "live": var.squeeze(1) > 0,  # a constant unit has no yhat: left out
    }


class Theorem41Probe:
    name = "theorem41"

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        layers = bn_layers(ctx.model)
        if not layers:
            return
        replay = ctx.replay
        captured: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        handles = []
        for k, bn in layers:

            def hook(_module, inputs, output, k=k):
                captured[k] = (inputs[0], output)

            handles.append(bn.register_forward_hook(hook))
        try:
            loss = replay.loss_fn(ctx.model(replay.x), replay.y)
        finally:
            for handle in handles:
                handle.remove()
        # grads of [y_1, z_1, y_2, z_2, ...]: dL/dy and g = dL/dz per BN layer
        grads = torch.autograd.grad(loss, [t for k, _ in layers for t in captured[k]])
        for n, (k, bn) in enumerate(layers):
            grad_y, g = grads[2 * n], grads[2 * n + 1]
            sides = theorem41_sides(captured[k][0].detach(), g, grad_y, bn.weight.detach())
            live = sides.pop("live")
            s = {name: v[live] for name, v in sides.items()}
            yield k, "lhs", s["lhs"].sum().item()
            yield k, "rhs", s["rhs"].sum().item()
            yield k, "rel_diff", _max_rel(s["lhs"], s["rhs"])
            yield k, "rhs_printed", s["rhs_printed"].sum().item()
            yield k, "rel_diff_printed", _max_rel(s["lhs"], s["rhs_printed"])
            for part in ("g_sq", "mean_term", "proj_term"):
                yield k, part, s[part].sum().item()
            yield k, "units", float(live.sum().item())


def _max_rel(lhs: torch.Tensor, rhs: torch.Tensor) -> float:
    if lhs.numel() == 0:
        return math.nan
    return ((lhs - rhs).abs() / lhs.abs().clamp_min(torch.finfo(lhs.dtype).tiny)).max().item()
