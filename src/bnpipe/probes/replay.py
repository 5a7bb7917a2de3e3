"""Replaying training step t from its snapshot: the step's batch, noise, loss and gradient.

A snapshot holds the parameters before update t. With the batch of step t (from the
counters) and, for noisy variants, the noise of step t, the loss below is exactly the one
training minimized at step t (the test in test_train checks it against the logged loss).
Probes evaluate that loss at other parameters too (after earlier layers' update, along a
line), always in training mode: batch statistics, as the optimized loss uses them.

Parameters are handled functionally, as a dict name -> tensor, so the model's own
parameters are never written; `models.state.frozen_stats` stops BN/l_p running averages
from moving.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, grad_and_value, jvp, vmap

from bnpipe.data.batches import derive_seed
from bnpipe.models import batchnorm_layers
from bnpipe.probes.second_order import second_order_forms

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class BatchNormIO:
    """One BatchNorm layer on step t's batch: z = BN(y)."""

    y: torch.Tensor  # its input, detached
    grad_y: torch.Tensor  # dL/dy, shaped like y
    grad_z: torch.Tensor  # dL/dz at its output


class StepReplay:
    """Step t of one run, as a function of the parameters.

    model must be inside `frozen_stats` and have its noise layers set to step t.
    `params` are the snapshot's parameters (detached, fp32); `grad0` the gradient there,
    computed once and shared by every probe of the snapshot.
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        lr: float,
        chunk_size: int,
    ):
        self.model, self.x, self.y, self.loss_fn = model, x, y, loss_fn
        self.lr, self.chunk_size = lr, chunk_size
        self.params: Tensors = {k: v.detach() for k, v in model.named_parameters()}
        self.buffers: Tensors = dict(model.named_buffers())

    def loss(self, params: Tensors) -> torch.Tensor:
        """L(params) on step t's batch: a scalar."""
        output = functional_call(self.model, (params, self.buffers), (self.x,))
        return self.loss_fn(output, self.y)

    @functools.cached_property
    def grad0(self) -> Tensors:
        """g: the gradient of step t (what SGD applied), per parameter."""
        return self._first_order[0]

    @functools.cached_property
    def batchnorm_io(self) -> dict[nn.Module, BatchNormIO]:
        """Per BatchNorm layer of the model, its input and the loss's gradients at its
        input and output on step t, from the same forward-backward as `grad0`."""
        return self._first_order[1]

    @functools.cached_property
    def _first_order(self) -> tuple[Tensors, dict[nn.Module, BatchNormIO]]:
        """One forward-backward at the snapshot: the parameters' gradient and every
        BatchNorm layer's input, dL/d input and dL/d output (what Theorem 4.1's probe
        reads; asking autograd for them adds no pass). By plain autograd on leaf copies,
        as `grad_and_loss_at`: bit for bit torch.func.grad's gradient, in less time
        (cpu-scale snapshots, 1 thread: DLN with BN 3.8-4.5 ms against 5.9-17.7, VGG with
        BN 40-47 against 50-187)."""
        layers = batchnorm_layers(self.model)
        seen: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}
        handles = [
            m.register_forward_hook(lambda m, args, out: seen.__setitem__(m, (args[0], out)))
            for m in layers
        ]
        try:
            leaves = {k: v.detach().requires_grad_() for k, v in self.params.items()}
            loss = self.loss(leaves)
        finally:
            for handle in handles:
                handle.remove()
        taps = [t for m in layers for t in seen[m]]  # y_1, z_1, y_2, z_2, ...
        grads = torch.autograd.grad(loss, [*leaves.values(), *taps])
        n = len(leaves)
        io = {
            m: BatchNormIO(seen[m][0].detach(), grads[n + 2 * i], grads[n + 2 * i + 1])
            for i, m in enumerate(layers)
        }
        return dict(zip(leaves, grads[:n], strict=True)), io

    def updated(self) -> Tensors:
        """The parameters after the real step-t update: plain SGD, theta - lr * g."""
        return {k: v - self.lr * self.grad0[k] for k, v in self.params.items()}

    def grad_and_loss_at(self, point: Tensors) -> tuple[Tensors, torch.Tensor]:
        """The gradient and the loss at one parameter set: one forward-backward, by plain
        autograd on leaf copies (the same numbers as torch.func.grad_and_value, bit for
        bit, at 0.94-0.96x its time here: 1.03-1.04 training steps per point instead of
        1.08-1.10 on cpu-scale VGG snapshots)."""
        leaves = {k: v.detach().requires_grad_() for k, v in point.items()}
        loss = self.loss(leaves)
        grads = torch.autograd.grad(loss, list(leaves.values()))
        return dict(zip(leaves, grads, strict=True)), loss.detach()

    def grads_at(self, stacked: Tensors) -> tuple[Tensors, torch.Tensor]:
        """Gradients and losses at S parameter sets at once.

        stacked: name -> (S, *shape). Returns (name -> (S, *shape), losses (S,)). The sets
        go through one vmapped forward-backward, `chunk_size` sets at a time (memory).
        Noise layers draw the same step-t noise for every set (randomness="same").
        """
        batched = vmap(grad_and_value(self.loss), randomness="same", chunk_size=self.chunk_size)
        return batched(stacked)

    def hvp_operator(self, reuse_graph: bool = True) -> Callable[[Tensors], Tensors]:
        """v -> H v, the Hessian of the step-t loss at the snapshot times v.

        The first-order gradient is built once with its graph kept (one forward-backward);
        each product is then one more backward through that graph, with BatchNorm and the
        convolutions in `second_order_forms` (exact to fp32 round-off where the fused
        BatchNorm kernel's second derivative is not, and cheaper). The reference
        (reuse_graph=False) is torch.func's forward-over-reverse jvp through the model as
        it is.
        """
        if not reuse_graph:
            return lambda vector: jvp(grad(self.loss), (self.params,), (vector,))[1]
        named = dict(self.model.named_parameters())
        names, tensors = list(named), list(named.values())
        with second_order_forms(self.model):
            loss = self.loss_fn(self.model(self.x), self.y)
        grads = torch.autograd.grad(loss, tensors, create_graph=True)

        def hvp(vector: Tensors) -> Tensors:
            products = torch.autograd.grad(
                grads, tensors, [vector[n] for n in names], retain_graph=True
            )
            return {n: t.detach() for n, t in zip(names, products, strict=True)}

        return hvp


def gaussian_like(params: Tensors, seed: int, step: int, purpose: str) -> Tensors:
    """N(0, 1) tensors shaped like `params`, drawn on the CPU from (seed, step, purpose)
    alone, so every device gets the same numbers."""
    gen = torch.Generator().manual_seed(derive_seed(seed, step, purpose))
    return {k: torch.randn(v.shape, generator=gen).to(v) for k, v in params.items()}


def flat(tensors: Tensors | list[torch.Tensor]) -> torch.Tensor:
    """Concatenate into one fp64 vector (norms and dot products over many tensors)."""
    values = list(tensors.values() if isinstance(tensors, dict) else tensors)
    if not values:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat([t.reshape(-1).double() for t in values])
