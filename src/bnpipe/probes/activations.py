"""Activation distributions (paper Figs. 1c, 2, 8, 9) and their shift at a fixed step lag.

Moments and percentiles are read in fp64 (speed.FP64: a copy of the model, one forward
pass) whatever probe.precision: a shift is a difference of near-equal moments.

Distributions. For each layer k, the output at `site` (layer: the raw conv or matrix
output; normalized: after the normalization, noise included; block: the block's output,
i.e. the next layer's input after the ReLU) on the fixed probe batch, in training mode
(batch statistics, and the snapshot step's noise, as training saw them). Unit `unit`
gives B*H*W values (B for the DLN); the probe records their percentiles, mean, variance,
and the moment shifts of paper Fig. 8 between consecutive snapshots (t-, t) and from the
first:
  shift_mean = |mu_t - mu_t-|, shift_var = |var_t - var_t-|   (of unit `unit`)
  drift_mean = mu_t - mu_0,    drift_var = var_t - var_0
  shift_mean_units, shift_var_units: the same shifts averaged over all units.
These follow the snapshot schedule, whose gaps grow over training: they are drawn, never
compared across runs.

Lag shift (claims 2 and 3). The moments on the probe batch at snapshot t and `lag` real
SGD steps later are compared, scale-free. Training records the later moments as it
passes t + lag (bnpipe.training.lag_record); where it has not (the last snapshot, a lag changed
since training), training is replayed from snapshot t for `lag` steps (the same batches
and noise, from the counters), in the probes' own form (NCHW, probe.precision), which
follows training to round-off:
  lag_shift = W2(N(mu_t, var_t), N(mu_t+lag, var_t+lag)) / sd_t
            = sqrt((mu' - mu)^2 + (sd' - sd)^2) / sd
  lag_shift_mean = |mu' - mu| / sd,  lag_shift_var = |var' - var| / var
averaged over the live units (sd_t > 0; a dead ReLU unit has none; lag_shift_median: the
median of lag_shift), at two sites: `input_` (the next layer's input, after the ReLU)
and `pre_` (the conv or matrix output, before any normalization), and over two units:
  channel     input_lag_shift, ...: a channel's B*H*W values. In a BN network this is
              pinned by construction: on the batch it normalizes, each channel of BN's
              output has mean beta and variance ~gamma^2 whatever the weights, and its
              ReLU almost as tightly, so it measures the drift of gamma and beta.
  coordinate  input_coord_lag_shift, ...: a coordinate (c, h, w)'s B values, the paper's
              "sampled activations" (Figs. 2, 7): every coordinate of the layer, or a
              fixed sample of `coordinates` (models.sites.coordinate_sample). Claim 2's
              primary (docs/protocol.md, version 2).
The equal lag makes runs comparable at any schedule. BN's own output is never measured
here: in training mode its batch mean and variance are beta and about gamma^2 by
construction.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from bnpipe.models import noise_layers, set_step
from bnpipe.models.sites import capture, unit_moments
from bnpipe.models.state import preserved_state
from bnpipe.params import ActivationParams, ProbeParams
from bnpipe.probes.context import SnapshotContext
from bnpipe.training import speed
from bnpipe.training.lag_record import LAG_SITES, UNITS, Moments, lag_moments, site_moments

SHIFTS = ("lag_shift", "lag_shift_mean", "lag_shift_var", "lag_shift_median")


def lag_shifts(before: torch.Tensor, after: torch.Tensor) -> dict[str, float]:
    """Scale-free shifts between two (2, n) moment tensors (n units: channels or
    coordinates), averaged over the live units (lag_shift_median: the median)."""
    live = before[1] > 0
    if not live.any():
        return dict.fromkeys(SHIFTS, float("nan"))
    mu, var = before[0][live], before[1][live]
    mu2, var2 = after[0][live], after[1][live]
    sd, sd2 = var.sqrt(), var2.sqrt()
    w2 = ((mu2 - mu) ** 2 + (sd2 - sd) ** 2).sqrt() / sd
    return {
        "lag_shift": w2.mean().item(),
        "lag_shift_mean": ((mu2 - mu).abs() / sd).mean().item(),
        "lag_shift_var": ((var2 - var).abs() / var).mean().item(),
        "lag_shift_median": w2.median().item(),
    }


def replay_sgd(ctx: SnapshotContext, steps: int) -> None:
    """Apply training's own updates for steps t .. t + steps - 1 to ctx.model, in place:
    step s's batch and noise, plain SGD at the run's lr (as torch.optim.SGD applies it).
    Step t's gradient is the snapshot's own, ctx.replay.grad0, which the other probes
    share (the same bits as a forward-backward here: test_train checks the replay against
    training). The caller restores the model (preserved_state)."""
    if steps <= 0:
        return
    noise = noise_layers(ctx.model)
    named = dict(ctx.model.named_parameters())
    params = list(named.values())
    speed.sgd_update(params, [ctx.replay.grad0[name] for name in named], ctx.spec.lr)
    ctx.model.train()
    for s in range(ctx.step + 1, ctx.step + steps):
        x, y = ctx.task.batch(s)
        set_step(noise, s)
        loss = ctx.task.loss(ctx.model(x), y)
        speed.sgd_update(params, torch.autograd.grad(loss, params), ctx.spec.lr)
    set_step(noise, ctx.step + steps)


class ActivationProbe:
    name = "activations"

    def __init__(self, settings: ActivationParams):
        self.settings = settings
        # per layer: (mean, var) of every unit, shape (2, C), at the first and last snapshot
        self.first: dict[int, torch.Tensor] = {}
        self.previous: dict[int, torch.Tensor] = {}

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        lag = self.settings.lag if ctx.task is not None else 0
        sites = (self.settings.site, *(LAG_SITES.values() if lag else ()))
        now = capture(ctx.model_fp64, ctx.probe_x, tuple(dict.fromkeys(sites)))
        at_lag_sites = {site: now[site] for site in LAG_SITES.values()} if lag else {}
        moments = site_moments(at_lag_sites, self.settings.coordinates)
        drawn = now[self.settings.site]
        channels = {  # the drawn site's channel moments, computed once
            k: moments[self.settings.site][k]["channel"]
            if self.settings.site in moments
            else unit_moments(o)
            for k, o in drawn.items()
        }
        yield from self._distributions(drawn, channels)
        if lag:
            yield from self._lag_shifts(ctx, moments, lag)

    def _distributions(
        self, outputs: dict[int, torch.Tensor], all_moments: dict[int, torch.Tensor]
    ) -> Iterator[tuple[int, str, float]]:
        unit = self.settings.unit
        for k, output in sorted(outputs.items()):
            j = min(unit, output.shape[1] - 1)
            values = output[:, j].reshape(-1).double().cpu().numpy()  # B*H*W values of unit j
            # Linear interpolation between order statistics (torch.quantile's definition),
            # by selection rather than a full sort: 4x faster on 524,288 values.
            percentiles = np.percentile(values, self.settings.percentiles, method="linear")
            for q, v in zip(self.settings.percentiles, percentiles, strict=True):
                yield k, f"p{q:g}", float(v)
            moments = all_moments[k]
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

    def _lag_shifts(
        self, ctx: SnapshotContext, now: Moments, lag: int
    ) -> Iterator[tuple[int, str, float]]:
        """now: the moments at the snapshot (lag_record.Moments). Every shift metric at
        the main lag; at each also-lag L, the shift averaged over units (lag_shift@lag<L>)."""
        later = self._later(ctx, lag, ctx.lag_moments)
        for k, name, before, after in _pairs(now, later):
            for metric, value in lag_shifts(before, after).items():
                yield k, f"{name}{metric}", value
        for other in self.settings.also_lags:
            later = self._later(ctx, other, ctx.also_lag_moments.get(other))
            for k, name, before, after in _pairs(now, later):
                yield k, f"{name}lag_shift@lag{other}", lag_shifts(before, after)["lag_shift"]

    def _later(self, ctx: SnapshotContext, lag: int, recorded: Moments | None) -> Moments:
        """The moments `lag` steps after the snapshot: training's record, else a replay."""
        if recorded is not None:
            return recorded
        with preserved_state(ctx.model):
            replay_sgd(ctx, lag)
            later = lag_moments(
                speed.copy_in(ctx.model, speed.FP64), ctx.probe_x, self.settings.coordinates
            )
        set_step(noise_layers(ctx.model), ctx.step)  # the snapshot's own noise again
        return later


def _pairs(now: Moments, later: Moments):
    """(layer, metric prefix, moments now, moments later) per lag site, layer and unit."""
    for prefix, site in LAG_SITES.items():
        for k in sorted(now[site]):
            for unit, infix in UNITS.items():
                yield k, f"{prefix}_{infix}", now[site][k][unit], later[site][k][unit]


def from_params(s: ProbeParams) -> ActivationProbe:
    """The registry's factory (bnpipe.probe_registry): a fresh probe from the `probe` section."""
    return ActivationProbe(s.activations)
