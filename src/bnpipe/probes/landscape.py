"""The loss landscape along the step's update direction (paper Sec. 3.1, App. A.2.2).

At step t, with g the step's gradient, theta the snapshot and eta on a log-spaced grid
of `points` step sizes over [lo, hi] x lr (docs/protocol.md: [1/2, 4] for VGG, [1/100, 30] for
the DLN), evaluate at theta - eta d:
  loss@x<m>   the loss, m = eta / lr              loss_min, loss_max: its band
  gpred@x<m>  ||grad(theta - eta d) - g||          gpred_min, gpred_max: its band
  beta        max over eta of ||grad(theta - eta d) - g|| / ||eta d||  (effective smoothness)
Probe `landscape` takes d = g; `landscape_random` a random direction of the same norm,
drawn from (seed, step).
Batching: for the DLN all points go through one vmapped forward-backward; for VGG a loop
is faster on both devices measured (12 points, in training steps per snapshot: CPU, 1
thread, width 0.125: 11.1 looped vs 16.6 vmapped; H100, width 1.0, fp32: 16.5-17.9 looped
vs 20.0-23.3 vmapped at every chunk_size from 1 to 16; DLN on a CPU: 20.7 looped vs 11.8
vmapped).
A point where the loss overflows gives inf/nan: recorded as such (the band then says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from bnpipe.params import LandscapeParams, ProbeParams
from bnpipe.probes.context import SnapshotContext
from bnpipe.probes.replay import StepReplay, Tensors, flat, gaussian_like


def step_multipliers(settings: LandscapeParams, model: str) -> list[float]:
    """eta / lr at each point: log-spaced over the model's range, ends included."""
    lo, hi = settings.range[model]
    return [float(m) for m in np.geomspace(lo, hi, settings.points)]


def random_direction(replay: StepReplay, seed: int, step: int) -> Tensors:
    """A Gaussian direction rescaled to ||g||, drawn from (seed, step) alone."""
    u = gaussian_like(replay.params, seed, step, "landscape/random")
    scale = flat(replay.grad0).norm() / flat(u).norm()
    return {k: v * scale.to(v.dtype) for k, v in u.items()}


def along(
    replay: StepReplay, direction: Tensors, etas: list[float], batched: bool = True
) -> tuple[list[float], list[float]]:
    """(losses, gradient distances ||grad(theta - eta d) - g||) at each eta."""
    g0 = flat(replay.grad0)
    if batched:
        dtype = next(iter(replay.params.values())).dtype  # the measurement's precision
        eta = torch.tensor(etas, dtype=dtype, device=replay.x.device)
        stacked = {
            k: v.unsqueeze(0) - eta.view(-1, *[1] * v.dim()) * direction[k].unsqueeze(0)
            for k, v in replay.params.items()
        }
        grads, losses = replay.grads_at(stacked)
        dist = [
            (flat({k: g[s] for k, g in grads.items()}) - g0).norm().item() for s in range(len(etas))
        ]
        return losses.tolist(), dist
    losses, dist = [], []
    for e in etas:  # one forward-backward per point
        point = {k: v - e * direction[k] for k, v in replay.params.items()}
        g, loss = replay.grad_and_loss_at(point)
        losses.append(loss.item())
        dist.append((flat(g) - g0).norm().item())
    return losses, dist


class LandscapeProbe:
    def __init__(
        self, settings: LandscapeParams, random: bool = False, batched: bool | None = None
    ):
        self.settings, self.random = settings, random
        self.batched = batched  # None: the rule in the module docstring
        self.name = "landscape_random" if random else "landscape"

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        replay = ctx.replay
        multipliers = step_multipliers(self.settings, ctx.spec.model)
        etas = [m * ctx.spec.lr for m in multipliers]
        if self.random:
            direction = random_direction(replay, ctx.spec.seed, ctx.step)
        else:
            direction = replay.grad0
        batched = self.batched
        if batched is None:
            batched = ctx.spec.model == "dln"
        losses, dist = along(replay, direction, etas, batched)
        norm_d = flat(direction).norm().item()
        for m, loss, d in zip(multipliers, losses, dist, strict=True):
            yield 0, f"loss@x{m:.4g}", loss
            yield 0, f"gpred@x{m:.4g}", d
        yield from zip([0, 0], ["loss_min", "loss_max"], _band(losses), strict=True)
        yield from zip([0, 0], ["gpred_min", "gpred_max"], _band(dist), strict=True)
        ratios = [
            d / (e * norm_d) if norm_d > 0 else math.nan for d, e in zip(dist, etas, strict=True)
        ]
        yield 0, "beta", _band(ratios)[1]


def _band(values: list[float]) -> tuple[float, float]:
    """(min, max), but nan if any value is nan: a band over a blown-up line is not a number."""
    if any(math.isnan(v) for v in values):
        return math.nan, math.nan
    return min(values), max(values)


def from_params(s: ProbeParams) -> LandscapeProbe:
    """The registry's factory (bnpipe.probe_registry): the line along the update."""
    return LandscapeProbe(s.landscape)


def random_from_params(s: ProbeParams) -> LandscapeProbe:
    """The registry's factory for the same line along a random direction of equal norm."""
    return LandscapeProbe(s.landscape, random=True)
