import sys, torch, yaml
from torch.profiler import profile, ProfilerActivity
from bnpipe import speed
from bnpipe.models import build_model
from bnpipe.params import load_params, RunSpec
from bnpipe.tasks import CifarTask
torch.set_num_threads(1)
params = load_params(yaml.safe_load(open('/work/pc/P.yaml')))
task = CifarTask("/work/pc/prep/cifar10.npz", None, 128, 0, "cpu")
spec = RunSpec("vgg", sys.argv[1], 0.1, 0)
plan = speed.resolve(params.speed, "cpu", "vgg")
model = speed.prepare(build_model(spec, params), plan)
s = speed.TrainingStep(model, task, 0.1, plan, "cpu")
for t in range(5): s(t)
with profile(activities=[ProfilerActivity.CPU]) as p:
    for t in range(5, 25): s(t)
print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=22))
