"""Each convolution shape of the cpu-scale VGG (batch 128, width 0.125), one thread: forward,
backward for the input only, for the weight only, and both; channels_last (CL) and NCHW.
Medians of 30 calls, ms. Run under ONEDNN_MAX_CPU_ISA=ALL (the default) and =AVX2."""
import torch
from timing import median_ms as bench
torch.set_num_threads(1)
from bnpipe.host_memory import keep_freed_memory; keep_freed_memory()
cb = torch.ops.aten.convolution_backward
for cin, cout, hw in [(3, 8, 32), (8, 8, 32), (8, 16, 16), (16, 16, 16), (32, 32, 8)]:
    for fmt in (torch.channels_last, torch.contiguous_format):
        x = torch.randn(128, cin, hw, hw).contiguous(memory_format=fmt)
        w = torch.randn(cout, cin, 3, 3).contiguous(memory_format=fmt)
        go = torch.randn(128, cout, hw, hw).contiguous(memory_format=fmt)
        args = lambda m: (go, x, w, [cout], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, m)
        fwd = bench(lambda: torch.nn.functional.conv2d(x, w, padding=1))
        gi = bench(lambda: cb(*args([True, False, False])))
        gw = bench(lambda: cb(*args([False, True, True])))
        both = bench(lambda: cb(*args([True, True, True])))
        print(cin, cout, hw, "CL " if fmt == torch.channels_last else "NCHW", f"fwd {fwd:.2f} gin {gi:.2f} gw {gw:.2f} both {both:.2f} ms", flush=True)
