"""Is a mode's ratio to the plain loop biased by its position in the bench's fixed order?
The plain loop, then three copies of the default plan (A, B, C), in that order every
repeat, timed as the bench times (bench._timed): python position.py VARIANT REPEATS."""
import statistics
import sys

import torch

from bnpipe import speed
from bnpipe.bench import _plain_loop, _timed
from bnpipe.models import build_model
from bnpipe.params import RunSpec
from common import PARAMS, PLAN, TASK

variant, repeats = sys.argv[1], int(sys.argv[2])
spec = RunSpec("vgg", variant, 0.1, 0)
images, labels = TASK.data.batch(torch.arange(TASK.data.n_train))
steppers = {"plain": _plain_loop(build_model(spec, PARAMS), images, labels, 128, spec.lr)}
for copy in "ABC":
    model = speed.prepare(build_model(spec, PARAMS), PLAN)
    steppers[copy] = speed.TrainingStep(model, TASK, spec.lr, PLAN, "cpu")
seconds = {name: [] for name in steppers}
for r in range(repeats):
    for name, step in steppers.items():
        seconds[name].append(_timed(step, r * 23, 20, "cpu"))
for copy in "ABC":
    ratios = [p / t for p, t in zip(seconds["plain"], seconds[copy])]
    print(
        f"{copy} median ratio {statistics.median(ratios):.3f}, "
        f"{1e3 * statistics.median(seconds[copy]):.1f} ms; blocks "
        + " ".join(f"{x:.2f}" for x in ratios)
    )
print(f"plain loop {1e3 * statistics.median(seconds['plain']):.1f} ms")
