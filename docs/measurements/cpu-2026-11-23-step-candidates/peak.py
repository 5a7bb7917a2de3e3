"""What one core of this CPU computes: fp32 GEMM (2048^3, MKL through torch.mm) and the
two convolutions with the same FLOPs as the 8 -> 8 channel layer at 32 x 32, against
the FLOPs of the standard VGG's training step (torch.utils.flop_counter)."""
import torch
import torch.nn.functional as F

from bnpipe.bench import step_cost
from common import PARAMS, median_ms

a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
ms = median_ms(lambda: a @ b, n=10, flush=False)
print(f"sgemm 2048^3: {ms:.1f} ms, {2 * 2048**3 / ms / 1e6:.1f} GFLOP/s")
for cin, cout, hw in [(8, 8, 32), (16, 16, 16)]:
    x = torch.randn(128, cin, hw, hw).contiguous(memory_format=torch.channels_last)
    w = torch.randn(cout, cin, 3, 3).contiguous(memory_format=torch.channels_last)
    flops = 2 * 128 * hw * hw * cout * cin * 9
    ms = median_ms(lambda: F.conv2d(x, w, padding=1), flush=False)
    print(f"conv {cin}->{cout} @{hw} channels_last forward: {ms:.2f} ms, {flops / ms / 1e6:.1f} GFLOP/s (caches warm)")
cost = step_cost(PARAMS, "standard")
print(f"standard VGG training step: {cost['flops'] / 1e9:.3f} GFLOP")
