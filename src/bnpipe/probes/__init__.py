"""Probes: measurements taken on a run's snapshots, written as one tidy table per run.

A probe is a small object with a `name` and a `measure(ctx)` that yields
(layer, metric, value) triples for one snapshot; the runner adds run and step, giving
rows (run, step, layer, probe, metric, value). Layers are numbered from 1 as in the
paper (#1 = the first conv); layer 0 stands for the whole network. Probes are called on
the snapshots in step order and may carry state from one to the next (moment shifts,
the sharpness probe's warm start).

  activations       activations.py  distributions of one unit, moment shifts (Figs. 1-2, 8)
  ics               ics.py          internal covariate shift, Definition 2.1
  landscape(_random) landscape.py   loss and gradient along the update (Sec. 3.1)
  sharpness         curvature.py    top Hessian eigenvalue vs 2 / lr
  theorem41         theory.py       both sides of Theorem 4.1 per BN layer, reduction factor
  clean_stats       clean_stats.py  test accuracy with BN statistics re-estimated, noise off
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

from bnpipe.params import Params, RunSpec

if TYPE_CHECKING:
    from bnpipe.probes.replay import StepReplay
    from bnpipe.tasks import CifarTask, DLNTask

COLUMNS = ["run", "step", "layer", "probe", "metric", "value"]


@dataclass
class SnapshotContext:
    spec: RunSpec
    params: Params
    step: int
    model: nn.Module  # holds the snapshot's state, on the probe device, in train mode
    probe_x: torch.Tensor  # the run's fixed probe batch: (B, 3, 32, 32) normalized, or (N, 10)
    probe_y: torch.Tensor  # (B,) labels, or (N, 10) DLN targets
    task: CifarTask | DLNTask | None = None  # step t's batch and the loss (replay probes)

    @functools.cached_property
    def replay(self) -> StepReplay:
        """Step t replayed (its batch, loss and gradient), built once per snapshot."""
        from bnpipe.probes.replay import StepReplay

        x, y = self.task.batch(self.step)
        return StepReplay(
            self.model, x, y, self.task.loss, self.spec.lr, self.params.probe.chunk_size
        )


class Probe(Protocol):
    name: str

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]: ...


def make_probes(params: Params) -> list[Probe]:
    """Fresh probe objects (their per-run state empty), in the order of probe.run."""
    from bnpipe.probes.activations import ActivationProbe
    from bnpipe.probes.clean_stats import CleanStatsProbe
    from bnpipe.probes.curvature import SharpnessProbe
    from bnpipe.probes.ics import ICSProbe
    from bnpipe.probes.landscape import LandscapeProbe
    from bnpipe.probes.theory import Theorem41Probe

    settings = params.probe
    factories = {
        "activations": lambda: ActivationProbe(settings.activations),
        "ics": ICSProbe,
        "landscape": lambda: LandscapeProbe(settings.landscape),
        "landscape_random": lambda: LandscapeProbe(settings.landscape, random=True),
        "sharpness": lambda: SharpnessProbe(settings.sharpness),
        "theorem41": Theorem41Probe,
        "clean_stats": lambda: CleanStatsProbe(settings.clean_stats_batches),
    }
    return [factories[name]() for name in settings.run]
