"""Probe names -> factories: the one list of probes `probe.run` may name.

A factory takes the `probe` params section and returns a fresh probe (its per-run state
empty). The built-ins import their module only when made, so this module imports no
torch and params can check `probe.run` against it. An extension registers its own from
a module named in params `extensions` (README "Extending bnpipe").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bnpipe.params import Params, ProbeParams
    from bnpipe.probes.context import Probe

Factory = Callable[["ProbeParams"], "Probe"]
_REGISTRY: dict[str, Factory] = {}


def register_probe(name: str, factory: Factory) -> None:
    if name in _REGISTRY and _REGISTRY[name] is not factory:
        raise ValueError(f"probe {name!r} is registered already")
    _REGISTRY[name] = factory


def probe_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def make_probes(params: Params) -> list[Probe]:
    """Fresh probe objects, in the order of probe.run."""
    return [_REGISTRY[name](params.probe) for name in params.probe.run]


def _activations(s: ProbeParams) -> Probe:
    from bnpipe.probes.activations import ActivationProbe

    return ActivationProbe(s.activations)


def _ics(s: ProbeParams) -> Probe:
    from bnpipe.probes.ics import ICSProbe

    return ICSProbe()


def _landscape(s: ProbeParams) -> Probe:
    from bnpipe.probes.landscape import LandscapeProbe

    return LandscapeProbe(s.landscape)


def _landscape_random(s: ProbeParams) -> Probe:
    from bnpipe.probes.landscape import LandscapeProbe

    return LandscapeProbe(s.landscape, random=True)


def _sharpness(s: ProbeParams) -> Probe:
    from bnpipe.probes.curvature import SharpnessProbe

    return SharpnessProbe(s.sharpness)


def _theorem41(s: ProbeParams) -> Probe:
    from bnpipe.probes.theory import Theorem41Probe

    return Theorem41Probe()


def _clean_stats(s: ProbeParams) -> Probe:
    from bnpipe.probes.clean_stats import CleanStatsProbe

    return CleanStatsProbe(s.clean_stats_batches)


for _name, _factory in (
    ("activations", _activations),
    ("ics", _ics),
    ("landscape", _landscape),
    ("landscape_random", _landscape_random),
    ("sharpness", _sharpness),
    ("theorem41", _theorem41),
    ("clean_stats", _clean_stats),
):
    register_probe(_name, _factory)
