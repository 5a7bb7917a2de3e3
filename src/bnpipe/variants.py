"""The normalization variants of the grid: one registry, one entry per variant.

A variant is everything the pipeline needs to know about a normalization:
  name      its grid value and part of run ids (vgg-<name>-lr0.1-s0): lowercase letters,
            digits and _, never '-'
  models    the networks it applies to ("vgg": after each conv, over (N, H, W) per
            channel; "dln": after each matrix but the last, over N per unit)
  build     (channels, spatial, layer, seed, norm, noise) -> the nn.Module placed after
            layer `layer` (1-based); `spatial` is True after a conv. A callable, or
            "module:function", imported only when a model is built (this module
            imports no torch, so params can check names against it)
  color     its colour in every figure
  sections  the params sections its layers read besides the model's ("norm", "noise"):
            a run's outputs depend on them, so they enter its digest

The built-in variants are BUILTIN below, their layers in bnpipe.models.norms. An
extension registers from its own module, named in params `extensions` (README
"Extending bnpipe"); load_params imports those modules before it checks the grid.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Iterable

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MODELS = ("vgg", "dln")
# model -> its chance accuracy: VGG classifies ten classes; the DLN is a regression (None)
CHANCE_ACCURACY: dict[str, float | None] = {"vgg": 0.1, "dln": None}


def is_classifier(model: str) -> bool:
    """Whether a model has accuracies and a chance level to leave (VGG), or is a
    regression judged by its loss alone (the DLN)."""
    return CHANCE_ACCURACY[model] is not None


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    models: tuple[str, ...]
    build: Callable | str
    color: str
    sections: tuple[str, ...] = ()


_REGISTRY: dict[str, Variant] = {}


def register(variant: Variant) -> Variant:
    """Add a variant; a bad or taken name, or an unknown model, is refused."""
    check_new_entry(
        _REGISTRY,
        variant,
        "variant",
        "use lowercase letters, digits and _ (run ids are split on '-')",
    )
    unknown = [m for m in variant.models if m not in MODELS]
    if unknown or not variant.models:
        raise ValueError(f"variant {variant.name!r}: models {unknown or 'empty'} (known: {MODELS})")
    unknown_sections = [s for s in variant.sections if s not in ("norm", "noise")]
    if unknown_sections:
        raise ValueError(f"variant {variant.name!r}: sections {unknown_sections} (norm, noise)")
    _REGISTRY[variant.name] = variant
    return variant


def check_new_entry(registry: dict, entry, what: str, rule: str) -> None:
    """The naming and uniqueness rule of both registries (variants, probe kinds): `entry`
    (anything with a `name`) may join `registry` unless its name breaks NAME (`rule` says
    how to mend it) or another entry holds it already; the same entry again is fine."""
    if not NAME.match(entry.name):
        raise ValueError(f"{what} name {entry.name!r}: {rule}")
    taken = registry.get(entry.name)
    if taken is not None and taken != entry:
        raise ValueError(f"{what} {entry.name!r} is registered already")


def registry() -> dict[str, Variant]:
    """Every registered variant, the built-ins first."""
    return dict(_REGISTRY)


def get(name: str) -> Variant:
    known = registry()
    if name not in known:
        raise ValueError(f"unknown variant {name!r} (registered: {sorted(known)})")
    return known[name]


def for_model(model: str) -> tuple[str, ...]:
    """The variants that apply to `model`, in registration order."""
    return tuple(name for name, v in registry().items() if model in v.models)


def builder(name: str) -> Callable:
    """The variant's layer builder, its module imported if it was given by name."""
    build = get(name).build
    if isinstance(build, str):
        module, _, function = build.partition(":")
        build = getattr(importlib.import_module(module), function)
    return build


def load_extensions(modules: Iterable[str]) -> None:
    """Import each module: importing it registers its variants (and probes)."""
    for module in modules:
        importlib.import_module(module)


NORMS = "bnpipe.models.norms"
BOTH = ("vgg", "dln")
BUILTIN = (  # docs/protocol.md, "Normalization variants"
    Variant("standard", BOTH, f"{NORMS}:identity", "#1f77b4"),
    Variant("batchnorm", BOTH, f"{NORMS}:batchnorm", "#d62728", ("norm",)),
    Variant("noisy_batchnorm", ("vgg",), f"{NORMS}:noisy_batchnorm", "#ff7f0e", ("norm", "noise")),
    Variant("l1", BOTH, f"{NORMS}:l1", "#2ca02c", ("norm",)),
    Variant("l2", BOTH, f"{NORMS}:l2", "#9467bd", ("norm",)),
    Variant("linf", BOTH, f"{NORMS}:linf", "#8c564b", ("norm",)),
    Variant("noisy_standard", ("vgg",), f"{NORMS}:noise_alone", "#7f7f7f", ("noise",)),
)
for _variant in BUILTIN:
    register(_variant)
