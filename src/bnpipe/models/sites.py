"""Where a unit's activations are read, and their per-unit moments.

Sites of block k (blocks[k - 1], the paper's layer k):
  layer       the conv or matrix output, before any normalization
  normalized  after the normalization (noise included)
  block       the block's output after the ReLU: the next layer's input

The activation probe reads them on the fixed probe batch; training reads the lag shift's
later moments with the same functions, on an NCHW fp64 copy of its model
(bnpipe.training.lag_record).

Two units of a distribution: a *channel* c (its B*H*W values: `unit_moments`) and a
*coordinate* (c, h, w) (its B values over the batch: `coordinate_moments`), the paper's
"sampled activations" (Figs. 2, 7). A BN network's channel is pinned on the batch it
normalizes (mean beta, variance ~gamma^2, whatever the weights); its coordinates are not.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from bnpipe.data.batches import generator
from bnpipe.models.norms import unit_dims, unit_view
from bnpipe.models.state import preserved_state

SITE_MODULE = {"block": None, "layer": "layer", "normalized": "norm"}  # site -> block attribute


def capture(
    model: nn.Module, x: torch.Tensor, sites: tuple[str, ...]
) -> dict[str, dict[int, torch.Tensor]]:
    """site -> layer k -> the output at that site of block k on `x`: one forward pass in
    training mode, no gradient, whatever the number of sites."""
    captured: dict[str, dict[int, torch.Tensor]] = {site: {} for site in sites}
    handles = []
    for k, block in enumerate(model.blocks, start=1):
        for site in captured:
            attribute = SITE_MODULE[site]
            module = block if attribute is None else getattr(block, attribute)

            def hook(_module, _inputs, output, k=k, site=site):
                captured[site][k] = output.detach()  # (B, C, H, W) or (B, C)

            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad(), preserved_state(model):
            model.train()
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def unit_moments(output: torch.Tensor) -> torch.Tensor:
    """(2, C) fp64: per unit, mean and biased variance over batch (and h, w).

    Two passes in the activations' own precision, as they lie in memory: the mean, then
    the mean square of the deviations, less the square of their mean (what rounding the
    mean left). The probes pass fp64 activations (speed.FP64); on fp32 ones the relative
    error is ~1e-6 against fp64 (tested), 1.5-5x faster than torch.var_mean (Welford)."""
    reduced = unit_dims(output)
    count = output.numel() // output.shape[1]
    mean = output.sum(reduced) / count  # (C,)
    deviation = output - unit_view(output, mean)
    var = deviation.square().sum(reduced).double() / count
    residual = deviation.sum(reduced).double() / count
    return torch.stack([mean.double(), var - residual**2]).cpu()


@functools.lru_cache(maxsize=64)
def coordinate_sample(coordinates: int, count: int, layer: int) -> torch.Tensor:
    """Flat indices into a layer's C*H*W coordinates (sorted, int64): all of them where
    there are at most `count`, else `count` drawn without replacement from a generator
    seeded by the layer alone, so every variant and seed reads the same coordinates."""
    if coordinates <= count:
        return torch.arange(coordinates)
    g = generator(0, layer, "probe/coordinates")
    return torch.randperm(coordinates, generator=g)[:count].sort().values


def coordinate_moments(output: torch.Tensor, layer: int, count: int) -> torch.Tensor:
    """(2, K) fp64: per coordinate of `coordinate_sample`, mean and biased variance over
    the batch (B values each), computed in fp64 from the activations' values."""
    flat = output.reshape(output.shape[0], -1)  # (B, C*H*W), C-major whatever the layout
    picked = coordinate_sample(flat.shape[1], count, layer).to(output.device)
    values = flat.index_select(1, picked).double()  # (B, K)
    mean = values.mean(0)
    var = (values - mean).square().mean(0)
    return torch.stack([mean, var]).cpu()
