"""ms per standard VGG training step (100 steps after 10) in a fresh process, and page
faults per step: run under different process settings (thp_ab.sh)."""
import resource
import time

from common import training_step

_, step = training_step("standard")
for t in range(10):
    step(t)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
for t in range(10, 110):
    step(t)
ms = (time.perf_counter() - start) * 10
print(f"{ms:.1f} ms/step, {(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / 100:.0f} faults/step")
