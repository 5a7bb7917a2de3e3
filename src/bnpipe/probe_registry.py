"""The probes a scale may run: one registry, one entry per probe, in the style of
bnpipe.variants.

A probe kind is everything the pipeline needs to know about a probe before it runs:
  name    its value in `probe.run` and its `probe` column in the probe tables
  build   (the `probe` params section) -> a fresh probe (bnpipe.probes.context.Probe),
          a callable or "module:function", imported only when probes are made (this
          module imports no stage, so params can check `probe.run` against it)
  curves  the metrics analyze averages into curves per layer and snapshot
          (probe_curves.csv, the figures); () for a probe read only as a per-run number

The built-ins are BUILTIN below. An extension registers its own from a module named in
params `extensions` (README "Extending bnpipe").
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from bnpipe import variants


@dataclasses.dataclass(frozen=True)
class ProbeKind:
    name: str
    build: Callable | str
    curves: tuple[str, ...] = ()


_REGISTRY: dict[str, ProbeKind] = {}


def register(kind: ProbeKind) -> ProbeKind:
    """Add a probe kind; a bad or taken name is refused."""
    rule = "start with a lowercase letter; then lowercase letters, digits and _"
    variants.check_new_entry(_REGISTRY, kind, "probe", rule)
    _REGISTRY[kind.name] = kind
    return kind


def probe_names() -> tuple[str, ...]:
    """Every registered probe, the built-ins first."""
    return tuple(_REGISTRY)


def probe_curves() -> dict[str, tuple[str, ...]]:
    """probe -> the metrics analyze draws as curves, for every probe that has some."""
    return {name: kind.curves for name, kind in _REGISTRY.items() if kind.curves}


def make_probes(params: Any, names: tuple[str, ...] | None = None) -> list[Any]:
    """Fresh probe objects for `names` (default: probe.run; a group's own:
    ProbeParams.probes_of), in that order (`params`: bnpipe.params.Params; not imported,
    since params imports this module to check `probe.run`)."""
    return [_builder(name)(params.probe) for name in (params.probe.run if names is None else names)]


def _builder(name: str) -> Callable:
    if name not in _REGISTRY:
        raise ValueError(f"unknown probe {name!r} (registered: {list(_REGISTRY)})")
    build = _REGISTRY[name].build
    if isinstance(build, str):
        module, _, function = build.partition(":")
        build = getattr(importlib.import_module(module), function)
    return build


P = "bnpipe.probes"
LINE = ("loss_min", "loss_max", "loss_range", "gpred_min", "gpred_max", "beta")
ACTIVATION_CURVES = (
    "mean",
    "var",
    "shift_mean",
    "shift_var",
    "input_lag_shift",
    "pre_lag_shift",
    "input_coord_lag_shift",
    "input_coord_lag_shift_median",
    "pre_coord_lag_shift",
)
BUILTIN = (  # docs/probes.md has what each measures
    ProbeKind("activations", f"{P}.activations:from_params", ACTIVATION_CURVES),
    ProbeKind("ics", f"{P}.ics:from_params", ("l2", "cos", "rel_l2", "affine_rel_l2")),
    ProbeKind("landscape", f"{P}.landscape:from_params", LINE),
    ProbeKind("landscape_random", f"{P}.landscape:random_from_params", LINE),
    ProbeKind(
        "sharpness",
        f"{P}.curvature:from_params",
        ("top_eig", "two_over_lr", "rel_residual", "converged"),
    ),
    ProbeKind(
        "theorem41",
        f"{P}.theory:from_params",
        ("rel_diff", "rel_diff_eps_free", "rel_diff_printed", "reduction_median"),
    ),
    ProbeKind("clean_stats", f"{P}.clean_stats:from_params"),
)
for _kind in BUILTIN:
    register(_kind)
