"""How the training step runs on its device: memory layout, compilation and precision.

Three switches (params `speed`), each measured by `make bench` (README "Speed"):

  channels_last  convolutions on NHWC tensors. The same arithmetic by other kernels: each
                 operation agrees with the NCHW one to fp32 round-off, not bit for bit
                 (BatchNorm's output within about 1e-6, relative). `auto` turns it on
                 where it was measured faster: the CPU (VGG width 0.125, batch 128, one
                 thread: BN 1.3-1.4x, standard 1.2-1.4x); off on CUDA, where it was
                 measured slower (H100, width 1.0, fp32: 0.86-0.90x).
  compile        torch.compile of the forward pass and loss. Off by default: no faster
                 on a CPU at 3,000 steps, and slower on an H100 in fp32 (0.89-0.93x).
  precision      fp32: full fp32 everywhere, TF32 off on CUDA too (PyTorch lets cuDNN
                 convolutions use TF32 unless told not to) | tf32: CUDA matmuls and
                 convolutions in TF32 | bf16: autocast to bfloat16. Neither of the last
                 two is round-off, so both are opt-in and the report says when a run used one.

`make bench` on CUDA also times cuDNN autotuning (`StepPlan.autotune`), which has no
params key yet: it has not been measured on a GPU. Only VGG uses the switches; the DLN
(a 10x10 regression whose loss is ~1e4 at lr 1e-7) always runs plain fp32. Probes use
training's memory layout but always fp32 and eager (`probe_plan`); snapshots and
checkpoints are saved in NCHW whatever the layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

import torch
from torch import nn

from bnpipe.models import noise_layers, set_step
from bnpipe.params import SpeedParams


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """The resolved switches of one training process (what run.json records)."""

    channels_last: bool = False
    compile: bool = False
    precision: str = "fp32"
    # cuDNN times each convolution's algorithms and keeps the fastest (CUDA only; exact
    # fp32 either way). `make bench` measures it; no params key until it is measured
    # faster (the H100's fp32 step spends about a third in one slow backward kernel).
    autotune: bool = False

    @property
    def exact(self) -> bool:
        """True when results differ from plain fp32 by round-off only."""
        return self.precision == "fp32"


def resolve(settings: SpeedParams, device: str, model: str) -> StepPlan:
    """The switches that apply to `model` on `device` (a torch device string)."""
    if model != "vgg":
        return StepPlan()
    on_cuda = str(device).startswith("cuda")
    if settings.channels_last == "auto":
        channels_last = not on_cuda  # measured faster on CPU only (module docstring)
    else:
        channels_last = settings.channels_last == "always"
    if settings.precision == "tf32" and not on_cuda:
        raise ValueError("speed.precision: tf32 is a CUDA mode; on a CPU use fp32 or bf16")
    return StepPlan(channels_last, settings.compile, settings.precision)


def probe_plan(training: StepPlan) -> StepPlan:
    """What probes run with: training's memory layout (a replayed step then equals
    training's bit for bit in fp32), always fp32 and eager."""
    return StepPlan(channels_last=training.channels_last)


def apply_backend(device: str, plan: StepPlan) -> None:
    """The plan's process-wide CUDA settings: full fp32 unless its precision is tf32
    (PyTorch's cuDNN default would use TF32 for convolutions), and cuDNN autotuning.
    Building a TrainingStep applies them; probes apply their fp32 plan."""
    if str(device).startswith("cuda"):
        allow = plan.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow
        torch.backends.cudnn.benchmark = plan.autotune


def prepare(model: nn.Module, plan: StepPlan) -> nn.Module:
    """Put the model in the plan's memory layout; with channels_last every input is
    converted on entry (a forward pre-hook), so the task's batches need not know."""
    if plan.channels_last:
        model.to(memory_format=torch.channels_last)
        model.register_forward_pre_hook(_to_channels_last)
    return model


def _to_channels_last(_module: nn.Module, args: tuple) -> tuple:
    x, *rest = args
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *rest)


def nchw_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict on the CPU in the default (NCHW) layout: snapshots and
    checkpoints look the same whatever the training layout."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


class TrainingStep:
    """bnpipe's training step t: step t's batch and noise, forward and loss in the plan's
    precision, backward, plain SGD at `lr`. Returns (loss, accuracy) on the device, so
    the caller syncs only when it logs. train_run and the benchmark call this same code.
    Building one applies the plan's process-wide CUDA settings (`apply_backend`)."""

    def __init__(self, model: nn.Module, task, lr: float, plan: StepPlan, device: str):
        apply_backend(device, plan)  # else cuDNN's default: TF32 convolutions
        self.model, self.task = model, task
        self.noise = noise_layers(model)  # found once: set_step runs every step
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)  # no momentum, no decay
        self.forward_loss = forward_loss(model, task.loss, plan, device)

    def __call__(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.task.batch(t)
        self.model.train()
        set_step(self.noise, t)  # noisy variants draw step t's noise
        output, loss = self.forward_loss(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), self.task.accuracy(output.detach(), y)


def forward_loss(
    model: nn.Module, loss: Callable, plan: StepPlan, device: str
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) -> (output, loss) of the training step, in the plan's precision and,
    with `compile`, compiled once here."""

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _autocast(plan, device):
            output = model(x)
            return output, loss(output.float(), y)

    return torch.compile(step) if plan.compile else step


@contextlib.contextmanager
def _autocast(plan: StepPlan, device: str) -> Iterator[None]:
    if plan.precision != "bf16":
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        yield
