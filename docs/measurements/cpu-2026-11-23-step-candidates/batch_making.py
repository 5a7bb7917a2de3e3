"""ms to make one 128-image training batch (indices, gather, normalization, channels_last
input) in four ways, each checked bit for bit against the first, caches flushed before
each call: the batch before this session (advanced indexing, out-of-place arithmetic),
today's (index_select, in place), from NHWC uint8 images, and from all training images
normalized once (NHWC fp32, 614 MB for CIFAR-10's 50,000)."""
import statistics

import torch

from bnpipe.data.batches import train_batch_indices
from common import TASK, median_ms

d = TASK.data
nhwc_uint8 = d.x_train.permute(0, 2, 3, 1).contiguous()
normalized = torch.empty(d.n_train, 32, 32, 3)
for i in range(0, d.n_train, 256):
    normalized[i : i + 256] = d.normalize(d.x_train[i : i + 256]).permute(0, 2, 3, 1)


def indices(t):
    return train_batch_indices(d.n_train, 128, 0, t)


def before(t):
    i = indices(t)
    x = (d.x_train[i].float() / 255 - d.mean) / d.std
    return x.contiguous(memory_format=torch.channels_last), d.y_train[i]


def today(t):
    x, y = d.batch(indices(t))
    return x.contiguous(memory_format=torch.channels_last), y


def from_nhwc_uint8(t):
    i = indices(t)
    x = nhwc_uint8.index_select(0, i).float()
    x.div_(255).sub_(d.mean.view(3)).div_(d.std.view(3))
    return x.permute(0, 3, 1, 2), d.y_train.index_select(0, i)


def from_normalized(t):
    i = indices(t)
    return normalized.index_select(0, i).permute(0, 3, 1, 2), d.y_train.index_select(0, i)


ways = {"before": before, "today": today, "NHWC uint8": from_nhwc_uint8, "pre-normalized": from_normalized}
for t in range(40):
    x0, y0 = before(t)
    for f in ways.values():
        x, y = f(t)
        assert torch.equal(x, x0) and torch.equal(y, y0) and x.is_contiguous(memory_format=torch.channels_last)
print("all four give the same bits, channels_last")
blocks = {name: [] for name in ways}
for b in range(10):
    for name, f in ways.items():
        steps = iter(range(b * 100, b * 100 + 100))
        blocks[name].append(median_ms(lambda: f(next(steps)), n=20))
for name, v in blocks.items():
    print(f"{name:15s} {statistics.median(v):.3f} ms (blocks {min(v):.3f}-{max(v):.3f})")
