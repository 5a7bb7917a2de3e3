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

import contextlib
import functools
from collections.abc import Callable, Iterator
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
    `params` are copies of the snapshot's parameters (in the measurement's precision);
    `grad0` the gradient there, computed once and shared by every probe of the snapshot.
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
        # the batch in the model's precision (the measurement form's fp64 casts it): the
        # ICS probe runs the model's stages directly, past its input hook
        dtype = next(model.parameters()).dtype
        x, y = (t.to(dtype) if t.is_floating_point() else t for t in (x, y))
        self.model, self.x, self.y, self.loss_fn = model, x, y, loss_fn
        self.lr, self.chunk_size = lr, chunk_size
        # copies: probes put other values into the model's parameters (`parameters_at`)
        self.params: Tensors = {k: v.detach().clone() for k, v in model.named_parameters()}
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
        reads; asking autograd for them adds no pass). Bit for bit torch.func.grad's
        gradient, in less time (cpu-scale snapshots, 1 thread: DLN with BN 3.8-4.5 ms
        against 5.9-17.7, VGG with BN 40-47 against 50-187, measured with leaf copies
        through `functional_call`)."""
        grads, _, io = self._forward_backward(self.params, batchnorm_layers(self.model))
        return grads, io

    def updated(self) -> Tensors:
        """The parameters after the real step-t update: plain SGD, theta - lr * g."""
        return {k: v - self.lr * self.grad0[k] for k, v in self.params.items()}

    def grad_and_loss_at(self, point: Tensors) -> tuple[Tensors, torch.Tensor]:
        """The gradient and the loss at one parameter set: one forward-backward through
        the model with `point` in its own parameters (`parameters_at`). The same numbers
        as torch.func.grad_and_value, bit for bit, in less time: on cpu-scale BN VGG
        snapshots (1 thread) 0.94-1.00 training steps per point, where leaf copies
        through `functional_call` took 0.97-1.05, and torch.func 1.08-1.10."""
        grads, loss, _ = self._forward_backward(point)
        return grads, loss

    def _forward_backward(
        self, point: Tensors, taps: list[nn.modules.batchnorm._BatchNorm] | None = None
    ) -> tuple[Tensors, torch.Tensor, dict[nn.Module, BatchNormIO]]:
        """(gradient, loss, BatchNormIO of each layer in `taps`) at `point`: one forward
        and one backward through the model with `point` in its own parameters."""
        layers = taps or []
        seen: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}
        handles = [
            m.register_forward_hook(lambda m, args, out: seen.__setitem__(m, (args[0], out)))
            for m in layers
        ]
        with parameters_at(self.model, point) as named:
            try:
                loss = self.loss_fn(self.model(self.x), self.y)
            finally:
                for handle in handles:
                    handle.remove()
            tapped = [t for m in layers for t in seen[m]]  # y_1, z_1, y_2, z_2, ...
            grads = torch.autograd.grad(loss, [*named.values(), *tapped])
        n = len(named)
        io = {
            m: BatchNormIO(seen[m][0].detach(), grads[n + 2 * i], grads[n + 2 * i + 1])
            for i, m in enumerate(layers)
        }
        return dict(zip(named, grads[:n], strict=True)), loss.detach(), io

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
        each product is then one more backward through that graph, with BatchNorm, the
        convolutions and the linear layers in `second_order_forms` (exact to fp32
        round-off where the fused BatchNorm kernel's second derivative is not, and
        cheaper). The reference (reuse_graph=False) is torch.func's forward-over-reverse
        jvp through the model as it is.
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


@contextlib.contextmanager
def parameters_at(model: nn.Module, values: Tensors) -> Iterator[dict[str, nn.Parameter]]:
    """Inside the block the model's parameters hold `values` (name -> tensor, every
    parameter); after it, their own values again, bit for bit. Yields the parameters by
    name."""
    named = dict(model.named_parameters())
    own = {k: p.detach().clone() for k, p in named.items()}
    try:
        with torch.no_grad():
            for k, p in named.items():
                p.copy_(values[k])
        yield named
    finally:
        with torch.no_grad():
            for k, p in named.items():
                p.copy_(own[k])


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
