"""One noise layer's forward on channels_last activations of the cpu-scale VGG's shapes
(one thread): its two full-size draws alone, the previous form (previous_noise.py) and
the in-place form, called in turn 30 times: medians in ms, and the median of the
per-turn ratio previous / in place.

    python layer_parts.py
"""

import statistics

import torch
import yaml

from bnpipe.host_memory import keep_freed_memory
from bnpipe.models.norms import AlgorithmOneNoise
from bnpipe.params import load_params
from previous_noise import previous_forward
from timing import once

torch.set_num_threads(1)
keep_freed_memory()
params = load_params(yaml.safe_load(open("params.yaml")))
layer = AlgorithmOneNoise(params.noise, layer=3, seed=0)
layer.train()
layer.step = 7


for shape in [(128, 8, 32, 32), (128, 16, 16, 16), (128, 32, 8, 8), (128, 64, 4, 4)]:
    x = torch.randn(*shape).contiguous(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)
    forms = {
        "draws": lambda: (torch.rand(*shape, generator=g), torch.randn(*shape, generator=g)),
        "previous": lambda: previous_forward(layer, x),
        "in place": lambda: layer(x),
    }
    times = {name: [] for name in forms}
    for turn in range(33):
        for name, f in forms.items():
            t = once(f)
            if turn >= 3:
                times[name].append(t)
    ratio = statistics.median(a / b for a, b in zip(times["previous"], times["in place"]))
    same = torch.equal(previous_forward(layer, x), layer(x))
    print(
        shape,
        " ".join(f"{n} {statistics.median(v) * 1e3:.2f}" for n, v in times.items()),
        f"previous/in place {ratio:.3f}",
        "same bits" if same else "DIFFERENT",
        flush=True,
    )
