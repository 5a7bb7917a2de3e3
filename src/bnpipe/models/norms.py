"""Normalization layers, one per `variant` of the grid.

Every layer normalizes per unit: over (N, H, W) for a conv's (N, C, H, W) output, over N
for a linear layer's (N, C). Variants (docs/protocol.md):
  standard         nothing
  batchnorm        BatchNorm (biased batch variance in training, running stats in eval)
  noisy_batchnorm  BatchNorm, then Algorithm 1's noise (after the affine transform)
  l1, l2, linf     mean shift, then divide by the unit's average l_p magnitude taken
                   before the shift; gamma, beta, running averages for evaluation
  noisy_standard   Algorithm 1's noise alone (the paper's control, Sec. 2.1)
Each is an entry of bnpipe.variants.BUILTIN, built by the function of its name below.
"""

from __future__ import annotations

import torch
from torch import nn

from bnpipe import variants
from bnpipe.data.batches import derive_seed
from bnpipe.params import NoiseParams, NormParams

DEFAULT_NORM = NormParams(eps=1e-5, momentum=0.1)


def make_norm(
    variant: str,
    channels: int,
    spatial: bool,
    layer: int,
    seed: int,
    norm: NormParams | None = None,
    noise: NoiseParams | None = None,
) -> nn.Module:
    """The layer after a conv (spatial=True) or linear layer; `layer` (1-based) and the
    run's `seed` name the noise stream of noisy variants. Variants: bnpipe.variants."""
    build = variants.builder(variant)
    return build(channels, spatial, layer, seed, norm or DEFAULT_NORM, noise)


def _need(noise: NoiseParams | None, variant: str) -> NoiseParams:
    if noise is None:
        raise ValueError(f"variant {variant!r} needs noise parameters")
    return noise


def _batchnorm(channels: int, spatial: bool, norm: NormParams) -> nn.Module:
    bn_class = nn.BatchNorm2d if spatial else nn.BatchNorm1d
    return bn_class(channels, eps=norm.eps, momentum=norm.momentum)


def unit_view(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(C,) -> (1, C, 1, 1) or (1, C), to broadcast against x."""
    return v.view(1, -1, *([1] * (x.dim() - 2)))


def unit_dims(x: torch.Tensor) -> list[int]:
    """Every dim of x but the unit's (channel's): what per-unit statistics reduce over."""
    return [0, *range(2, x.dim())]


def unit_mean(x: torch.Tensor) -> torch.Tensor:
    """(C,): each unit's mean over batch (and h, w), as the sum over n values divided by
    n: the same bits as `x.mean`, forward and backward. The difference is the backward's
    layout: `mean`'s writes its (N, C, H, W) gradient in NCHW, which a channels_last
    network then mixes with its own tensors at several times the cost of a one-layout
    operation; a sum's gradient stays an expanded (C,) view. The l_p VGGs' training
    step (width 0.125, batch 128, 1 thread): l1 and l2 1.19x faster this way (55-59 ms
    -> 47-49), l-infinity 1.10x (69-71 -> 63-65; its max has no mean)."""
    return x.sum(unit_dims(x)) / (x.numel() // x.shape[1])


class LpNorm(nn.Module):
    """y = gamma * (x - mean) / (scale + eps) + beta, per unit, where scale is mean(|x|)
    (l1), sqrt(mean(x^2)) (l2) or max(|x|) (linf) of the unit's un-shifted values."""

    KINDS = ("l1", "l2", "linf")

    def __init__(self, channels: int, kind: str, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"unknown l_p kind {kind!r}")
        self.kind, self.eps, self.momentum = kind, eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))  # gamma
        self.bias = nn.Parameter(torch.zeros(channels))  # beta
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_scale", torch.ones(channels))
        self.track_running_stats = True  # as BatchNorm's flag: False = batch stats, no update

    def batch_scale(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "l1":
            return unit_mean(x.abs())
        if self.kind == "l2":
            return unit_mean(x.pow(2)).sqrt()
        return x.abs().amax(unit_dims(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not self.track_running_stats:
            mean, scale = unit_mean(x), self.batch_scale(x)
            if self.training and self.track_running_stats:
                with torch.no_grad():  # one fused update of both running averages
                    stats = [self.running_mean, self.running_scale]
                    torch._foreach_lerp_(stats, [mean.detach(), scale.detach()], self.momentum)
        else:
            mean, scale = self.running_mean, self.running_scale
        # gamma * (x - mean) / (scale + eps) + beta, with the per-unit factors folded first
        factor = self.weight / (scale + self.eps)
        return torch.addcmul(unit_view(x, self.bias), x - unit_view(x, mean), unit_view(x, factor))

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, kind={self.kind}, eps={self.eps}"


class AlgorithmOneNoise(nn.Module):
    """Paper Algorithm 1: a time-varying, per-unit shift and scale of the activations.

    At every training step, per unit j: mu_j ~ U(-n_mu, n_mu), sigma_j ~ U(1, n_sigma);
    per element (sample, and h, w for convs): m ~ U(mu_j - r_mu, mu_j + r_mu),
    s ~ N(sigma_j, r_sigma); output s * a + m. Draws come from (seed, step, layer), so a
    probe that sets the same step replays the same noise. Identity in eval mode.
    """

    def __init__(self, noise: NoiseParams, layer: int, seed: int):
        super().__init__()
        self.noise, self.layer, self.seed = noise, layer, seed
        self.step: int | None = None  # set by models.set_step before each training forward
        self.active = True  # False: identity in training mode too (clean statistics)

    def draw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s, m), each shaped like x and in x's memory layout, for the current step.

        Drawn in NCHW order whatever x's layout, so every layout and device gets the same
        noise; the first operation on each draw writes it into x's layout, and the rest
        run in place: the same bits as out-of-place arithmetic and a copy into x's
        layout, 1.01-1.13x faster per layer. Most of the time is the draws themselves
        (torch's generator): 6.7-8.2 ms of a 10-14 ms forward on the cpu-scale VGG's
        (128, 8, 32, 32) activations, one CPU thread (docs/performance.md "Speed")."""
        if self.step is None:
            raise RuntimeError(f"noise layer {self.layer}: set_step() was not called")
        q = self.noise
        g = torch.Generator(device=x.device)
        g.manual_seed(derive_seed(self.seed, self.step, f"noise/{self.layer}"))
        c = x.shape[1]

        # fp64 (a probe's measurement form) draws training's fp32 numbers, cast exactly
        drawn = torch.float32 if x.dtype == torch.float64 else x.dtype

        def uniform(*shape: int) -> torch.Tensor:  # U(0, 1)
            return torch.rand(*shape, generator=g, device=x.device, dtype=drawn).to(x.dtype)

        layout = _memory_format(x)

        def like_x() -> torch.Tensor:  # empty, x's shape and layout; one for all under vmap
            return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=layout)

        mu = unit_view(x, (2 * uniform(c) - 1) * q.n_mu)
        sigma = unit_view(x, 1 + uniform(c) * (q.n_sigma - 1))
        # m = mu + (2u - 1) r_mu, then s = sigma + normal r_sigma: that order of draws
        m = torch.mul(uniform(*x.shape), 2, out=like_x())
        m.sub_(1).mul_(q.r_mu).add_(mu)
        normal = torch.randn(*x.shape, generator=g, device=x.device, dtype=drawn).to(x.dtype)
        s = torch.mul(normal, q.r_sigma, out=like_x())
        return s.add_(sigma), m

    # Eager under torch.compile (keep_noise_eager, applied where a step is compiled): the
    # draw seeds a generator from (seed, step, layer), and a compiled frame would guard on
    # the step and recompile at every step. The graph break still leaves each VGG block
    # its own frame, compiled per input shape: compiling a noisy variant gains nothing
    # (docs/performance.md "Speed")
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.active:
            return x
        s, m = self.draw(x)
        return (s * x).add_(m)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, {self.noise}"


def keep_noise_eager() -> None:
    """Mark the noise's forward eager for torch.compile (once). Here and not as a
    decorator: torch.compiler.disable imports torch._dynamo, about 3 s in every process,
    and only a compiled step needs it."""
    forward = AlgorithmOneNoise.forward
    if not getattr(forward, "_bnpipe_eager", False):
        AlgorithmOneNoise.forward = torch.compiler.disable(forward)
        AlgorithmOneNoise.forward._bnpipe_eager = True


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last where x is (and not also NCHW), else contiguous: elementwise
    operations are slow across mixed layouts."""
    if x.dim() == 4 and not x.is_contiguous():
        try:
            if x.is_contiguous(memory_format=torch.channels_last):
                return torch.channels_last
        except RuntimeError:  # inside vmap, which cannot tell: NCHW (slower, same values)
            pass
    return torch.contiguous_format


# Builders of the built-in variants (registered in bnpipe.variants): each takes
# (channels, spatial, layer, seed, norm, noise) and returns the layer after layer `layer`.


def identity(channels, spatial, layer, seed, norm, noise) -> nn.Module:
    return nn.Identity()


def batchnorm(channels, spatial, layer, seed, norm, noise) -> nn.Module:
    return _batchnorm(channels, spatial, norm)


def noisy_batchnorm(channels, spatial, layer, seed, norm, noise) -> nn.Module:
    noise_layer = AlgorithmOneNoise(_need(noise, "noisy_batchnorm"), layer, seed)
    return nn.Sequential(_batchnorm(channels, spatial, norm), noise_layer)


def noise_alone(channels, spatial, layer, seed, norm, noise) -> nn.Module:
    return AlgorithmOneNoise(_need(noise, "noisy_standard"), layer, seed)


def l1(channels, spatial, layer, seed, norm, noise) -> nn.Module:
    return LpNorm(channels, "l1", norm.eps, norm.momentum)


def l2(channels, spatial, layer, seed, norm, noise) -> nn.Module:
    return LpNorm(channels, "l2", norm.eps, norm.momentum)


def linf(channels, spatial, layer, seed, norm, noise) -> nn.Module:
    return LpNorm(channels, "linf", norm.eps, norm.momentum)
