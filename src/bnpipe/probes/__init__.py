"""Probes: measurements taken on a run's snapshots, written as one tidy table per run.

A probe is a small object with a `name` and a `measure(ctx)` that yields
(layer, metric, value) triples for one snapshot; the runner adds run and step, giving
rows (run, step, layer, probe, metric, value). Layers are numbered from 1 as in the
paper (#1 = the first conv); layer 0 stands for the whole network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from bnpipe.params import Params, RunSpec

COLUMNS = ["run", "step", "layer", "probe", "metric", "value"]


@dataclass
class SnapshotContext:
    spec: RunSpec
    params: Params
    step: int
    model: nn.Module  # holds the snapshot's state, on the probe device, in train mode
    probe_x: torch.Tensor  # the run's fixed probe batch: (B, 3, 32, 32) normalized, or (N, 10)
    probe_y: torch.Tensor  # (B,) labels, or (N, 10) DLN targets


class Probe(Protocol):
    name: str

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]: ...


def default_probes(params: Params) -> list[Probe]:
    from bnpipe.probes.activations import ActivationProbe

    return [ActivationProbe(params.probe.activations)]
