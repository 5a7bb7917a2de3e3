"""The lag shift's later moments, recorded by training as it passes step t + lag.

Claims 2 and 3 compare every unit's moments on the fixed probe batch at a snapshot t
with those `probe.activations.lag` real SGD steps later (bnpipe.probes.activations).
Training runs those steps anyway, so at step t + lag, before that step's update, it
reads the probe batch's moments at the lag sites itself: one forward pass, no gradient,
batch statistics frozen, step t + lag's noise. The probe job would otherwise replay
lag - 1 training steps from every snapshot (9 of the BN VGG's 76 training steps of
probing per snapshot at lag 10, README "Cost"). It also makes the later state the one
training really reached, where a replay cannot match it bit for bit (a GPU's
nondeterministic kernels, bf16 training replayed in fp32).

runs/<id>/lag_moments.pt:
  {"lag": L, "probe_batch": sha256 of the probe batch, "moments": {t: {site: {k: (2, C)}}}}
with an entry for every snapshot t training passed t + L of (the last snapshot's t + L
lies past the end of training; a diverged run stops early). The probe uses an entry only
when L and the probe batch are its own; otherwise (the lag or the probe batch changed
since training, the last snapshot) it replays the steps from the snapshot, which on a
CPU gives the same bits (tested).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from bnpipe.files import load_torch
from bnpipe.models import noise_layers, set_step
from bnpipe.models.sites import capture, unit_moments
from bnpipe.models.state import frozen_stats
from bnpipe.params import Params

LAG_SITES = {"input": "block", "pre": "layer"}  # metric prefix -> site

Moments = dict[str, dict[int, torch.Tensor]]  # site -> layer k -> (2, C) fp64 mean, var


def lag_moments(model: nn.Module, x: torch.Tensor) -> Moments:
    """Every unit's moments at the lag sites on `x`: training mode, batch statistics
    frozen (no running-average update), whatever noise step the model is set to."""
    with frozen_stats(model):
        captured = capture(model, x, tuple(LAG_SITES.values()))
    return {site: {k: unit_moments(o) for k, o in out.items()} for site, out in captured.items()}


def batch_digest(x: torch.Tensor) -> str:
    """sha256 of a batch's fp32 values (C order): names the probe batch in the record."""
    return hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def shift_lag(params: Params) -> int:
    """The lag of the activation probe's shift, 0 when that probe does not run: the lag
    training records at and the probe looks its record up at."""
    return params.probe.activations.lag if "activations" in params.probe.run else 0


class LagRecorder:
    """Training's side: at step t + lag of every snapshot t, the probe batch's moments."""

    def __init__(self, model: nn.Module, probe_x: torch.Tensor, lag: int, snapshots: Iterable[int]):
        self.model, self.probe_x, self.lag = model, probe_x, lag
        self.noise = noise_layers(model)
        self.snapshot_at = {t + lag: t for t in snapshots} if lag > 0 else {}
        self.digest = batch_digest(probe_x)
        self.moments: dict[int, Moments] = {}  # snapshot step t -> its later moments
        self.seconds = 0.0  # spent recording in this process

    def at(self, step: int) -> None:
        """Call at every step, before its update: records if some snapshot's t + lag."""
        t = self.snapshot_at.get(step)
        if t is None:
            return
        start = time.perf_counter()
        set_step(self.noise, step)
        self.moments[t] = lag_moments(self.model, self.probe_x)
        self.seconds += time.perf_counter() - start

    def state(self) -> dict:
        """What lag_moments.pt and the resume state hold."""
        return {"lag": self.lag, "probe_batch": self.digest, "moments": self.moments}

    def restore(self, state: dict | None, resumed_at: int) -> None:
        """Take back a resume state's entries recorded before step `resumed_at` (if its
        lag and probe batch are this recorder's)."""
        if state and (state["lag"], state["probe_batch"]) == (self.lag, self.digest):
            self.moments = {  # keyed by this module's site names, so that the file's
                # bytes equal an uninterrupted run's (pickle shares equal string objects)
                t: {site: m[site] for site in LAG_SITES.values()}
                for t, m in state["moments"].items()
                if t + self.lag < resumed_at
            }


def load_lag_record(
    path: Path, expected_sha256: str | None, rebuild: str, lag: int, probe_x: torch.Tensor
) -> dict[int, Moments]:
    """The recorded later moments per snapshot step, if recorded at this `lag` on this
    probe batch; else {} (the probe replays), with a note on standard error. A file
    whose bytes differ from the sha256 training recorded is refused (files.load_torch)."""
    if expected_sha256 is None or lag <= 0:  # trained before runs recorded it, or no lag
        return {}
    state = load_torch(path, expected_sha256, rebuild, weights_only=True)
    digest = batch_digest(probe_x)
    if (state["lag"], state["probe_batch"]) != (lag, digest):
        print(
            f"{path}: recorded at lag {state['lag']} on probe batch {state['probe_batch'][:12]}, "
            f"this probe is at lag {lag} on {digest[:12]}: replaying the lag steps from each "
            "snapshot",
            file=sys.stderr,
        )
        return {}
    return state["moments"]
