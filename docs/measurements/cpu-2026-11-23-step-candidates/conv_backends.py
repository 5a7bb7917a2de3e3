"""Each VGG layer shape's convolution by oneDNN (what F.conv2d uses here) against ATen's
own im2col + GEMM (thnn_conv2d), channels_last and NCHW: forward, and the backward
(weights, bias and, but for the 3-channel input, the input) as (forward + backward) less
forward; caches flushed before each call."""
import torch
import torch.nn.functional as F

from common import median_ms

for cin, cout, hw in [(3, 8, 32), (8, 8, 32), (8, 16, 16), (16, 16, 16), (32, 32, 8), (64, 64, 4)]:
    for name, layout in (("CL", torch.channels_last), ("NCHW", torch.contiguous_format)):
        x = torch.randn(128, cin, hw, hw).contiguous(memory_format=layout).requires_grad_(cin != 3)
        w = torch.randn(cout, cin, 3, 3).contiguous(memory_format=layout).requires_grad_()
        b = torch.randn(cout).requires_grad_()
        g = torch.randn(128, cout, hw, hw).contiguous(memory_format=layout)
        convs = {
            "oneDNN": lambda: F.conv2d(x, w, b, padding=1),
            "thnn": lambda: torch._C._nn.thnn_conv2d(x, w, [3, 3], b, [1, 1], [1, 1]),
        }
        row = []
        for backend, conv in convs.items():
            forward = median_ms(conv)
            backward = median_ms(lambda: conv().backward(g)) - forward
            row.append(f"{backend} fwd {forward:5.2f} bwd {backward:5.2f}")
        diff = (convs["thnn"]() - convs["oneDNN"]()).abs().max().item()
        print(f"{cin:2d}->{cout:2d} @{hw:2d} {name:4s} | " + " | ".join(row) + f" | max diff {diff:.1e}")
