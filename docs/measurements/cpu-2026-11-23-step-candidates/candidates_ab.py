"""Changes to the training step that keep its bits, each against today's step in one
process: python candidates_ab.py VARIANT CANDIDATE BLOCKS.

Both steppers train a fresh model from seed 0; after 5 steps their losses and
parameters must be equal bit for bit (asserted). Then BLOCKS interleaved blocks of 10
timed steps each (2 untimed first), alternating which goes first; the ratio
today / candidate is taken within each block. Candidates:
  relu_in_place   each block's ReLU in place on the normalization's output
  conv_relu       the standard network's conv and ReLU as one oneDNN primitive (post-op)
  prenormalized   batches gathered from all training images normalized once (NHWC fp32)
  previous_batch  (reverse check) the batch as before this session: advanced indexing,
                  out-of-place arithmetic
  fused_sgd       torch.optim.SGD(fused=True)
  nchw_weights    activations channels_last, convolution weights left NCHW
"""
import statistics
import sys
import time

import torch

from bnpipe.data.batches import train_batch_indices
from bnpipe.models.vgg import ConvBlock
from common import TASK, training_step

variant, candidate, blocks = sys.argv[1], sys.argv[2], int(sys.argv[3])
DATA = TASK.data


class ConvReLU(torch.autograd.Function):
    """relu(conv3x3(x, w, b)) by oneDNN's fused primitive; backward as autograd's."""

    @staticmethod
    def forward(ctx, x, w, b):
        y = torch.ops.mkldnn._convolution_pointwise(x, w, b, [1, 1], [1, 1], [1, 1], 1, "relu", [], "")
        ctx.save_for_backward(x, w, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w, y = ctx.saved_tensors
        gz = torch.ops.aten.threshold_backward(gy, y, 0)
        mask = [ctx.needs_input_grad[0], True, True]
        return torch.ops.aten.convolution_backward(gz, x, w, [w.shape[0]], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)


def block_forward(self, x):
    if getattr(self, "candidate", None) == "relu_in_place":
        return torch.relu_(self.norm(self.layer(x)))
    if getattr(self, "candidate", None) == "conv_relu":
        return ConvReLU.apply(x, self.layer.weight, self.layer.bias)
    return self.relu(self.norm(self.layer(x)))


ConvBlock.forward = block_forward


class Batches:
    """The task, with step t's batch made another way."""

    def __init__(self, make):
        self.make = make

    def __getattr__(self, name):
        return getattr(TASK, name)

    def batch(self, t):
        idx = train_batch_indices(DATA.n_train, TASK.batch_size, TASK.seed, t)
        return self.make(idx)


_, today = training_step(variant)
model, other = training_step(variant)
if candidate in ("relu_in_place", "conv_relu"):
    for block in model.blocks:
        block.candidate = candidate
elif candidate == "prenormalized":
    images = torch.empty(DATA.n_train, 32, 32, 3)
    for i in range(0, DATA.n_train, 256):
        images[i : i + 256] = DATA.normalize(DATA.x_train[i : i + 256]).permute(0, 2, 3, 1)
    other.task = Batches(lambda idx: (images.index_select(0, idx).permute(0, 3, 1, 2), DATA.y_train[idx]))
elif candidate == "previous_batch":
    other.task = Batches(lambda idx: ((DATA.x_train[idx].float() / 255 - DATA.mean) / DATA.std, DATA.y_train[idx]))
elif candidate == "fused_sgd":
    other.optimizer = torch.optim.SGD(model.parameters(), lr=0.1, fused=True)
elif candidate == "nchw_weights":
    for p in model.parameters():
        p.data = p.data.contiguous()
else:
    raise SystemExit(f"unknown candidate {candidate!r}")

for t in range(5):
    assert torch.equal(today(t)[0], other(t)[0]), f"step {t}: losses differ"
assert all(torch.equal(p, q) for p, q in zip(today.model.parameters(), model.parameters()))
ms = {"today": [], "candidate": []}
ratios, t0 = [], 5
for block in range(blocks):
    order = (("today", today), ("candidate", other))
    for name, step in order if block % 2 == 0 else order[::-1]:
        for t in range(t0, t0 + 2):
            step(t)
        start = time.perf_counter()
        for t in range(t0 + 2, t0 + 12):
            step(t)
        ms[name].append((time.perf_counter() - start) * 100)  # ms per step
    t0 += 12
    ratios.append(ms["today"][-1] / ms["candidate"][-1])
q1, _, q3 = statistics.quantiles(ratios, n=4)
print(
    f"{variant} {candidate}: same bits after 5 steps; today {statistics.median(ms['today']):.1f} ms, "
    f"candidate {statistics.median(ms['candidate']):.1f} ms per step; today/candidate median "
    f"{statistics.median(ratios):.3f} (quartiles {q1:.3f}-{q3:.3f}, {blocks} blocks)"
)
