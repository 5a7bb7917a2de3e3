"""Per-layer convolution time of the standard VGG's training step, NCHW against channels_last."""
import sys, torch, yaml, time, statistics
from torch.profiler import profile, ProfilerActivity
from bnpipe import speed
from bnpipe.models import build_model
from bnpipe.params import load_params, RunSpec
from bnpipe.tasks import CifarTask
torch.set_num_threads(1)
params = load_params(yaml.safe_load(open('/work/pc/P.yaml')))
task = CifarTask("/work/pc/prep/cifar10.npz", None, 128, 0, "cpu")
spec = RunSpec("vgg", "standard", 0.1, 0)
for cl in (True, False):
    plan = speed.StepPlan(channels_last=cl)
    model = speed.prepare(build_model(spec, params), plan)
    s = speed.TrainingStep(model, task, 0.1, plan, "cpu")
    for t in range(3): s(t)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
        for t in range(3, 13): s(t)
    rows = [e for e in p.key_averages(group_by_input_shape=True) if e.key in ("aten::mkldnn_convolution", "aten::convolution_backward")]
    print("channels_last" if cl else "NCHW")
    for e in sorted(rows, key=lambda e: (e.key, str(e.input_shapes))):
        print(f"  {e.key:28s} {str(e.input_shapes[:2])[:70]:70s} {e.cpu_time_total/e.count/1e3:7.2f} ms")
