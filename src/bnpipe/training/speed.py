"""How the training step runs on its device: memory layout, compilation, precision and
determinism.

Four switches (params `speed`), each measured by `make bench` (docs/performance.md "Speed"):

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
  deterministic  CUDA: deterministic kernels only (cuDNN's and PyTorch's), so two runs of
                 one seed give the same bytes; with cuDNN's default fp32 convolutions they
                 differ from the first step on. Off by default: on an H100 (width 1.0,
                 fp32) the step takes 1.6x as long (0.61-0.62x the plain loop). A CPU's
                 kernels here are deterministic either way.

`make bench` on CUDA also times cuDNN autotuning (`StepPlan.autotune`), which has no
params key: measured on an H100, it was no faster (1.00x, standard and BN). Only VGG uses
the switches; the DLN (a 10x10 regression whose loss is ~1e4 at lr 1e-7) always runs plain
fp32 (its matrix products are cuBLAS's, deterministic on one GPU model). Snapshots and
checkpoints are saved in NCHW whatever the layout.

Probes are measurements, not training (`MeasurementForm`): always NCHW, eager, in the
precision `probe.precision` names per model (fp32 for VGG, fp64 for the DLN), with
training's determinism. channels_last is not round-off for a measurement: PyTorch's CPU
BatchNorm2d in fp32 is far less accurate in channels_last than in NCHW (one layer on a
(128, 8, 32, 32) input: 1.2e-5 against 5.7e-8 relative to fp64), and a probe that takes a
difference of two gradients (ICS, gradient predictiveness) amplifies that to 1e-2. In
NCHW every probe agrees with an fp64 computation to 1e-3 (tests/test_exactness.py); the
DLN's 2,980 parameters make fp64 free, and its fp32 gradient near convergence is 5e-3 off.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import os
from collections.abc import Callable, Iterator

import torch
from torch import nn

from bnpipe.models import noise_layers, set_step
from bnpipe.models.norms import keep_noise_eager
from bnpipe.params import Params, SpeedParams


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """The resolved switches of one training process (what run.json records)."""

    channels_last: bool = False
    compile: bool = False
    precision: str = "fp32"
    # cuDNN times each convolution's algorithms and keeps the fastest (CUDA only; exact
    # fp32 either way). `make bench` measures it; no params key: no faster on an H100
    autotune: bool = False
    # Deterministic kernels only (CUDA only; a CPU's kernels here already are): two runs
    # of one seed then give the same bytes, where cuDNN's default fp32 convolutions make
    # them differ from the first step on
    deterministic: bool = False

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
    return StepPlan(
        channels_last, settings.compile, settings.precision, deterministic=settings.deterministic
    )


PRECISIONS = {"fp32": torch.float32, "fp64": torch.float64}  # probe.precision -> dtype


@dataclasses.dataclass(frozen=True)
class MeasurementForm:
    """How probes (and training's lag record) compute: NCHW, eager, in `precision`."""

    precision: str = "fp32"  # a key of PRECISIONS
    deterministic: bool = False  # training's setting (CUDA kernels)
    # NCHW always in the pipeline; channels_last only to time what exactness costs
    # (bench.probe_cost), never to measure
    layout: str = "NCHW"

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    @property
    def plan(self) -> StepPlan:
        """The StepPlan whose backend settings the probes apply: plain fp32 kernels (no
        TF32), NCHW."""
        return StepPlan(deterministic=self.deterministic)

    def describe(self) -> str:
        return f"{self.layout}, {self.precision}, eager"


# What is computed in fp64 whatever probe.precision: quantities that are small
# differences of near-equal numbers, where fp32 loses more than 1e-3 of the difference.
#   moments, percentiles, lag shifts (activations, the lag record): one forward pass; a
#     shift of 1e-5 sd is 1e-2 off from fp32 activations
#   ICS (G - G', Definition 2.1) and Theorem 4.1's terms: one fp64 forward-backward for
#     the step's gradient, then ICS's passes; fp32 NCHW left G - G' 0.7-2.6% off fp64
#     mid-training (tests/test_exactness.py), fp64 costs ~6x per pass on a CPU
FP64 = MeasurementForm("fp64")


def measurement_form(params: Params, device: str, model: str) -> MeasurementForm:
    """The form the probes of a `model` run compute in on `device`."""
    training = resolve(params.speed, device, model)
    return MeasurementForm(params.probe.precision[model], training.deterministic)


def prepare_measurement(model: nn.Module, form: MeasurementForm) -> nn.Module:
    """The model in the measurement form: parameters and buffers in its dtype and layout;
    in fp64 every floating input is cast on entry (a forward pre-hook), so the task's
    fp32 batches need not know."""
    model.to(form.dtype)
    if form.layout == "channels_last":
        prepare(model, StepPlan(channels_last=True))
    if form.dtype != torch.float32:
        model.register_forward_pre_hook(functools.partial(_cast_input, dtype=form.dtype))
    return model


def copy_in(model: nn.Module, form: MeasurementForm) -> nn.Module:
    """`model` in `form`'s precision: the model itself where it is already, else a copy
    (state, noise step and all) in the model's own memory layout (the pipeline's probe
    models are NCHW, so their copies are)."""
    if next(model.parameters()).dtype == form.dtype:
        return model
    return prepare_measurement(copy.deepcopy(model), form)


def _cast_input(_module: nn.Module, args: tuple, dtype: torch.dtype) -> tuple:
    x, *rest = args
    return (x.to(dtype) if x.is_floating_point() else x, *rest)


def apply_backend(device: str, plan: StepPlan) -> None:
    """The plan's process-wide CUDA settings: full fp32 unless its precision is tf32
    (PyTorch's cuDNN default would use TF32 for convolutions), cuDNN autotuning and
    deterministic kernels.
    Building a TrainingStep applies them; probes apply their fp32 plan."""
    if str(device).startswith("cuda"):
        allow = plan.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow
        torch.backends.cudnn.benchmark = plan.autotune
        if plan.deterministic:
            # cuBLAS is deterministic only with a fixed workspace; PyTorch refuses
            # deterministic mode without this setting
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = plan.deterministic
        torch.use_deterministic_algorithms(plan.deterministic)


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
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.lr = lr
        self.forward_loss = forward_loss(model, task.loss, plan, device)

    def __call__(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.task.batch(t)
        self.model.train()
        set_step(self.noise, t)  # noisy variants draw step t's noise
        output, loss = self.forward_loss(x, y)
        for p in self.params:
            p.grad = None
        loss.backward()
        with_grad = [p for p in self.params if p.grad is not None]
        sgd_update(with_grad, [p.grad for p in with_grad], self.lr)
        return loss.detach(), self.task.accuracy(output.detach(), y)


def sgd_update(params: list[torch.Tensor], grads, lr: float) -> None:
    """Plain SGD, p <- p - lr * g in place (torch.optim.SGD's arithmetic without momentum
    or decay, bit for bit): training's update and the probes' replay of it. Not
    torch.optim.SGD itself: building one imports torch._dynamo, about 3 s a process."""
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            p.add_(g, alpha=-lr)


def forward_loss(
    model: nn.Module, loss: Callable, plan: StepPlan, device: str
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) -> (output, loss) of the training step, in the plan's precision and,
    with `compile`, compiled once here."""

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _autocast(plan, device):
            output = model(x)
            return output, loss(output.float(), y)

    if not plan.compile:
        return step
    keep_noise_eager()
    return torch.compile(step)


@contextlib.contextmanager
def _autocast(plan: StepPlan, device: str) -> Iterator[None]:
    if plan.precision != "bf16":
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        yield
