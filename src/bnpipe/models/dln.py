"""The deep linear network: x (N, width) -> W_L ... W_1 x, no nonlinearity, no bias.

Layer k (1..L) is the k-th matrix; the normalization of a variant follows every matrix
but the last (a decision of docs/protocol.md), acting per unit over the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from bnpipe.models.norms import make_norm
from bnpipe.params import NoiseParams, NormParams


class LinearBlock(nn.Module):
    def __init__(self, layer: nn.Linear, norm: nn.Module):
        super().__init__()
        self.layer, self.norm = layer, norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.layer(x))


class DLN(nn.Module):
    def __init__(
        self,
        layers: int = 25,
        width: int = 10,
        variant: str = "standard",
        seed: int = 0,
        norm: NormParams | None = None,
        noise: NoiseParams | None = None,
    ):
        super().__init__()
        self.variant = variant
        self.blocks = nn.ModuleList(
            LinearBlock(
                nn.Linear(width, width, bias=False),
                make_norm(variant, width, False, k, seed, norm, noise)
                if k < layers
                else nn.Identity(),
            )
            for k in range(1, layers + 1)
        )
        gen = torch.Generator().manual_seed(seed)
        bound = (6.0 / (width + width)) ** 0.5  # Glorot uniform for a square matrix
        with torch.no_grad():
            for block in self.blocks:
                block.layer.weight.uniform_(-bound, bound, generator=gen)

    def stages(self) -> list[nn.Module]:
        """The chain of the ICS probe: stage k is block k (matrix k and its normalization)."""
        return list(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x
