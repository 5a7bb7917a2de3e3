"""The training step's switches (bnpipe.training.speed): which apply where, and that the layout
switch changes nothing but round-off."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from conftest import raw_params

from bnpipe.models import build_model, noise_layers, set_step
from bnpipe.params import ParamsError, RunSpec, SpeedParams, load_params
from bnpipe.training import speed


def test_auto_layout_is_on_where_measured_faster_and_the_dln_stays_plain():
    auto = SpeedParams("auto", False, "fp32", False)
    assert speed.resolve(auto, "cpu", "vgg") == speed.StepPlan(channels_last=True)
    assert speed.resolve(auto, "cuda", "vgg") == speed.StepPlan(channels_last=False)
    never = SpeedParams("never", False, "fp32", False)
    assert speed.resolve(never, "cpu", "vgg").channels_last is False
    every_switch = SpeedParams("always", True, "bf16", True)
    assert speed.resolve(every_switch, "cpu", "dln") == speed.StepPlan()
    bf16 = speed.resolve(SpeedParams("always", False, "bf16", True), "cpu", "vgg")
    assert not bf16.exact and bf16.deterministic
    with pytest.raises(ValueError, match="tf32 is a CUDA mode"):
        speed.resolve(SpeedParams("auto", False, "tf32", False), "cpu", "vgg")


def test_probes_measure_in_nchw_at_their_models_precision_whatever_training_used():
    raw = raw_params("smoke")
    raw["speed"] = {**raw["speed"], "channels_last": "always", "precision": "bf16"}
    raw["speed"]["deterministic"] = True
    params = load_params(raw)
    vgg, dln = (speed.measurement_form(params, "cpu", m) for m in ("vgg", "dln"))
    assert vgg == speed.MeasurementForm("fp32", deterministic=True)
    assert vgg.plan == speed.StepPlan(deterministic=True)  # NCHW, fp32, no TF32
    assert dln.dtype == torch.float64 and dln.describe() == "NCHW, fp64, eager"
    model = speed.prepare_measurement(
        build_model(params.run("dln-batchnorm-lr1e-06-s0"), params), dln
    )
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model(torch.randn(4, 10)).dtype == torch.float64  # fp32 input cast on entry
    raw["probe"]["precision"] = {"vgg": "fp16", "dln": "fp64"}
    with pytest.raises(ParamsError, match="probe.precision.vgg"):
        load_params(raw)


def test_a_bad_switch_is_refused_with_its_key():
    raw = raw_params("smoke")
    raw["speed"]["precision"] = "fp16"
    with pytest.raises(ParamsError, match="speed.precision"):
        load_params(raw)
    raw = raw_params("smoke")
    raw["speed"]["compile"] = "yes"
    with pytest.raises(ParamsError, match="speed.compile: expected true or false"):
        load_params(raw)


def _pair(variant: str):
    params = load_params(raw_params("smoke"))
    spec = RunSpec("vgg", variant, 0.1, 0)
    nchw = build_model(spec, params)
    nhwc = speed.prepare(copy.deepcopy(nchw), speed.StepPlan(channels_last=True))
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, 32, 32, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    return nchw, nhwc, x, y


@pytest.mark.parametrize("variant", ["standard", "batchnorm", "noisy_batchnorm", "l1"])
def test_channels_last_is_the_same_forward_pass_to_round_off(variant):
    nchw, nhwc, x, y = _pair(variant)
    for model in (nchw, nhwc):
        set_step(noise_layers(model), 3)  # noisy BN: the same draws in either layout
    a, b = nchw(x), nhwc(x)
    # fp32 round-off (~6e-8 per operation) grown through 8 layers: measured 5e-7 (standard)
    # to 8e-6 (BN, whose batch statistics amplify it); a wrong layout or noise is O(1)
    assert ((b - a).norm() / a.norm()).item() < 5e-5


def test_one_channels_last_step_updates_the_weights_as_nchw_does():
    """Standard VGG: one SGD step's loss and new weights agree to fp32 round-off (BN
    networks at initialization amplify round-off in the backward pass: there even fp32
    and fp64 gradients differ by about 1e-3, so the forward test above is theirs)."""
    nchw, nhwc, x, y = _pair("standard")
    for model in (nchw, nhwc):
        step = speed.forward_loss(model, F.cross_entropy, speed.StepPlan(), "cpu")
        _, loss = step(x, y)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-0.1)
    for (name, a), b in zip(nchw.state_dict().items(), nhwc.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)


def test_snapshots_are_saved_in_nchw_whatever_the_training_layout():
    nchw, nhwc, _, _ = _pair("batchnorm")
    conv = next(k for k, v in nhwc.state_dict().items() if v.dim() == 4)
    assert not nhwc.state_dict()[conv].is_contiguous()
    state = speed.nchw_state(nhwc)
    assert all(v.is_contiguous() for v in state.values())
    assert all(torch.equal(state[k], v) for k, v in nchw.state_dict().items())


def test_bf16_autocast_runs_the_forward_pass_in_bf16_and_the_loss_in_fp32():
    nchw, _, x, y = _pair("batchnorm")
    plan = speed.StepPlan(precision="bf16")
    output, loss = speed.forward_loss(nchw, F.cross_entropy, plan, "cpu")(x, y)
    assert output.dtype == torch.bfloat16 and loss.dtype == torch.float32


def test_building_a_training_step_applies_its_plans_cuda_settings():
    """cuDNN runs fp32 convolutions in TF32 unless told not to: every process that trains
    (a run, each concurrent-jobs worker of the benchmark) must set the plan's precision.
    The flags are plain settings, so this runs without a GPU."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.allow_tf32, matmul.allow_tf32, cudnn.benchmark, cudnn.deterministic
    task = SimpleNamespace(loss=F.mse_loss)
    try:
        cudnn.allow_tf32 = True  # PyTorch's default
        speed.TrainingStep(torch.nn.Linear(2, 2), task, 0.1, speed.StepPlan(), "cuda")
        assert (cudnn.allow_tf32, matmul.allow_tf32) == (False, False)
        tf32 = speed.StepPlan(precision="tf32")
        speed.TrainingStep(torch.nn.Linear(2, 2), task, 0.1, tf32, "cuda")
        assert (cudnn.allow_tf32, matmul.allow_tf32, cudnn.benchmark) == (True, True, False)
        autotuned = speed.StepPlan(autotune=True)
        speed.TrainingStep(torch.nn.Linear(2, 2), task, 0.1, autotuned, "cuda")
        assert (cudnn.allow_tf32, cudnn.benchmark) == (False, True)
        assert not torch.are_deterministic_algorithms_enabled() and not cudnn.deterministic
        deterministic = speed.StepPlan(deterministic=True)
        speed.TrainingStep(torch.nn.Linear(2, 2), task, 0.1, deterministic, "cuda")
        assert torch.are_deterministic_algorithms_enabled() and cudnn.deterministic
        speed.TrainingStep(torch.nn.Linear(2, 2), task, 0.1, speed.StepPlan(), "cuda")
        assert not torch.are_deterministic_algorithms_enabled() and not cudnn.deterministic
    finally:
        cudnn.allow_tf32, matmul.allow_tf32, cudnn.benchmark, cudnn.deterministic = saved
        torch.use_deterministic_algorithms(False)


def test_the_report_says_which_switches_the_vgg_runs_trained_with():
    from bnpipe.report.page import _training_step

    def record(model: str, **plan) -> dict:
        return {"model": model, "provenance": {"speed": plan}}

    records = [
        record("vgg", channels_last=True, precision="fp32", deterministic=True),
        record("vgg", channels_last=False, precision="bf16", deterministic=False),
        record("dln", deterministic=True),  # the DLN has no switches: not counted
    ]
    text = _training_step(records)
    assert "NCHW layout in 1 VGG runs, channels_last in 1" in text
    assert "deterministic kernels only in 1" in text
    assert "Reduced precision:</strong> bf16 in 1 runs" in text
    plain = _training_step([record("vgg", channels_last=True, precision="fp32")])
    assert "deterministic" not in plain and "Every run trained in full fp32" in plain


def test_the_report_names_the_form_each_probe_computed_in():
    from bnpipe.report.page import _probe_forms

    raw = raw_params("smoke")
    raw["probe"]["precision"] = {"vgg": "fp64", "dln": "fp64"}
    text = _probe_forms(load_params(raw))
    assert "VGG in fp64, the DLN in fp64" in text
    text = _probe_forms(load_params(raw_params("smoke")))
    assert "in NCHW, eager, VGG in fp32, the DLN in fp64" in text
    for probe in ("landscapes", "sharpness", "clean statistics", "activation", "ICS", "Theorem"):
        assert probe in text
    assert text.index("ICS") > text.index("probe.precision")  # ICS is among the fp64 ones
    assert "NCHW, fp64, eager" in text


def test_a_job_that_never_compiles_never_imports_dynamo(monkeypatch):
    """torch._dynamo costs about 3 s of every process's start: the training and probe
    jobs do not import it, nor does a training step (torch.optim.SGD's constructor
    would); a compiled step marks the noise eager first, and the noise then draws the
    same values."""
    import subprocess
    import sys
    import textwrap

    check = textwrap.dedent("""
        import sys, types, torch
        import bnpipe.probes.runner
        from bnpipe.training.speed import StepPlan, TrainingStep
        model = torch.nn.Sequential(torch.nn.Linear(3, 2))
        x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
        task = types.SimpleNamespace(
            batch=lambda t: (x, y), loss=torch.nn.functional.cross_entropy,
            accuracy=lambda out, y: (out.argmax(1) == y).float().mean())
        step = TrainingStep(model, task, 0.1, StepPlan(), "cpu")
        before = model[0].weight.clone()
        step(0)
        assert not torch.equal(model[0].weight, before)
        print('torch._dynamo' in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]

    import torch

    from bnpipe.models.norms import AlgorithmOneNoise, keep_noise_eager

    params = load_params(raw_params("smoke"))
    layer = AlgorithmOneNoise(params.noise, layer=3, seed=7)
    layer.step = 5
    x = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    before = layer(x)
    monkeypatch.setattr(AlgorithmOneNoise, "forward", AlgorithmOneNoise.forward)  # restored after
    keep_noise_eager()
    keep_noise_eager()  # once is enough; twice changes nothing
    assert AlgorithmOneNoise.forward._bnpipe_eager
    assert AlgorithmOneNoise.forward.__wrapped__.__name__ == "forward"
    assert torch.equal(layer(x), before)


def test_the_sgd_update_is_torch_optim_sgds_bit_for_bit():
    """Training's update (speed.sgd_update) against torch.optim.SGD without momentum, on
    the same gradients over 5 steps: the same bits."""
    torch.manual_seed(0)
    ours = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    theirs = copy.deepcopy(ours)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.37)
    for t in range(5):
        x = torch.randn(16, 7, generator=torch.Generator().manual_seed(t))
        y = torch.arange(16) % 3
        for model in (ours, theirs):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
        speed.sgd_update(list(ours.parameters()), [p.grad for p in ours.parameters()], 0.37)
        optimizer.step()
        for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert torch.equal(a, b)
