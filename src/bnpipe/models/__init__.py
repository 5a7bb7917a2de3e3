"""Stage 2, models: the networks of the study (vgg, dln), their normalization layers
(norms), activation sites and coordinate samples (sites), and state helpers (state).
`build_model(spec, params)` is the one entry point. Imports: the ground floor, data.

Both networks expose `blocks`: blocks[k - 1] is the paper's layer k, with `layer` (its
conv or matrix) and `norm` (its normalization, nn.Identity for `standard`).
"""

from __future__ import annotations

from torch import nn

from bnpipe.models.dln import DLN
from bnpipe.models.norms import AlgorithmOneNoise
from bnpipe.models.vgg import VGG
from bnpipe.params import Params, RunSpec


def build_model(spec: RunSpec, params: Params) -> nn.Module:
    """The network of one run, initialized from the run's seed (Glorot, zero biases)."""
    kw = {"variant": spec.variant, "seed": spec.seed, "norm": params.norm, "noise": params.noise}
    if spec.model == "vgg":
        return VGG(params.vgg.stack, width=params.vgg.width, **kw)
    if spec.model == "dln":
        return DLN(params.dln.layers, params.dln.width, **kw)
    raise ValueError(f"unknown model {spec.model!r}")


def noise_layers(model: nn.Module) -> list[AlgorithmOneNoise]:
    """The model's noise layers (empty unless the variant is noisy); find them once."""
    return [m for m in model.modules() if isinstance(m, AlgorithmOneNoise)]


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The model's BatchNorm layers, in module order (empty without BN)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def set_step(layers: list[AlgorithmOneNoise], step: int) -> None:
    """Tell the noise layers which training step the next forward pass is."""
    for layer in layers:
        layer.step = step


__all__ = ["DLN", "VGG", "batchnorm_layers", "build_model", "noise_layers", "set_step"]
