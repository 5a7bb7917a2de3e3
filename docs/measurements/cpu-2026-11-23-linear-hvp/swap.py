import sys, time, statistics, torch, yaml
from torch import nn
from bnpipe import speed
from bnpipe.models import build_model
from bnpipe.models.vgg import ConvBlock
from bnpipe.params import load_params, RunSpec
from bnpipe.tasks import CifarTask
torch.set_num_threads(1)
params = load_params(yaml.safe_load(open('/work/pc/P.yaml')))
task = CifarTask("/work/pc/prep/cifar10.npz", None, 128, 0, "cpu")
variant = sys.argv[1]
spec = RunSpec("vgg", variant, 0.1, 0)
plan = speed.resolve(params.speed, "cpu", "vgg")
def swapped_forward(self, x):
    mods = list(self.features)
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, ConvBlock) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.MaxPool2d):
            x = m.relu(mods[i + 1](m.norm(m.layer(x)))); i += 2
        else:
            x = m(x); i += 1
    return self.classifier(torch.flatten(x, 1))
steps = {}
for name in ("orig", "swap"):
    model = speed.prepare(build_model(spec, params), plan)
    if name == "swap":
        model.forward = swapped_forward.__get__(model)
        if "inplace" in sys.argv:  # in-place ReLU as well
            for b in model.blocks:
                b.relu.inplace = True
    steps[name] = speed.TrainingStep(model, task, 0.1, plan, "cpu")
# exactness: 3 steps each from the same init, compare params
for t in range(3):
    la, _ = steps["orig"](t); lb, _ = steps["swap"](t)
ma, mb = steps["orig"].model, steps["swap"].model
print("loss equal", torch.equal(la, lb), "params equal", all(torch.equal(a, b) for a, b in zip(ma.parameters(), mb.parameters())))
times = {n: [] for n in steps}
t0 = 10
for block in range(6):
    for n, s in steps.items():
        for t in range(t0, t0 + 2): s(t)
        st = time.perf_counter()
        for t in range(t0 + 2, t0 + 12): s(t)
        times[n].append((time.perf_counter() - st) / 10)
    t0 += 12
r = [a / b for a, b in zip(times["orig"], times["swap"])]
print(variant, {n: f"{statistics.median(v)*1e3:.1f} ms" for n, v in times.items()}, "orig/swap per block", [f"{x:.3f}" for x in r], "median", f"{statistics.median(r):.3f}")
