"""Where the standard VGG's training step spends its time, by operator and input shape
(torch.profiler, 30 steps after 10): python profile_step.py [VARIANT]."""
import sys

from torch.profiler import ProfilerActivity, profile

from common import training_step

_, step = training_step(sys.argv[1] if len(sys.argv) > 1 else "standard")
for t in range(10):
    step(t)
with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    for t in range(10, 40):
        step(t)
print("30 steps; divide by 30 for per step")
print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=45, max_name_column_width=40, max_shapes_column_width=70))
