"""Layers rewritten for graphs that are differentiated twice (Hessian-vector products).

Inside `second_order_forms(model)` the model computes the same function, to fp32
round-off, by operations whose second derivative is exact and cheap on a CPU:

- BatchNorm in batch-statistics mode by its elementary operations, so its double
  backward is autograd's chain of sums and products instead of the fused kernel's
  second-order formula. Measured on snapshots of a cpu-scale BN VGG (steps 231, 1385,
  3000) against fp64: the fused fp32 Hessian-vector product is 4e-4 to 4e-3 off
  (relative l2), this form 2e-6. (At step 0 both are ~2e-3 off: fp32 round-off at
  BN's initialization, seen in first-order gradients too.) Its means are
  `norms.unit_mean`: `mean`'s backward writes its gradient in NCHW, and adding that to
  training's channels_last tensors runs at about 1.6x the time of an add within one
  layout.
- Conv2d by `_Conv`, whose backward is `_ConvGrads`: the first-order gradients by
  the same convolution-backward kernel training uses, and their own backward (what a
  Hessian-vector product runs) by three more convolution kernels. Autograd's built-in
  double backward of a convolution forms the weight term as a convolution of
  batch-transposed tensors instead: 14 ms for the first VGG layer (width 0.125, batch
  128, one thread) where the weight-gradient kernel takes 2.5 ms.
- Linear on (N, in) inputs as (W x^T)^T, so the product and everything downstream of
  it is laid out (features, N) in memory. For the DLN's (1000, 10) activations that is
  the fast orientation of the matrix product (10 x 10 times 10 x 1000: 5 us, where
  1000 x 10 times 10 x 10 takes 30 us, one thread) and of BatchNorm's per-unit sums,
  which then run along memory. DLN snapshots of the cpu scale, side by side in one
  process: a product takes 0.74-0.79x the time with BN (1.7-2.2 training steps instead
  of 2.2-2.9), 0.48-0.51x without (0.8 instead of 1.6-1.8), and is as close to fp64
  (3e-7 to 1.2e-6 against 5.5e-7 to 1.3e-6). The BN VGG, whose classifier is its one
  linear layer: 1.00-1.01x.

On cpu-scale VGG snapshots (1 thread) a Hessian-vector product costs 2.2-2.4 training
steps with BN (3.0-3.1 before the BatchNorm and convolution forms) and 1.8-2.0 without
(2.3-2.5).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from bnpipe.models.norms import unit_mean, unit_view

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _batchnorm_by_elementary_ops(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor):
    """BatchNorm in training mode with batch statistics (biased variance):
    (x - mean) * (gamma / sqrt(var + eps)) + beta, per unit."""
    centred = x - unit_view(x, unit_mean(x))
    scale = unit_view(x, torch.rsqrt(unit_mean(centred.square()) + self.eps))
    if self.weight is None:
        return centred * scale
    return centred * (scale * unit_view(x, self.weight)) + unit_view(x, self.bias)


def _convolution_backward(
    conv: nn.Conv2d,
    grad_out: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    need: tuple[bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(d input, d weight) of <grad_out, conv2d(x, weight)>, by the convolution-backward
    kernel; an entry not in `need` is None."""
    grad_x, grad_weight, _ = torch.ops.aten.convolution_backward(
        grad_out, x, weight, None, conv.stride, conv.padding, conv.dilation,
        False, [0, 0], conv.groups, [need[0], need[1], False],
    )  # fmt: skip
    return grad_x, grad_weight


def _conv2d(conv: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)


class _ConvGrads(torch.autograd.Function):
    """(grad_out, x, weight) -> (d x, d weight) of y = conv2d(x, weight), and its backward.

    With S = <a_x, d x> + <a_w, d weight> = <grad_out, conv(a_x, weight) + conv(x, a_w)>
    (the convolution is bilinear), the backward is
      d S / d grad_out = conv(a_x, weight) + conv(x, a_w)
      d S / d x        = d input  of <grad_out, conv(x, a_w)>
      d S / d weight   = d weight of <grad_out, conv(a_x, weight)>.
    When x needs no gradient (need_x False: the first layer), d x is an empty tensor,
    a_x is absent, and so are d S / d x and d S / d weight.
    """

    @staticmethod
    def forward(ctx, grad_out, x, weight, conv: nn.Conv2d, need_x: bool):
        ctx.save_for_backward(grad_out, x, weight)
        ctx.conv, ctx.need_x = conv, need_x
        grad_x, grad_weight = _convolution_backward(conv, grad_out, x, weight, (need_x, True))
        return (grad_x if need_x else x.new_empty(0)), grad_weight

    @staticmethod
    def backward(ctx, a_x, a_w):
        grad_out, x, weight = ctx.saved_tensors
        conv = ctx.conv
        d_grad_out = _conv2d(conv, x, a_w)
        if not ctx.need_x:
            return d_grad_out, None, None, None, None
        d_grad_out = d_grad_out + _conv2d(conv, a_x, weight)
        d_x = _convolution_backward(conv, grad_out, x, a_w, (True, False))[0]
        d_weight = _convolution_backward(conv, grad_out, a_x, weight, (False, True))[1]
        return d_grad_out, d_x, d_weight, None, None


class _Conv(torch.autograd.Function):
    """y = conv2d(x, weight) without bias; its backward is `_ConvGrads` (differentiable)."""

    @staticmethod
    def forward(ctx, x, weight, conv: nn.Conv2d):
        ctx.save_for_backward(x, weight)
        ctx.conv = conv
        return _conv2d(conv, x, weight)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        grad_x, grad_weight = _ConvGrads.apply(grad_out, x, weight, ctx.conv, need_x)
        return (grad_x if need_x else None), grad_weight, None


def _conv_by_functions(self: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    y = _Conv.apply(x, self.weight, self)
    return y if self.bias is None else y + unit_view(y, self.bias)


def _linear_feature_major(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """x W^T (+ b) for x (N, in), computed as (W x^T)^T: the product is (out, N) in
    memory and the (N, out) result a transposed view of it (other shapes: F.linear)."""
    if x.dim() != 2:
        return F.linear(x, self.weight, self.bias)
    y = torch.mm(self.weight, x.T).T
    return y if self.bias is None else y + self.bias


def _rewritable_conv(m: nn.Module) -> bool:
    """A Conv2d that `_Conv` computes as it is: zero padding given in numbers."""
    return type(m) is nn.Conv2d and m.padding_mode == "zeros" and not isinstance(m.padding, str)


@contextlib.contextmanager
def second_order_forms(model: nn.Module) -> Iterator[nn.Module]:
    """Within `frozen_stats`: every batch-statistics BatchNorm and every Conv2d computed
    by the forms above, restored on exit."""
    rewritten = []
    for m in model.modules():
        if type(m) in BATCHNORMS and not m.track_running_stats:
            m.forward = _batchnorm_by_elementary_ops.__get__(m)
            rewritten.append(m)
        elif type(m) is nn.Linear:
            m.forward = _linear_feature_major.__get__(m)
            rewritten.append(m)
        elif _rewritable_conv(m):
            m.forward = _conv_by_functions.__get__(m)
            rewritten.append(m)
    try:
        yield model
    finally:
        for m in rewritten:
            del m.forward
