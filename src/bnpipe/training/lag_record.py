"""The lag shift's later moments, recorded by training as it passes step t + lag.

Claims 2 and 3 compare every unit's moments on the fixed probe batch at a snapshot t
with those `probe.activations.lag` real SGD steps later (bnpipe.probes.activations).
Training runs those steps anyway, so at step t + lag, before that step's update, it
reads the probe batch's moments at the lag sites itself: one forward pass, no gradient,
batch statistics frozen, step t + lag's noise. The probe job would otherwise replay
lag - 1 training steps from every snapshot (9 of the BN VGG's 76 training steps of
probing per snapshot at lag 10, docs/probes.md "Cost"). It also makes the later state the one
training really reached, where a replay cannot match it bit for bit (a GPU's
nondeterministic kernels, bf16 training replayed in fp32).

Training reads them as the activation probe does (speed.FP64: NCHW, fp64), on a copy
of the model that takes training's state at t + lag: training itself may run in
channels_last and fp32, which are not exact enough for a difference of moments.

runs/<id>/lag_moments.pt:
  {"lag": L, "probe_batch": sha256 of the probe batch, "signature": the measurement form
   and the coordinate count, "moments": {t: {site: {k: {unit: (2, n)}}}},
   "also_lags": (L2, ...), "also": {L2: {t: ...}, ...}}
with an entry for every snapshot t training passed t + L of (the last snapshot's t + L
lies past the end of training; a diverged run stops early); `also` holds the same at
each of probe.activations.also_lags (the lag's robustness check). Units: "channel" (n = C) and
"coordinate" (n = K sampled coordinates (c, h, w), models.sites). The probe uses an entry
only when L, the probe batch and the signature are its own; otherwise (any of them
changed since training, the last snapshot) it replays the steps from the snapshot in
its own form, which follows training to round-off (tested).
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
from bnpipe.models.sites import capture, coordinate_moments, unit_moments
from bnpipe.models.state import frozen_stats
from bnpipe.params import Params, RunSpec
from bnpipe.training.speed import FP64

LAG_SITES = {"input": "block", "pre": "layer"}  # metric prefix -> site
# what a shift is averaged over -> its metrics' infix: input_lag_shift, input_coord_lag_shift
UNITS = {"channel": "", "coordinate": "coord_"}

# site -> layer k -> unit -> (2, n) fp64 mean and biased variance (n: C channels or K
# coordinates)
Moments = dict[str, dict[int, dict[str, torch.Tensor]]]


def site_moments(captured: dict[str, dict[int, torch.Tensor]], coordinates: int) -> Moments:
    """Per site and layer, the moments of every channel and of the sampled coordinates."""
    return {
        site: {
            k: {"channel": unit_moments(o), "coordinate": coordinate_moments(o, k, coordinates)}
            for k, o in out.items()
        }
        for site, out in captured.items()
    }


def lag_moments(model: nn.Module, x: torch.Tensor, coordinates: int) -> Moments:
    """The moments at the lag sites on `x`: training mode, batch statistics frozen (no
    running-average update), whatever noise step the model is set to."""
    with frozen_stats(model):
        captured = capture(model, x, tuple(LAG_SITES.values()))
    return site_moments(captured, coordinates)


def record_signature(coordinates: int) -> str:
    """How recorded moments were measured (speed.FP64): a record stands for a probe's
    own only if equal."""
    return f"{FP64.describe()}; {coordinates} coordinates per layer"


def batch_digest(x: torch.Tensor) -> str:
    """sha256 of a batch's fp32 values (C order): names the probe batch in the record."""
    return hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def shift_lag(params: Params, spec: RunSpec) -> int:
    """The lag of the activation probe's shift in `spec`'s group, 0 where nothing is
    recorded (Params.lag_record): the lag training records at and the probe looks its
    record up at."""
    return params.lag_record(spec).get("lag", 0)


def also_lags(params: Params, spec: RunSpec) -> tuple[int, ...]:
    """The other lags the shift is measured at (none without the main lag)."""
    return tuple(params.lag_record(spec).get("also_lags", ()))


class LagRecorder:
    """Training's side: at step t + L of every snapshot t, for L the lag and each of the
    also-lags, the probe batch's moments, read on `measured` (the model in speed.FP64's
    form) after copying training's state into it."""

    def __init__(
        self,
        model: nn.Module,
        measured: nn.Module,
        probe_x: torch.Tensor,
        lag: int,
        coordinates: int,
        signature: str,
        snapshots: Iterable[int],
        also: tuple[int, ...] = (),
    ):
        self.model, self.measured, self.probe_x, self.lag = model, measured, probe_x, lag
        self.also_lags = tuple(also) if lag > 0 else ()
        self.coordinates, self.signature = coordinates, signature
        self.noise = noise_layers(measured)
        self.wanted: dict[int, list[tuple[int, int]]] = {}  # step -> [(snapshot t, lag L)]
        for t in snapshots if lag > 0 else ():
            for L in (lag, *self.also_lags):
                self.wanted.setdefault(t + L, []).append((t, L))
        self.digest = batch_digest(probe_x)
        self.moments: dict[int, Moments] = {}  # snapshot step t -> its later moments
        self.also: dict[int, dict[int, Moments]] = {L: {} for L in self.also_lags}
        self.seconds = 0.0  # spent recording in this process

    def at(self, step: int) -> None:
        """Call at every step, before its update: records if some snapshot's t + L."""
        pairs = self.wanted.get(step)
        if not pairs:
            return
        start = time.perf_counter()
        self.measured.load_state_dict(self.model.state_dict())  # casts to its layout, dtype
        set_step(self.noise, step)
        moments = lag_moments(self.measured, self.probe_x, self.coordinates)
        for t, L in pairs:  # each pair its own copy: pickle stores a shared object once,
            # and a resumed run's entries are apart, so the file's bytes would differ
            (self.moments if self.lag == L else self.also[L])[t] = _copy(moments)
        self.seconds += time.perf_counter() - start

    @property
    def key(self) -> tuple:
        return self.lag, self.digest, self.signature, self.also_lags

    def state(self) -> dict:
        """What lag_moments.pt and the resume state hold."""
        return {
            "lag": self.lag,
            "probe_batch": self.digest,
            "signature": self.signature,
            "moments": self.moments,
            "also_lags": self.also_lags,
            "also": self.also,
        }

    def restore(self, state: dict | None, resumed_at: int) -> None:
        """Take back a resume state's entries recorded before step `resumed_at` (if its
        lags, probe batch and signature are this recorder's)."""
        if state and _key(state) == self.key:
            self.moments = _recorded_before(state["moments"], self.lag, resumed_at)
            self.also = {
                L: _recorded_before(state["also"][L], L, resumed_at) for L in self.also_lags
            }


def _copy(moments: Moments) -> Moments:
    return {
        site: {k: {unit: m.clone() for unit, m in units.items()} for k, units in by_k.items()}
        for site, by_k in moments.items()
    }


def _recorded_before(moments: dict[int, Moments], lag: int, resumed_at: int) -> dict:
    """The entries whose t + lag precedes `resumed_at`, keyed by this module's site and
    unit names, so that the file's bytes equal an uninterrupted run's (pickle shares
    equal strings); on the CPU, as recorded (a CUDA resume state maps them to the device)."""
    return {
        t: {
            site: {k: {unit: m[site][k][unit].cpu() for unit in UNITS} for k in m[site]}
            for site in LAG_SITES.values()
        }
        for t, m in moments.items()
        if t + lag < resumed_at
    }


def _key(state: dict) -> tuple:
    # no signature: before NCHW; no also_lags: before the lag's alternatives
    return state["lag"], state["probe_batch"], state.get("signature"), state.get("also_lags", ())


def load_lag_record(
    path: Path,
    expected_sha256: str | None,
    rebuild: str,
    lags: tuple[int, ...],
    probe_x: torch.Tensor,
    signature: str,
) -> dict[int, dict[int, Moments]]:
    """The recorded later moments, lag -> snapshot step -> Moments, for `lags` (the main
    lag, then the also-lags), if recorded at these lags on this probe batch with this
    `signature`; else {} (the probe replays), with a note on standard error. A file whose
    bytes differ from the sha256 training recorded is refused (files.load_torch)."""
    if expected_sha256 is None or not lags:  # trained before runs recorded it, or no lag
        return {}
    state = load_torch(path, expected_sha256, rebuild, weights_only=True, map_location="cpu")
    lag_was, digest_was, signature_was, also_was = _key(state)
    digest = batch_digest(probe_x)
    lag, also = lags[0], tuple(lags[1:])
    if (lag_was, digest_was, signature_was, tuple(also_was)) != (lag, digest, signature, also):
        print(
            f"{path}: recorded at lag {lag_was} (also {list(also_was)}) on probe batch "
            f"{digest_was[:12]} as {signature_was or 'training computed (an older record)'}; "
            f"this probe is at lag {lag} (also {list(also)}) on {digest[:12]} as {signature}: "
            "replaying the lag steps from each snapshot",
            file=sys.stderr,
        )
        return {}
    return {lag: state["moments"], **{L: state["also"][L] for L in also}}
