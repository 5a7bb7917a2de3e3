"""Normalization variants and the deep linear network against known answers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bnpipe.data.batches import derive_seed
from bnpipe.models import noise_layers, set_step
from bnpipe.models.dln import DLN
from bnpipe.models.norms import AlgorithmOneNoise, LpNorm, make_norm, unit_mean
from bnpipe.params import NoiseParams

NOISE = NoiseParams(n_mu=0.5, n_sigma=1.25, r_mu=0.1, r_sigma=0.1)


def _noise(step: int, layer: int = 3, shape=(64, 16, 8, 8)):
    layer_ = AlgorithmOneNoise(NOISE, layer=layer, seed=7)
    layer_.step = step
    return layer_.draw(torch.zeros(shape))


def test_noise_has_the_configured_per_unit_and_per_element_moments():
    unit_sigma, unit_mu = [], []
    for step in range(200):
        s, m = _noise(step)
        # per element around the unit's values: s ~ N(sigma_j, r_sigma), m ~ U(mu_j +- r_mu)
        sigma_j, mu_j = s.mean((0, 2, 3)), m.mean((0, 2, 3))
        if step < 5:
            spread = (s - sigma_j.view(1, -1, 1, 1)).std((0, 2, 3))
            assert torch.allclose(spread, torch.full_like(spread, 0.1), rtol=0.08)
            centred = m - mu_j.view(1, -1, 1, 1)
            assert centred.abs().max() <= 0.1 + 0.01  # U(mu_j - r_mu, mu_j + r_mu)
            assert torch.allclose(centred.var((0, 2, 3)), torch.full((16,), 0.01 / 3), rtol=0.1)
        unit_sigma.append(sigma_j)
        unit_mu.append(mu_j)
    sigma, mu = torch.cat(unit_sigma), torch.cat(unit_mu)  # 3,200 per-unit draws each
    assert sigma.min() > 1 - 0.01 and sigma.max() < 1.25 + 0.01  # U(1, n_sigma)
    assert abs(sigma.mean() - 1.125) < 0.005 and abs(sigma.var() - 0.25**2 / 12) < 0.0015
    assert abs(mu.mean()) < 0.02 and abs(mu.var() - 1 / 12) < 0.01  # U(-0.5, 0.5)


def test_noise_replays_within_a_step_and_changes_between_steps_and_layers():
    s1, m1 = _noise(step=5)
    s2, m2 = _noise(step=5)
    assert torch.equal(s1, s2) and torch.equal(m1, m2)
    assert not torch.equal(_noise(step=6)[0], s1)
    assert not torch.equal(_noise(step=5, layer=4)[0], s1)


def _algorithm_one(seed: int, step: int, layer: int, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, m) of paper Algorithm 1 written out from the layer's generator, in NCHW."""
    g = torch.Generator().manual_seed(derive_seed(seed, step, f"noise/{layer}"))
    unit = (1, -1, 1, 1)
    c = shape[1]
    mu = ((2 * torch.rand(c, generator=g) - 1) * NOISE.n_mu).view(unit)
    sigma = (1 + torch.rand(c, generator=g) * (NOISE.n_sigma - 1)).view(unit)
    m = mu + (2 * torch.rand(shape, generator=g) - 1) * NOISE.r_mu
    s = sigma + torch.randn(shape, generator=g) * NOISE.r_sigma
    return s, m


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_noise_output_is_algorithm_one_bit_for_bit_in_either_layout(layout):
    """The layer against Algorithm 1 written out from the same generator, in NCHW: the
    same bits whatever x's layout, the output in x's layout, d out / d x = s."""
    shape = (6, 5, 4, 3)
    layer = AlgorithmOneNoise(NOISE, layer=2, seed=7)
    set_step([layer], 11)
    x = torch.randn(shape).contiguous(memory_format=layout).requires_grad_()
    out = layer(x)
    s, m = _algorithm_one(seed=7, step=11, layer=2, shape=shape)
    assert torch.equal(out, s * x.detach() + m)
    assert out.is_contiguous(memory_format=layout)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(grad, s)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_noise_under_vmap_gives_each_batch_member_what_it_gets_alone(layout):
    """The batched landscape vmaps the loss over parameter sets (randomness "same"): the
    layer must draw one noise for all of them, so each batch member gets Algorithm 1's
    output, written out, for its own input."""
    layer = AlgorithmOneNoise(NOISE, layer=1, seed=3)
    set_step([layer], 4)
    shape = (6, 5, 4, 3)
    x = torch.randn(shape).contiguous(memory_format=layout)
    scales = torch.tensor([0.5, 1.0, 2.0])
    batched = torch.func.vmap(lambda scale: layer(x * scale), randomness="same")(scales)
    s, m = _algorithm_one(seed=3, step=4, layer=1, shape=shape)
    for i, scale in enumerate(scales):
        assert torch.equal(batched[i], s * (x * scale) + m)


def test_noise_is_off_in_eval_mode_and_demands_a_step_in_training():
    layer = make_norm("noisy_batchnorm", 4, True, layer=1, seed=0, noise=NOISE)
    x = torch.randn(8, 4, 5, 5)
    with pytest.raises(RuntimeError, match="set_step"):
        layer(x)
    assert len(noise_layers(layer)) == 1
    set_step(noise_layers(layer), 0)
    layer.eval()
    assert torch.equal(layer(x), layer[0](x))  # BN (running stats) alone


@pytest.mark.parametrize("kind", ["l1", "l2", "linf"])
@pytest.mark.parametrize("shape", [(32, 6, 5, 5), (40, 6)])
def test_lp_layers_normalize_as_defined(kind, shape):
    torch.manual_seed(0)
    x = torch.randn(shape) * 3 + 1.5
    layer = LpNorm(shape[1], kind, eps=0.0)
    dims = [0, *range(2, len(shape))]
    y = layer(x)
    assert torch.allclose(y.mean(dims), torch.zeros(shape[1]), atol=1e-5)  # zero mean per unit
    scale = {
        "l1": x.abs().mean(dims),
        "l2": x.pow(2).mean(dims).sqrt(),
        "linf": x.abs().amax(dims),
    }[kind]
    view = (1, -1) + (1,) * (len(shape) - 2)
    expected = (x - x.mean(dims).view(view)) / scale.view(view)
    assert torch.allclose(y, expected, atol=1e-6)  # magnitude taken before the mean shift
    # On a zero-mean input the output has unit average l_p magnitude.
    z = layer(x - x.mean(dims, keepdim=True))
    magnitude = {"l1": z.abs().mean(dims), "l2": z.pow(2).mean(dims).sqrt(),
                 "linf": z.abs().amax(dims)}[kind]  # fmt: skip
    assert torch.allclose(magnitude, torch.ones(shape[1]), atol=1e-5)


@pytest.mark.parametrize(
    "shape, layout",
    [
        ((16, 8, 6, 6), torch.channels_last),
        ((16, 8, 6, 6), torch.contiguous_format),
        ((50, 10), torch.contiguous_format),  # a DLN layer: 50 is not a power of two
    ],
)
def test_unit_mean_is_torchs_mean_bit_for_bit_with_its_gradient(shape, layout):
    """unit_mean (the l_p layers' mean, written for speed) gives the same bits as x.mean
    over the unit's dims, and the same gradient."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen)
    if len(shape) == 4:
        x = x.contiguous(memory_format=layout)
    dims = [0, *range(2, x.dim())]
    weights = torch.randn(shape[1], generator=gen)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    got, want = unit_mean(a), b.mean(dims)
    assert torch.equal(got, want)
    (got * weights).sum().backward()
    (want * weights).sum().backward()
    assert torch.equal(a.grad, b.grad)
    if len(shape) == 4:  # the gradient in x's own layout, not NCHW
        assert a.grad.is_contiguous(memory_format=layout)


def test_lp_running_averages_serve_evaluation():
    layer = LpNorm(3, "l2", eps=0.0, momentum=1.0)  # running stats = the last batch's
    x = torch.randn(50, 3) + 2
    y_train = layer(x)
    layer.eval()
    assert torch.allclose(layer(x), y_train, atol=1e-6)


def test_batchnorm_matches_functional_batch_norm():
    x = torch.randn(16, 5, 4, 4)
    layer = make_norm("batchnorm", 5, True, layer=1, seed=0)
    ref = F.batch_norm(x, None, None, torch.ones(5), torch.zeros(5), training=True, eps=1e-5)
    assert torch.allclose(layer(x), ref, atol=1e-6)


def test_dln_loss_and_gradient_match_the_closed_form():
    torch.manual_seed(0)
    model = DLN(layers=3, width=4, variant="standard", seed=1)
    x, a = torch.randn(7, 4, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    model = model.double()
    y = x @ a.T
    loss = (model(x) - y).pow(2).sum()
    loss.backward()
    w1, w2, w3 = (b.layer.weight.detach() for b in model.blocks)
    residual = w3 @ w2 @ w1 @ x.T - a @ x.T  # (4, 7): one column per example
    assert torch.isclose(loss, residual.pow(2).sum())
    grads = {  # d/dW_k sum ||W3 W2 W1 x - A x||^2 = 2 (after)^T R (before x)^T
        0: 2 * (w3 @ w2).T @ residual @ x,
        1: 2 * w3.T @ residual @ (w1 @ x.T).T,
        2: 2 * residual @ (w2 @ w1 @ x.T).T,
    }
    for k, expected in grads.items():
        assert torch.allclose(model.blocks[k].layer.weight.grad, expected)


def test_dln_layout():
    model = DLN(layers=25, width=10, variant="batchnorm", seed=0)
    assert len(model.blocks) == 25
    norms = [type(b.norm).__name__ for b in model.blocks]
    assert norms[:24] == ["BatchNorm1d"] * 24 and norms[24] == "Identity"  # all but the last
    assert all(b.layer.bias is None for b in model.blocks)
