"""Networks of the study. `build_model(spec, params)` is the one entry point."""

from __future__ import annotations

from torch import nn

from bnpipe.models.vgg import VGG
from bnpipe.params import Params, RunSpec


def build_model(spec: RunSpec, params: Params) -> nn.Module:
    """The network of one run, initialized from the run's seed (Glorot, zero biases)."""
    if spec.model == "vgg":
        return VGG(params.vgg.stack, width=params.vgg.width, variant=spec.variant, seed=spec.seed)
    raise ValueError(f"unknown model {spec.model!r}")


__all__ = ["VGG", "build_model"]
