"""The paper's "VGG-like" CIFAR-10 network: the VGG-16 conv stack, then one linear layer.

Input (N, 3, 32, 32) -> logits (N, 10). Layer k of the paper's figures is the k-th conv
(k = 1..13); `blocks[k - 1]` holds it with its normalization and ReLU, so probes can hook
a layer by the paper's number.
"""

from __future__ import annotations

import torch
from torch import nn

from bnpipe.models.norms import make_norm
from bnpipe.params import NoiseParams, NormParams


class ConvBlock(nn.Module):
    """conv 3x3 (padding 1) -> normalization -> ReLU."""

    def __init__(self, c_in: int, c_out: int, norm: nn.Module):
        super().__init__()
        self.layer = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
        self.norm = norm
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm(self.layer(x)))


class VGG(nn.Module):
    def __init__(
        self,
        stack,
        width: float = 1.0,
        variant: str = "standard",
        seed: int = 0,
        norm: NormParams | None = None,
        noise: NoiseParams | None = None,
    ):
        super().__init__()
        self.variant = variant
        layers: list[nn.Module] = []
        c_in, k = 3, 0

        for item in stack:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            c_out = max(1, round(item * width))
            k += 1  # the paper's layer number
            layers.append(
                ConvBlock(c_in, c_out, make_norm(variant, c_out, True, k, seed, norm, noise))
            )
            c_in = c_out
        self.features = nn.Sequential(*layers)
        # Five 2x2 pools take 32x32 to 1x1, so the classifier sees c_in features.
        self.classifier = nn.Linear(c_in, 10)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int) -> None:
        """Glorot-uniform weights, zero biases, drawn from a generator seeded by `seed` only."""
        gen = torch.Generator().manual_seed(seed)
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                fan_in = module.weight[0].numel()  # c_in * k * k
                fan_out = module.weight.shape[0] * module.weight[0, 0].numel()  # c_out * k * k
                bound = (6.0 / (fan_in + fan_out)) ** 0.5
                with torch.no_grad():
                    module.weight.uniform_(-bound, bound, generator=gen)
                    module.bias.zero_()

    @property
    def blocks(self) -> list[ConvBlock]:
        """The conv blocks in order: blocks[k - 1] is layer k. (Registered once, inside
        `features`: a module registered twice confuses torch.func.functional_call.)"""
        return [m for m in self.features if isinstance(m, ConvBlock)]

    def stages(self) -> list[nn.Module]:
        """The network as a chain, one stage per layer of the ICS probe: stage k (k = 1..13)
        is block k with the max-pool that follows it, if any; stage 14 is the classifier.
        Composing them equals forward(); stage k holds exactly layer k's parameters."""
        stages: list[nn.Module] = []
        for module in self.features:
            if isinstance(module, ConvBlock):
                stages.append(nn.Sequential(module))
            else:
                stages[-1].append(module)
        return [*stages, nn.Sequential(nn.Flatten(1), self.classifier)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
