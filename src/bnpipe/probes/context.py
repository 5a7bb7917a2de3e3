"""What a probe sees of one snapshot (SnapshotContext), what a probe is (Probe), and the
probe table's columns."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

from bnpipe.params import Params, RunSpec

if TYPE_CHECKING:
    from bnpipe.data.tasks import CifarTask, DLNTask
    from bnpipe.probes.replay import StepReplay

COLUMNS = ["run", "step", "layer", "probe", "metric", "value"]


@dataclass
class SnapshotContext:
    """One snapshot's view, made anew for every snapshot (its replays and fp64 model are
    cached for that snapshot's probes)."""

    spec: RunSpec
    params: Params
    step: int
    model: nn.Module  # holds the snapshot's state, on the probe device, in train mode
    probe_x: torch.Tensor  # the run's fixed probe batch: (B, 3, 32, 32) normalized, or (N, 10)
    probe_y: torch.Tensor  # (B,) labels, or (N, 10) DLN targets
    task: CifarTask | DLNTask | None = None  # step t's batch and the loss (replay probes)
    # the probe batch's moments at t + lag as training recorded them (bnpipe.training.lag_record):
    # site -> layer k -> (2, C); None: the activation probe replays the lag steps
    lag_moments: dict[str, dict[int, torch.Tensor]] | None = None
    # the same at each of probe.activations.also_lags (lag -> moments; a lag missing: replay)
    also_lag_moments: dict[int, dict] = field(default_factory=dict)

    @functools.cached_property
    def replay(self) -> StepReplay:
        """Step t replayed (its batch, loss and gradient), built once per snapshot."""
        return self._replay_on(self.model)

    @functools.cached_property
    def model_fp64(self) -> nn.Module:
        """The snapshot's model in fp64 (speed.FP64), made once per snapshot and shared by
        the probes that need it: the model itself where it already is fp64, else a copy
        (the same state and noise step). Probes leave it as they found it."""
        from bnpipe.training import speed

        return speed.copy_in(self.model, speed.FP64)

    @functools.cached_property
    def replay_fp64(self) -> StepReplay:
        """Step t replayed in fp64, for probes that take a difference of near-equal
        gradients (ICS, Theorem 4.1's terms): `replay` itself where the model already is
        fp64, else on `model_fp64`."""
        model = self.model_fp64
        return self.replay if model is self.model else self._replay_on(model)

    def _replay_on(self, model: nn.Module) -> StepReplay:
        from bnpipe.probes.replay import StepReplay

        x, y = self.task.batch(self.step)
        return StepReplay(model, x, y, self.task.loss, self.spec.lr, self.params.probe.chunk_size)


class Probe(Protocol):
    name: str

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]: ...
