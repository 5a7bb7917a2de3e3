"""Test accuracy with running statistics re-estimated on clean training batches.

Evaluation mode uses the running averages that training gathered. For noisy BatchNorm
those were gathered on activations with Algorithm 1's noise, which evaluation then turns
off, so its eval-mode accuracy mixes two networks (claim 3). At the last snapshot (the
final state), this probe switches the noise off, recomputes every normalization layer's
running mean and variance as the plain average over `batches` training batches (the
batches of steps T .. T + batches - 1, from the counters; training mode, no update), and
evaluates in eval mode. Run for every BatchNorm variant (batchnorm, noisy_batchnorm)
alike, so their comparison is fair.

Rows (layer 0): test_acc_clean_stats, test_loss_clean_stats, train_acc_clean_stats.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from bnpipe.models import batchnorm_layers, noise_layers
from bnpipe.models.state import preserved_state
from bnpipe.params import ProbeParams
from bnpipe.probes.context import SnapshotContext


class CleanStatsProbe:
    name = "clean_stats"

    def __init__(self, batches: int):
        self.batches = batches

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        last = ctx.params.training(ctx.spec.model).steps
        layers = batchnorm_layers(ctx.model)
        if ctx.step != last or not layers or ctx.spec.model != "vgg":
            return
        noise = noise_layers(ctx.model)
        saved = [(m.momentum, m.track_running_stats) for m in layers]
        with preserved_state(ctx.model), torch.no_grad():
            for m in noise:
                m.active = False
            for m in layers:
                # tracking first: reset_running_stats does nothing while it is off, and the
                # probe runner turns it off (frozen_stats)
                m.momentum, m.track_running_stats = None, True  # None: cumulative average
                m.reset_running_stats()
            try:
                ctx.model.train()
                for s in range(last, last + self.batches):
                    ctx.model(ctx.task.batch(s)[0])
                ctx.model.eval()
                result = ctx.task.evaluate(ctx.model)
            finally:
                for m in noise:
                    m.active = True
                for m, (momentum, track) in zip(layers, saved, strict=True):
                    m.momentum, m.track_running_stats = momentum, track
        yield 0, "test_acc_clean_stats", result["test_acc"]
        yield 0, "test_loss_clean_stats", result["test_loss"]
        yield 0, "train_acc_clean_stats", result["eval_train_acc"]


def from_params(s: ProbeParams) -> CleanStatsProbe:
    """The registry's factory (bnpipe.probe_registry): a fresh probe from the `probe` section."""
    return CleanStatsProbe(s.clean_stats_batches)
