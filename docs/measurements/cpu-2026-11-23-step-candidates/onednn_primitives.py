"""oneDNN's implementation and time of every primitive in one standard VGG training step
(ONEDNN_VERBOSE through torch.backends.mkldnn.verbose), after 3 warm-up steps."""
import torch

from common import training_step

_, step = training_step("standard")
for t in range(3):
    step(t)
with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
    step(3)
