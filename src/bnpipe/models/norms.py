"""Normalization layers, one per `variant` of the grid.

Every layer maps (N, C, H, W) -> (N, C, H, W) and normalizes per channel ("unit") over
the batch, height and width, as BatchNorm does.
"""

from __future__ import annotations

from torch import nn


def make_norm(variant: str, channels: int) -> nn.Module:
    """The layer that sits after each conv, before its ReLU."""
    if variant == "standard":
        return nn.Identity()
    if variant == "batchnorm":
        # Biased batch variance in training, running statistics in evaluation (PyTorch's
        # BatchNorm2d does both); gamma = 1, beta = 0 at init.
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown variant {variant!r}")
