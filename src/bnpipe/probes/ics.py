"""Internal covariate shift, paper Definition 2.1.

At step t, for layer i:
  G_i  = dL/dW_i at (W_1^t, ..., W_k^t)
  G'_i = dL/dW_i at (W_1^{t+1}, ..., W_{i-1}^{t+1}, W_i^t, ..., W_k^t)
with W^{t+1} the real SGD update of step t (same batch, same noise, same lr). Metrics per
layer: l2 = ||G - G'||, cos = cos(G, G'), rel_l2 = ||G - G'|| / ||G||.

Layers are the model's `stages()`: VGG's 13 conv blocks (conv, normalization parameters)
and the classifier; the DLN's 25 blocks. W_i is the layer's weight (the conv kernel, the
DLN's matrix, the classifier's matrix) in every variant, so BN and standard are compared
on the same parameter set: gamma and beta exist only with a normalization and their
gradients could only add to its ||G - G'||. They are reported apart, as affine_l2,
affine_cos and affine_rel_l2. "Update" moves every parameter of stages < i.

Cost. The definition asks for one forward-backward per layer (`ics_reference`). Here the
work is shared: one forward pass with the updated parameters gives every stage's input
h'_i = stage_{i-1}'(...stage_1'(x)); then G'_i needs only stages i..k, forward from h'_i
and backward down to stage i. The early VGG stages, which run at 32x32 and cost most, are
evaluated once instead of k times.

Precision. G and G' agree to 1e-1 or better on a network that is learning slowly, and
fp32 NCHW gradients left ||G - G'|| 0.7-2.6% off fp64 mid-training (tests/test_exactness);
so the probe runs on the snapshot's fp64 replay (SnapshotContext.replay_fp64).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from bnpipe.params import ProbeParams
from bnpipe.probes.context import SnapshotContext
from bnpipe.probes.replay import StepReplay, Tensors, flat, parameters_at


def stage_parameters(model: nn.Module) -> list[list[str]]:
    """Per layer (index i - 1), the names of every parameter of its stage: what 'the
    update' of layer i moves."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [[names[id(p)] for p in stage.parameters()] for stage in model.stages()]


def measured_parameters(model: nn.Module) -> list[list[str]]:
    """Per layer, the name of W_i, the weight whose gradient is compared (same in every
    variant): the stage's weight that is not a normalization parameter."""
    return [
        [n for n in names if n.endswith("weight") and not _is_affine(n)]
        for names in stage_parameters(model)
    ]


def affine_parameters(model: nn.Module) -> list[list[str]]:
    """Per layer, the normalization's gamma and beta (empty for `standard`)."""
    return [[n for n in names if _is_affine(n)] for names in stage_parameters(model)]


def _is_affine(name: str) -> bool:
    return ".norm." in name


def ics_metrics(g: torch.Tensor, g_prime: torch.Tensor) -> dict[str, float]:
    """l2, cos and rel_l2 of two flat gradients (fp64)."""
    diff = (g - g_prime).norm().item()
    norm_g, norm_gp = g.norm().item(), g_prime.norm().item()
    cos = (g @ g_prime).item() / (norm_g * norm_gp) if norm_g * norm_gp > 0 else math.nan
    return {"l2": diff, "cos": cos, "rel_l2": diff / norm_g if norm_g > 0 else math.nan}


Pairs = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: (G_i, G'_i), flat fp64


def ics_gradients(replay: StepReplay) -> Pairs:
    """Per layer, (G_i, G'_i) of the weight W_i, by the shared-prefix method above."""
    return ics_gradient_sets(replay, [measured_parameters(replay.model)])[0]


def ics_gradient_sets(replay: StepReplay, sets: list[list[list[str]]]) -> list[Pairs]:
    """ics_gradients for several parameter sets (each: per layer, parameter names) from
    the same passes, e.g. the weights and the normalization's gamma and beta; a layer
    without parameters in a set gets empty vectors."""
    model = replay.model
    stages = model.stages()
    named = dict(model.named_parameters())
    # Every stage's input under the updated earlier stages: the model's own parameters
    # take the new values for this one pass.
    inputs = [replay.x]
    with parameters_at(model, replay.updated()), torch.no_grad():
        for stage in stages[:-1]:
            inputs.append(stage(inputs[-1]))
    pairs: list[Pairs] = [[] for _ in sets]
    for i, h in enumerate(inputs):
        out = h
        for stage in stages[i:]:  # old parameters from stage i on
            out = stage(out)
        names = [n for layers in sets for n in layers[i]]
        g_prime = dict(
            zip(
                names,
                torch.autograd.grad(replay.loss_fn(out, replay.y), [named[n] for n in names]),
                strict=True,
            )
        )
        for found, layers in zip(pairs, sets, strict=True):
            found.append(
                (flat([replay.grad0[n] for n in layers[i]]), flat([g_prime[n] for n in layers[i]]))
            )
    return pairs


def ics_reference(replay: StepReplay) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The definition, literally: a full forward-backward per layer. Slow; for tests and
    for measuring what the shared-prefix method saves."""
    measured, owned = measured_parameters(replay.model), stage_parameters(replay.model)
    new = replay.updated()
    pairs = []
    for i, names in enumerate(measured):
        earlier = {n for stage in owned[:i] for n in stage}
        point = {k: new[k] if k in earlier else v for k, v in replay.params.items()}

        def loss_of(sub: Tensors, point=point) -> torch.Tensor:
            return replay.loss({**point, **sub})

        g_prime = torch.func.grad(loss_of)({n: point[n] for n in names})
        pairs.append((flat([replay.grad0[n] for n in names]), flat(g_prime)))
    return pairs


class ICSProbe:
    name = "ics"

    def __init__(self, reference: bool = False):
        self.reference = reference

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        replay = ctx.replay_fp64  # G - G' is a small difference: fp64 (speed.FP64)
        if self.reference:
            weights, affine = ics_reference(replay), []
        else:
            model = replay.model
            sets = [measured_parameters(model), affine_parameters(model)]
            weights, affine = ics_gradient_sets(replay, sets)
        for layer, (g, g_prime) in enumerate(weights, start=1):
            for metric, value in ics_metrics(g, g_prime).items():
                yield layer, metric, value
        for layer, (g, g_prime) in enumerate(affine, start=1):
            if g.numel():  # gamma and beta, apart from W_i
                for metric, value in ics_metrics(g, g_prime).items():
                    yield layer, f"affine_{metric}", value


def from_params(s: ProbeParams) -> ICSProbe:
    """The registry's factory (bnpipe.probe_registry): a fresh probe from the `probe` section."""
    return ICSProbe()
