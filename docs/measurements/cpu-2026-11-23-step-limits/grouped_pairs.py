"""8 -> 8 channels at 32 x 32 on 128 images against the same convolutions as a grouped one on
64 image pairs (16 -> 16 channels, groups=2), channels_last, one thread: forward, backward,
weight gradient alone; medians of 30 calls, ms. python grouped_pairs.py"""
import torch
from timing import median_ms as bench
torch.set_num_threads(1)
from bnpipe.host_memory import keep_freed_memory; keep_freed_memory()
cb = torch.ops.aten.convolution_backward
CL = torch.channels_last
for (n, cin, cout, hw, g) in [(128, 8, 8, 32, 1), (64, 16, 16, 32, 2), (128, 3, 8, 32, 1), (64, 6, 16, 32, 2), (128,16,16,16,1)]:
    x = torch.randn(n, cin, hw, hw).contiguous(memory_format=CL)
    w = torch.randn(cout, cin // g, 3, 3).contiguous(memory_format=CL)
    go = torch.randn(n, cout, hw, hw).contiguous(memory_format=CL)
    args = lambda m: (go, x, w, [cout], [1, 1], [1, 1], [1, 1], False, [0, 0], g, m)
    fwd = bench(lambda: torch.nn.functional.conv2d(x, w, padding=1, groups=g))
    both = bench(lambda: cb(*args([True, True, True])))
    gw = bench(lambda: cb(*args([False, True, True])))
    print(n, cin, cout, hw, g, f"fwd {fwd:.2f} bwd {both:.2f} gw {gw:.2f}", flush=True)
