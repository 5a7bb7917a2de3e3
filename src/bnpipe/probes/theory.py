"""Theorem 4.1 on trained BatchNorm layers.

For a BN layer with input y (the conv or matrix output) and output z = gamma * yhat + beta,
per unit j over its m values (batch, and h, w for convs), with g = dL/dz_j, sigma_j^2 the
biased batch variance of y_j and eps the layer's epsilon:
  yhat = (y - mu) / sqrt(sigma^2 + eps)   (what the layer computes)
  r    = sigma^2 / (sigma^2 + eps)        (= ||yhat||^2 / m)
  ||dL/dy_j||^2 = gamma^2 / (sigma^2 + eps) * (||g||^2 - <1,g>^2/m - (2 - r) <g,yhat>^2/m)
This eps-exact form is an identity (dL/dy = gamma/s (g - mean g - yhat <g,yhat>/m) with
s^2 = sigma^2 + eps, expanded); at eps = 0 it is the paper's, with 1/m on the last term
(the paper prints 1/sqrt(m)). Being an identity it is a sanity check, not a test of data.
The claim's empirical content is the gradient-reduction factor on trained layers:
  reduction_j = ||dL/dy_j||^2 / ||g||^2
              = gamma^2/(sigma^2+eps) * (1 - (<1,g>^2/m + (2-r)<g,yhat>^2/m) / ||g||^2)
below 1 when BN shrinks the gradient that reaches y.

Both sides come from the snapshot's fp64 replay of step t (SnapshotContext.replay_fp64:
<1,g> and <g,yhat> are sums that cancel, which fp32 gradients leave 1e-3 off): the left
from autograd through the real layer, the right from y and g.

Rows per BN layer (numbered as the paper's layers): lhs, rhs (sums over units), rel_diff
(max over units of |lhs_j - rhs_j| / lhs_j, eps-exact form), rel_diff_eps_free (the form
without eps: its gap is about eps / sigma^2), rel_diff_printed (eps-free, 1/sqrt(m)),
reduction_median (median over units of reduction_j), log_reduction_median (its natural
log), log_reduction_mean (the log of the mean over units: claim 7's "mean instead of
median" alternative), the parts of the right side g_sq, mean_term, proj_term (sums
over units), units.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from bnpipe.params import ProbeParams
from bnpipe.probes.context import SnapshotContext


def bn_layers(model: nn.Module) -> list[tuple[int, nn.modules.batchnorm._BatchNorm]]:
    """(paper layer number, BN module) for every BN layer of the model."""
    found = []
    for k, block in enumerate(model.blocks, start=1):
        for module in block.norm.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                found.append((k, module))
    return found


def theorem41_sides(
    y: torch.Tensor, g: torch.Tensor, grad_y: torch.Tensor, gamma: torch.Tensor, eps: float
) -> dict[str, torch.Tensor]:
    """Per unit: both sides and the reduction factor, from the layer input y, g = dL/dz,
    dL/dy (same shape as y), gamma (C,) and the layer's eps. In fp64, by per-unit sums
    over every dimension but the unit's (dim 1), in the tensors' own memory layout:
    with c = y - mean, <g, yhat> = <g, c> / sqrt(var + eps), and the eps-free yhat's
    <g, c> / sqrt(var), so one product serves both. On a cpu-scale BN VGG snapshot's 13
    layers (1 thread) that is 1.6-2.2x faster than forming each yhat on transposed
    copies, with the same values to 4e-12 (relative)."""
    dims = [d for d in range(y.dim()) if d != 1]
    m = y.numel() // y.shape[1]  # values per unit
    y, g = y.double(), g.double()
    c = y - y.mean(dims, keepdim=True)
    var = c.square().sum(dims) / m  # biased, as the layer's
    g_sq = g.square().sum(dims)
    mean_term = g.sum(dims) ** 2 / m
    g_c = (g * c).sum(dims)  # <g, y - mean>
    gamma_sq = gamma.double() ** 2
    # the layer's own yhat and gain (with eps), and the eps-free ones of the paper
    r = var / (var + eps)
    proj = g_c**2 / (var + eps) / m  # <g, yhat>^2 / m
    rhs = gamma_sq / (var + eps) * (g_sq - mean_term - (2 - r) * proj)
    proj0 = g_c**2 / var  # <g, yhat0>^2
    gain0 = gamma_sq / var
    return {
        "lhs": grad_y.double().square().sum(dims),
        "rhs": rhs,
        "rhs_eps_free": gain0 * (g_sq - mean_term - proj0 / m),
        "rhs_printed": gain0 * (g_sq - mean_term - proj0 / math.sqrt(m)),
        "reduction": rhs / g_sq,
        "g_sq": g_sq,
        "mean_term": mean_term,
        "proj_term": proj,
        "live": (var > 0) & (g_sq > 0),  # a constant unit has no yhat: left out
    }


class Theorem41Probe:
    name = "theorem41"

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        replay = ctx.replay_fp64  # <1,g>^2 and <g,yhat>^2 are sums that cancel: fp64
        layers = bn_layers(replay.model)
        if not layers:
            return
        io = replay.batchnorm_io  # from the forward-backward that gives the step's gradient
        for k, bn in layers:
            layer = io[bn]
            sides = theorem41_sides(layer.y, layer.grad_z, layer.grad_y, bn.weight.detach(), bn.eps)
            live = sides.pop("live")
            s = {name: v[live] for name, v in sides.items()}
            yield k, "lhs", s["lhs"].sum().item()
            yield k, "rhs", s["rhs"].sum().item()
            yield k, "rel_diff", _max_rel(s["lhs"], s["rhs"])
            yield k, "rel_diff_eps_free", _max_rel(s["lhs"], s["rhs_eps_free"])
            yield k, "rel_diff_printed", _max_rel(s["lhs"], s["rhs_printed"])
            if s["reduction"].numel():
                median = s["reduction"].median().item()
                yield k, "reduction_median", median
                yield k, "log_reduction_median", math.log(median) if median > 0 else -math.inf
                mean = s["reduction"].mean().item()
                yield k, "log_reduction_mean", math.log(mean) if mean > 0 else -math.inf
            for part in ("g_sq", "mean_term", "proj_term"):
                yield k, part, s[part].sum().item()
            yield k, "units", float(live.sum().item())


def _max_rel(lhs: torch.Tensor, rhs: torch.Tensor) -> float:
    if lhs.numel() == 0:
        return math.nan
    return ((lhs - rhs).abs() / lhs.abs().clamp_min(torch.finfo(lhs.dtype).tiny)).max().item()


def from_params(s: ProbeParams) -> Theorem41Probe:
    """The registry's factory (bnpipe.probe_registry): a fresh probe from the `probe` section."""
    return Theorem41Probe()
