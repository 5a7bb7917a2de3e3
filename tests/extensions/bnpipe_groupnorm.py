"""A normalization variant and a probe registered from outside bnpipe: the worked example
of README "Extending bnpipe", run through the whole DAG by test_integration.py."""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn

from bnpipe import probe_registry
from bnpipe.variants import Variant, register

GROUPS = 2


def groupnorm(channels, spatial, layer, seed, norm, noise) -> nn.Module:
    """GroupNorm after layer `layer`: statistics per sample over groups of channels (and
    positions), so, unlike BN, no batch statistics and no running averages."""
    return nn.GroupNorm(min(GROUPS, channels), channels, eps=norm.eps)


register(Variant("groupnorm", ("vgg", "dln"), groupnorm, "#17becf", ("norm",)))


class WeightNormProbe:
    """Each layer's weight norm ||W_k||_F at the snapshot."""

    name = "weight_norm"

    def measure(self, ctx) -> Iterator[tuple[int, str, float]]:
        for k, block in enumerate(ctx.model.blocks, start=1):
            yield k, "frobenius", block.layer.weight.norm().item()


probe_registry.register(
    probe_registry.ProbeKind("weight_norm", lambda settings: WeightNormProbe(), ("frobenius",))
)
