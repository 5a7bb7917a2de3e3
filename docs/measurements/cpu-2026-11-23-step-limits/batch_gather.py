"""The batch path: gather NCHW uint8, normalize, copy to channels_last (current) against
gather NHWC uint8 rows and normalize into channels_last directly. python batch_gather.py"""
import torch
from timing import median_ms
torch.set_num_threads(1)
from bnpipe.host_memory import keep_freed_memory; keep_freed_memory()
def bench(f):
    return median_ms(f, calls=200, warmup=10)
g = torch.Generator().manual_seed(0)
nhwc = torch.randint(0, 256, (50000, 32, 32, 3), dtype=torch.uint8, generator=g)
nchw = nhwc.permute(0, 3, 1, 2).contiguous()
mean = torch.tensor([0.49, 0.48, 0.45]).view(1, 3, 1, 1); std = torch.tensor([0.25, 0.24, 0.26]).view(1, 3, 1, 1)
idx = torch.randperm(50000, generator=g)[:128]
def old():
    x = nchw[idx]
    return ((x.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
def new():
    x = nhwc.index_select(0, idx).permute(0, 3, 1, 2)
    return (x.float() / 255 - mean) / std
a, b = old(), new()
print("equal", torch.equal(a, b), b.stride(), b.is_contiguous(memory_format=torch.channels_last))
for _ in range(3):
    print(f"old {bench(old):.3f} ms new {bench(new):.3f} ms")
