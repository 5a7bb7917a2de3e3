"""The probes against known answers: ICS (Definition 2.1), the landscape along g,
Lanczos sharpness and the Theorem 4.1 identity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, raw_params

from bnpipe.models import build_model, noise_layers, set_step
from bnpipe.models.dln import DLN
from bnpipe.models.state import frozen_stats, preserved_state
from bnpipe.params import RunSpec, SharpnessParams, load_params
from bnpipe.probe_registry import make_probes
from bnpipe.probes.context import SnapshotContext
from bnpipe.probes.curvature import SharpnessProbe, lanczos_top
from bnpipe.probes.ics import (
    affine_parameters,
    ics_gradient_sets,
    ics_gradients,
    ics_metrics,
    ics_reference,
    measured_parameters,
)
from bnpipe.probes.landscape import LandscapeProbe, along, random_direction
from bnpipe.probes.replay import StepReplay, flat, gaussian_like
from bnpipe.probes.theory import theorem41_sides


def sum_squares(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (output - y).pow(2).sum()


def _data(n: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, width, generator=gen), torch.randn(n, width, generator=gen)


def _vgg_replay(variant: str, lr: float = 0.1) -> StepReplay:
    params = load_params(raw_params("smoke"))
    model = build_model(RunSpec("vgg", variant, lr, 0), params)
    set_step(noise_layers(model), 3)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 3, 32, 32, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    return StepReplay(model, x, y, torch.nn.functional.cross_entropy, lr, chunk_size=4)


# --- ICS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["vgg", "dln"])
def test_ics_compares_the_same_parameter_set_in_every_variant(model):
    """W_i is the layer's weight alone, with or without a normalization: gamma and beta
    (which only a normalized network has) are kept apart."""
    params = load_params(raw_params("smoke"))
    lr = 0.1 if model == "vgg" else 1e-6
    names = {}
    for variant in ("standard", "batchnorm", "l1"):
        net = build_model(RunSpec(model, variant, lr, 0), params)
        names[variant] = measured_parameters(net)
        affine = affine_parameters(net)
        assert all(not layer for layer in affine) == (variant == "standard")
    assert names["standard"] == names["batchnorm"] == names["l1"]
    assert all(len(layer) == 1 and layer[0].endswith("weight") for layer in names["standard"])


def test_ics_of_gamma_and_beta_comes_from_the_same_passes():
    replay = _vgg_replay("batchnorm")
    with frozen_stats(replay.model):
        sets = [measured_parameters(replay.model), affine_parameters(replay.model)]
        weights, affine = ics_gradient_sets(replay, sets)
        alone = ics_gradients(replay)
    for (g, gp), (h, hp) in zip(weights, alone, strict=True):
        assert torch.equal(g, h) and torch.equal(gp, hp)
    norms = [n for n, _ in replay.model.named_parameters() if ".norm." in n]
    assert sum(g.numel() for g, _ in affine) == sum(
        p.numel() for n, p in replay.model.named_parameters() if n in norms
    )
    assert affine[-1][0].numel() == 0  # the classifier has no normalization


@pytest.mark.parametrize("variant", ["standard", "batchnorm", "noisy_batchnorm", "l2"])
def test_ics_is_zero_at_layer_one_and_the_shared_prefix_method_equals_the_definition(variant):
    replay = _vgg_replay(variant)
    with frozen_stats(replay.model):
        fast, slow = ics_gradients(replay), ics_reference(replay)
    assert len(fast) == 14  # 13 conv blocks and the classifier
    g1, g1_prime = fast[0]
    assert torch.equal(g1, g1_prime)  # layer 1: nothing before it moves
    assert ics_metrics(g1, g1_prime)["l2"] == 0.0
    for (g, gp), (g_ref, gp_ref) in zip(fast, slow, strict=True):
        assert torch.equal(g, g_ref)
        torch.testing.assert_close(gp, gp_ref, rtol=1e-5, atol=1e-7)
    assert any(ics_metrics(g, gp)["l2"] > 0 for g, gp in fast[1:])  # updates do shift


def test_ics_is_exactly_zero_when_earlier_layers_get_a_zero_update():
    replay = _vgg_replay("batchnorm", lr=0.0)  # the step-t update moves nothing
    with frozen_stats(replay.model):
        for g, g_prime in ics_gradients(replay):
            assert torch.equal(g, g_prime)


def test_ics_of_a_two_layer_linear_network_matches_the_closed_form():
    torch.set_default_dtype(torch.float64)
    try:
        model = DLN(layers=2, width=3, variant="standard", seed=0)
    finally:
        torch.set_default_dtype(torch.float32)
    x, y = (t.double() for t in _data(20, 3))
    lr = 0.01
    replay = StepReplay(model, x, y, sum_squares, lr, chunk_size=4)
    (g1, g1p), (g2, g2p) = ics_gradients(replay)
    # L = ||X W1^T W2^T - Y||^2 with rows as examples; R = X W1^T W2^T - Y.
    w1, w2 = (b.layer.weight.detach() for b in model.blocks)
    r = x @ w1.T @ w2.T - y
    grad_w1 = 2 * w2.T @ r.T @ x
    grad_w2 = 2 * r.T @ (x @ w1.T)
    w1_new = w1 - lr * grad_w1
    grad_w2_prime = 2 * (x @ w1_new.T @ w2.T - y).T @ (x @ w1_new.T)
    torch.testing.assert_close(g1, grad_w1.reshape(-1))
    torch.testing.assert_close(g1p, grad_w1.reshape(-1))  # layer 1: G' = G
    torch.testing.assert_close(g2, grad_w2.reshape(-1))
    torch.testing.assert_close(g2p, grad_w2_prime.reshape(-1))
    assert not torch.allclose(g2, g2p)


# --- landscape and sharpness on a quadratic ----------------------------------------------


def _quadratic() -> tuple[StepReplay, torch.Tensor]:
    """A one-matrix linear regression: its loss is exactly quadratic in the weights.
    Returns the replay and the full Hessian (fp64) from autograd."""
    model = DLN(layers=1, width=4, variant="standard", seed=0)
    x, y = _data(50, 4)
    replay = StepReplay(model, x, y, sum_squares, lr=0.01, chunk_size=3)
    w = model.blocks[0].layer.weight.detach().double()

    def loss(flat_w: torch.Tensor) -> torch.Tensor:
        return sum_squares(x.double() @ flat_w.view(4, 4).T, y.double())

    return replay, torch.autograd.functional.hessian(loss, w.reshape(-1))


@pytest.mark.parametrize("batched", [True, False])
def test_effective_beta_on_a_quadratic_is_the_hessian_gain_at_every_step_size(batched):
    replay, hessian = _quadratic()
    g = flat(replay.grad0)
    expected = ((hessian @ g).norm() / g.norm()).item()
    etas = [0.001, 0.01, 0.1, 1.0]
    _, dist = along(replay, replay.grad0, etas, batched=batched)
    for eta, d in zip(etas, dist, strict=True):
        assert d / (eta * g.norm().item()) == pytest.approx(expected, rel=1e-4)
    # A random direction d: ||grad(theta - eta d) - g|| = eta ||H d||.
    direction = random_direction(replay, seed=0, step=5)
    assert flat(direction).norm().item() == pytest.approx(g.norm().item(), rel=1e-6)
    _, dist = along(replay, direction, etas, batched=batched)
    hd = (hessian @ flat(direction)).norm().item()
    for eta, dst in zip(etas, dist, strict=True):
        assert dst == pytest.approx(eta * hd, rel=1e-4)


def _quadratic_ctx(replay: StepReplay, step: int) -> SnapshotContext:
    params = load_params(raw_params("smoke"))
    spec = RunSpec("dln", "standard", replay.lr, 0)
    task = _Task(replay.x, replay.y, replay.loss_fn)
    ctx = SnapshotContext(spec, params, step, replay.model, replay.x, replay.y, task)
    ctx.replay = replay  # the cached property, given
    return ctx


def test_the_landscape_probe_reports_bands_and_beta_of_the_quadratic():
    replay, hessian = _quadratic()
    g = flat(replay.grad0)
    params = load_params(raw_params("smoke"))
    rows = {
        m: v
        for _, m, v in LandscapeProbe(params.probe.landscape).measure(_quadratic_ctx(replay, 0))
    }
    assert rows["beta"] == pytest.approx(((hessian @ g).norm() / g.norm()).item(), rel=1e-4)
    losses = [v for m, v in rows.items() if m.startswith("loss@")]
    gpred = [v for m, v in rows.items() if m.startswith("gpred@")]
    assert len(losses) == len(gpred) == params.probe.landscape.points
    assert rows["loss_min"] == min(losses) and rows["loss_max"] == max(losses)
    assert rows["gpred_min"] == min(gpred) and rows["gpred_max"] == max(gpred)


def test_the_sharpness_probe_warm_starts_from_the_previous_snapshot():
    replay, hessian = _quadratic()
    top = torch.linalg.eigvalsh(hessian)[-1].item()
    probe = SharpnessProbe(SharpnessParams(max_products=16, tolerance=1e-6))
    first = {m: v for _, m, v in probe.measure(_quadratic_ctx(replay, 0))}
    second = {m: v for _, m, v in probe.measure(_quadratic_ctx(replay, 1))}
    assert first["top_eig"] == pytest.approx(top, rel=1e-5) and first["converged"] == 1
    assert first["products"] > 2 and first["rel_residual"] <= 1e-6
    # from the previous snapshot's vector, the same Hessian needs one or two products
    assert second["top_eig"] == pytest.approx(top, rel=1e-5) and second["products"] <= 2
    assert second["two_over_lr"] == 2 / replay.lr


def _dominant_negative() -> tuple[StepReplay, torch.Tensor]:
    """A two-layer linear net (fp64) under the negated squared loss: its Hessian's
    largest-magnitude eigenvalue is negative and about 500 times the largest one, which
    is what power iteration finds instead. Returns the replay and the full Hessian."""
    model = DLN(layers=2, width=3, variant="standard", seed=0).double()
    with torch.no_grad():
        model.blocks[0].layer.weight.mul_(4.0)
        model.blocks[1].layer.weight.mul_(0.05)
    x, y = (t.double() for t in _data(40, 3))

    def negated(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -sum_squares(output, target)

    replay = StepReplay(model, x, y, negated, lr=0.01, chunk_size=3)
    names = list(replay.params)
    sizes = [replay.params[n].numel() for n in names]
    shapes = [replay.params[n].shape for n in names]

    def loss(w: torch.Tensor) -> torch.Tensor:
        w1, w2 = (p.view(s) for p, s in zip(torch.split(w, sizes), shapes, strict=True))
        return negated(x @ w1.T @ w2.T, y)

    w = torch.cat([replay.params[n].detach().reshape(-1) for n in names])
    return replay, torch.autograd.functional.hessian(loss, w)


def test_lanczos_finds_the_largest_eigenvalue_where_the_dominant_one_is_negative():
    replay, hessian = _dominant_negative()
    eigs = torch.linalg.eigvalsh(hessian)
    assert -eigs[0] > 100 * eigs[-1] > 0  # the dominant eigenvalue is negative
    start = gaussian_like(replay.params, 0, 0, "sharpness")
    top = lanczos_top(replay.hvp_operator(), start, hessian.shape[0], 1e-8)
    assert top.converged and top.rel_residual <= 1e-8
    assert top.value == pytest.approx(eigs[-1].item(), rel=1e-6)
    # too few products for the tolerance: flagged, never passed off as converged
    short = lanczos_top(replay.hvp_operator(), start, 2, 1e-8)
    assert not short.converged and short.products == 2 and short.rel_residual > 1e-8


def test_unconverged_sharpness_is_kept_out_of_the_curves():
    from bnpipe.analysis.analyze import _flag_unconverged

    rows = pd.DataFrame(
        [("r", 0, 0, "sharpness", "top_eig", 5.0), ("r", 0, 0, "sharpness", "converged", 0.0),
         ("r", 9, 0, "sharpness", "top_eig", 7.0), ("r", 9, 0, "sharpness", "converged", 1.0)],
        columns=["run", "step", "layer", "probe", "metric", "value"],
    )  # fmt: skip
    out = _flag_unconverged(rows)
    assert out[out.metric == "top_eig"].step.tolist() == [9]
    assert out[out.metric == "top_eig_unconverged"].value.tolist() == [5.0]


# --- Theorem 4.1 ---------------------------------------------------------------------------


def _bn_case(shape, eps):
    """A BN layer in fp64 with unit variances spread over 0.01..9 (so eps matters for some),
    any loss downstream of its output; returns (y, g = dL/dz, dL/dy, gamma)."""
    gen = torch.Generator().manual_seed(0)
    channels = shape[1]
    scale = torch.logspace(-1, 0.5, channels, dtype=torch.float64).view(
        1, -1, *[1] * (len(shape) - 2)
    )
    y = (torch.randn(shape, generator=gen, dtype=torch.float64) * scale + 1).requires_grad_()
    gamma = torch.rand(channels, generator=gen, dtype=torch.float64) + 0.5
    beta = torch.randn(channels, generator=gen, dtype=torch.float64)
    z = torch.nn.functional.batch_norm(y, None, None, gamma, beta, training=True, eps=eps)
    weights = torch.randn(shape, generator=gen, dtype=torch.float64)
    loss = (weights * z.tanh()).sum()
    g, grad_y = torch.autograd.grad(loss, [z, y])
    return y.detach(), g, grad_y, gamma


@pytest.mark.parametrize("shape", [(64, 6), (8, 5, 4, 4)])
@pytest.mark.parametrize("eps", [1e-2, 1e-5])
def test_theorem41_eps_exact_identity_holds_to_round_off_in_fp64(shape, eps):
    y, g, grad_y, gamma = _bn_case(shape, eps)
    sides = theorem41_sides(y, g, grad_y, gamma, eps)
    assert bool(sides["live"].all())
    torch.testing.assert_close(sides["lhs"], sides["rhs"], rtol=1e-10, atol=0)
    # the reduction factor is its definition: ||dL/dy||^2 / ||g||^2, unit by unit
    torch.testing.assert_close(sides["reduction"], sides["lhs"] / sides["g_sq"], rtol=1e-10, atol=0)
    # the eps-free form misses by about eps / sigma^2 where the variance is small
    eps_free = ((sides["lhs"] - sides["rhs_eps_free"]).abs() / sides["lhs"]).max()
    if eps == 1e-2:
        assert eps_free > 1e-2
    printed = ((sides["lhs"] - sides["rhs_printed"]).abs() / sides["lhs"]).max()
    assert printed > 1e-2  # the printed 1/sqrt(m) form is not the identity


def test_theorem41_eps_free_form_is_the_eps_to_zero_limit():
    y, g, grad_y, gamma = _bn_case((64, 6), 1e-30)
    sides = theorem41_sides(y, g, grad_y, gamma, 1e-30)
    torch.testing.assert_close(sides["lhs"], sides["rhs_eps_free"], rtol=1e-10, atol=0)


@pytest.mark.parametrize("variant", ["batchnorm", "noisy_batchnorm"])
def test_the_steps_gradient_pass_gives_each_batchnorm_layers_input_and_gradients(variant):
    """Theorem 4.1's probe reads y, dL/dy and dL/dz from the forward-backward that gives
    the step's gradient: the same numbers, bit for bit, as a pass of its own through the
    model (forward hooks, autograd to the layers' inputs and outputs), and the gradient
    still torch.func.grad's."""
    replay = _vgg_replay(variant)
    with frozen_stats(replay.model):
        layers = [m for m in replay.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        seen = {}
        handles = [
            m.register_forward_hook(lambda m, args, out: seen.__setitem__(m, (args[0], out)))
            for m in layers
        ]
        loss = replay.loss_fn(replay.model(replay.x), replay.y)
        for handle in handles:
            handle.remove()
        own = torch.autograd.grad(loss, [t for m in layers for t in seen[m]])
        io = replay.batchnorm_io
        by_func = torch.func.grad(replay.loss)(replay.params)
    assert list(io) == layers and len(layers) == 13
    for i, m in enumerate(layers):
        assert torch.equal(io[m].y, seen[m][0].detach())
        assert torch.equal(io[m].grad_y, own[2 * i]) and torch.equal(io[m].grad_z, own[2 * i + 1])
    assert all(torch.equal(replay.grad0[k], by_func[k]) for k in by_func)


# --- the whole suite ------------------------------------------------------------------------


class _Task:
    def __init__(self, x, y, loss):
        self.x, self.y, self.loss = x, y, loss

    def batch(self, step):
        return self.x, self.y


@pytest.mark.parametrize(
    "spec",
    [
        RunSpec("vgg", "noisy_batchnorm", 0.1, 0),
        RunSpec("vgg", "l1", 0.1, 0),
        RunSpec("dln", "batchnorm", 1e-6, 0),
    ],
    ids=lambda spec: spec.id,
)
def test_probes_never_change_the_model(spec):
    params = load_params(raw_params("smoke"))
    model = build_model(spec, params)
    set_step(noise_layers(model), 2)
    if spec.model == "vgg":
        replay = _vgg_replay(spec.variant)
        task = _Task(replay.x, replay.y, replay.loss_fn)
    else:
        task = _Task(*_data(50, 10), sum_squares)
    with torch.no_grad():  # move the running stats off their initial values
        model(task.x)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = SnapshotContext(spec, params, 2, model, task.x, task.y, task)
    probes = make_probes(params)
    rows = []
    with preserved_state(model), frozen_stats(model):
        for probe in probes:
            rows += [(probe.name, *row) for row in probe.measure(ctx)]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats included
    assert not model.training and all(p.grad is None for p in model.parameters())
    names = {name for name, *_ in rows}
    expected = {"activations", "ics", "landscape", "landscape_random", "sharpness"}
    assert expected <= names
    assert ("theorem41" in names) == ("batchnorm" in spec.variant)
    values = np.array([v for *_, v in rows])
    assert np.isfinite(values).all()


def test_lanczos_matches_a_converged_reference_on_a_vgg_batchnorm_snapshot_at_step_0():
    """VGG with BN (all 13 convs, the smoke scale's width) at its initialization (the
    step-0 snapshot), on 64 real images of the committed sample: the probe's Lanczos (the
    protocol's tolerance and budget, from the seed's start vector) against scipy's ARPACK
    Lanczos (which="LA", tol 1e-6) on the same Hessian-vector products, within 1%."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    from bnpipe.data.batches import DeviceData
    from bnpipe.data.sources import read_archive

    _, splits = read_archive(ROOT / "data/sample/cifar10-sample.tar.gz", {"train": 13})
    train = splits["train"]
    data = DeviceData({"x_train": train.images, "y_train": train.labels,
                       "x_test": train.images[:1], "y_test": train.labels[:1]})  # fmt: skip
    x, y = data.batch(torch.arange(64))
    params = load_params(raw_params("smoke"))
    sharpness = load_params(raw_params("paper")).probe.sharpness
    model = build_model(RunSpec("vgg", "batchnorm", 0.1, 0), params)
    with frozen_stats(model):
        replay = StepReplay(model, x, y, torch.nn.functional.cross_entropy, lr=0.1, chunk_size=4)
        hvp = replay.hvp_operator()
        start = gaussian_like(replay.params, 0, 0, "sharpness")
        top = lanczos_top(hvp, start, sharpness.max_products, sharpness.tolerance)
        names = list(replay.params)
        sizes = [replay.params[n].numel() for n in names]

        def matvec(v: np.ndarray) -> np.ndarray:
            parts = torch.split(torch.from_numpy(np.asarray(v).reshape(-1)).float(), sizes)
            vector = {n: p.view_as(replay.params[n]) for n, p in zip(names, parts, strict=True)}
            return flat(hvp(vector)).numpy()

        n = sum(sizes)
        reference = eigsh(LinearOperator((n, n), matvec=matvec, dtype=np.float64), k=1,
                          which="LA", tol=1e-6, v0=flat(start).numpy())[0][0]  # fmt: skip
    assert top.converged
    assert top.value == pytest.approx(reference, rel=0.01)
    assert reference > 0  # the top eigenvalue, not the dominant negative one


@pytest.mark.parametrize(
    "model_name, variant, layout",
    [
        ("vgg", "batchnorm", torch.channels_last),  # training's layout on a CPU
        ("vgg", "batchnorm", torch.contiguous_format),
        ("vgg", "standard", torch.channels_last),
        ("dln", "batchnorm", torch.contiguous_format),
        ("dln", "standard", torch.contiguous_format),
    ],
)
def test_hessian_products_match_fp64(model_name, variant, layout):
    """The pipeline's Hessian-vector product (graph reused, BatchNorm and convolutions in
    `second_order_forms`) against an independent fp64 one (torch.func forward-over-reverse
    through PyTorch's own layers): within 1e-4 relative (measured 3e-6 here), and the
    same forward function. (On trained cpu-scale snapshots the fused fp32 BatchNorm
    kernel's product is 4e-4 to 4e-3 off, the elementary form 2e-6.)"""
    import copy

    from bnpipe.probes.second_order import second_order_forms

    params = load_params(raw_params("smoke"))
    model = build_model(RunSpec(model_name, variant, 0.1, 0), params).to(memory_format=layout)
    gen = torch.Generator().manual_seed(3)
    if model_name == "vgg":
        x = torch.randn(64, 3, 32, 32, generator=gen)
        y = torch.randint(0, 10, (64,), generator=gen)
        loss_fn = torch.nn.functional.cross_entropy
    else:
        x, y = torch.randn(50, 10, generator=gen), torch.randn(50, 10, generator=gen)
        loss_fn = sum_squares
    exact = copy.deepcopy(model).double()
    with frozen_stats(model), frozen_stats(exact):
        replay = StepReplay(model, x, y, loss_fn, lr=0.1, chunk_size=4)
        vector = gaussian_like(replay.params, 0, 0, "test")
        got = flat(replay.hvp_operator()(vector))
        reference = StepReplay(exact, x.double(), y.double() if y.is_floating_point() else y,
                               loss_fn, lr=0.1, chunk_size=4)  # fmt: skip
        want = flat(
            reference.hvp_operator(reuse_graph=False)({k: v.double() for k, v in vector.items()})
        )
        with second_order_forms(model):
            elementary = loss_fn(model(x), y)
        native = loss_fn(model(x), y)
    assert ((got - want).norm() / want.norm()).item() < 1e-4
    assert elementary.item() == pytest.approx(native.item(), rel=1e-6)  # the same function
    assert all("forward" not in vars(m) for m in model.modules())  # restored


def test_convolutions_second_derivative_matches_autograds_in_fp64():
    """`second_order_forms`'s convolution (first-order gradients and their backward by
    convolution kernels) against autograd's own double backward, both in fp64, on
    strided, dilated and grouped convolutions with and without bias, the first taking
    the data (no input gradient): the same Hessian-vector product to 1e-10."""
    from bnpipe.probes.second_order import second_order_forms

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
        torch.nn.Tanh(),
        torch.nn.Conv2d(6, 4, 3, padding=1, bias=False),
        torch.nn.Tanh(),
    ).double()
    x = torch.randn(5, 4, 9, 9, dtype=torch.float64)
    params = list(model.parameters())
    vector = [torch.randn_like(p) for p in params]

    def product() -> torch.Tensor:
        loss = model(x).square().sum()
        grads = torch.autograd.grad(loss, params, create_graph=True)
        return flat(list(torch.autograd.grad(grads, params, vector)))

    want = product()
    with second_order_forms(model):
        assert all("forward" in vars(m) for m in model if isinstance(m, torch.nn.Conv2d))
        got = product()
    assert ((got - want).norm() / want.norm()).item() < 1e-10


def test_linear_layers_second_derivative_matches_autograds_in_fp64():
    """`second_order_forms`'s linear layer, (W x^T)^T, against nn.Linear in fp64, with
    and without bias: the same output and Hessian-vector product to 1e-12, and the
    output laid out (features, batch) in memory, as the DLN's fast products need."""
    from bnpipe.probes.second_order import second_order_forms

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3, bias=False)
    ).double()
    x = torch.randn(7, 4, dtype=torch.float64)
    params = list(model.parameters())
    vector = [torch.randn_like(p) for p in params]

    def product() -> tuple[torch.Tensor, torch.Tensor]:
        out = model(x)
        grads = torch.autograd.grad(out.square().sum(), params, create_graph=True)
        return out, flat(list(torch.autograd.grad(grads, params, vector)))

    want_out, want = product()
    with second_order_forms(model):
        got_out, got = product()
    assert got_out.stride() == (1, 7)  # (3, 7) in memory
    torch.testing.assert_close(got_out, want_out, rtol=1e-12, atol=1e-12)
    assert ((got - want).norm() / want.norm()).item() < 1e-12


def test_a_landscape_point_by_plain_autograd_equals_torch_func_bit_for_bit():
    """StepReplay.grad_and_loss_at (the looped landscape's point) against
    torch.func.grad_and_value on the same point: noisy BN VGG, step 3's noise."""
    params = load_params(raw_params("smoke"))
    model = build_model(RunSpec("vgg", "noisy_batchnorm", 0.1, 0), params)
    set_step(noise_layers(model), 3)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 3, 32, 32, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    own = {k: v.detach().clone() for k, v in model.named_parameters()}
    with frozen_stats(model):
        replay = StepReplay(model, x, y, torch.nn.functional.cross_entropy, 0.1, chunk_size=4)
        point = {k: v - 0.5 * replay.grad0[k] for k, v in replay.params.items()}
        grads, loss = replay.grad_and_loss_at(point)
        want_grads, want_loss = torch.func.grad_and_value(replay.loss)(point)
    assert torch.equal(loss, want_loss)
    for name, g in want_grads.items():
        assert torch.equal(grads[name], g), name
    # the point went through the model's own parameters, which hold the snapshot again
    assert all(torch.equal(p, own[k]) for k, p in model.named_parameters())
    assert all(p.grad is None for p in model.parameters())


def test_parameters_at_restores_the_models_values_even_after_an_error():
    from bnpipe.probes.replay import parameters_at

    model = torch.nn.Linear(3, 2)
    own = {k: v.detach().clone() for k, v in model.named_parameters()}
    other = {k: torch.full_like(v, 7.0) for k, v in own.items()}
    with pytest.raises(RuntimeError, match="inside"), parameters_at(model, other) as named:
        assert all(torch.equal(named[k], other[k]) for k in other)
        raise RuntimeError("inside")
    assert all(torch.equal(p, own[k]) for k, p in model.named_parameters())
