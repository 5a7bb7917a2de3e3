import copy
import dataclasses

import numpy as np
import pytest
import torch
from conftest import raw_params

from bnpipe.models.vgg import VGG
from bnpipe.params import load_params
from bnpipe.probes.activations import ActivationProbe
from bnpipe.probes.context import SnapshotContext


def _ctx(site="normalized"):
    raw = raw_params("smoke")
    raw["probe"]["activations"]["site"] = site
    params = load_params(raw)
    spec = params.run("vgg-batchnorm-lr0.1-s0")
    model = VGG(params.vgg.stack, params.vgg.width, "batchnorm", seed=0)
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return params, SnapshotContext(spec, params, 0, model, x, torch.zeros(16, dtype=torch.long))


def test_percentiles_are_those_of_the_unit_over_batch_height_width():
    params, ctx = _ctx("layer")
    rows = {
        (layer, metric): v
        for layer, metric, v in ActivationProbe(params.probe.activations).measure(ctx)
    }
    assert {layer for layer, _ in rows} == set(range(1, 14))
    # Recompute layer 3's raw conv output by hand, on the model in training mode, in fp64
    # (what the probe reads moments and percentiles in: speed.FP64)
    model = copy.deepcopy(ctx.model).double()
    with torch.no_grad():
        h = model.features[:3](ctx.probe_x.double())  # block 1, block 2, max-pool
        unit = model.blocks[2].layer(h)[:, params.probe.activations.unit].numpy()
    for q in params.probe.activations.percentiles:
        assert np.isclose(rows[(3, f"p{q:g}")], np.percentile(unit, q), rtol=1e-12, atol=1e-12)
    assert np.isclose(rows[(3, "mean")], unit.mean()) and np.isclose(rows[(3, "var")], unit.var())


def test_batchnorm_output_is_standardized_and_model_is_untouched():
    params, ctx = _ctx("normalized")
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    ctx.model.eval()
    rows = {(layer, m): v for layer, m, v in ActivationProbe(params.probe.activations).measure(ctx)}
    # After BN (gamma=1, beta=0 at init), in training mode: zero mean, unit variance per unit.
    for layer in range(1, 14):
        assert abs(rows[(layer, "mean")]) < 1e-5 and abs(rows[(layer, "var")] - 1) < 1e-3
    after = ctx.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats too
    assert not ctx.model.training  # mode restored


def test_moment_shifts_are_differences_between_consecutive_snapshots():
    params, ctx = _ctx("layer")
    probe = ActivationProbe(params.probe.activations)
    first = {(k, m): v for k, m, v in probe.measure(ctx)}
    assert (3, "shift_mean") not in first and first[(3, "drift_mean")] == 0.0
    with torch.no_grad():  # the "next snapshot": layer 3's conv bias moves by 0.5
        ctx.model.blocks[2].layer.bias += 0.5
    ctx = dataclasses.replace(ctx)  # a context per snapshot, as the runner makes them
    second = {(k, m): v for k, m, v in probe.measure(ctx)}
    assert second[(3, "shift_mean")] == pytest.approx(0.5, rel=1e-5)
    assert second[(3, "drift_mean")] == pytest.approx(0.5, rel=1e-5)
    assert second[(3, "shift_mean_units")] == pytest.approx(0.5, rel=1e-5)
    assert second[(3, "shift_var")] == pytest.approx(0.0, abs=1e-4)
    assert second[(2, "shift_mean")] == 0.0  # earlier layers did not move
    third = {(k, m): v for k, m, v in probe.measure(dataclasses.replace(ctx))}
    assert third[(3, "shift_mean")] == 0.0 and third[(3, "drift_mean")] == second[(3, "drift_mean")]


def test_lag_shift_compares_the_next_layers_input_alike_with_and_without_bn():
    """A BN network whose next-layer inputs equal a plain network's, at t and after an
    equivalent change, gets the same shift: the measure sees what the next layer sees,
    not BN's own output (whose batch moments are beta and ~gamma^2 by construction)."""
    from bnpipe.models.sites import capture, unit_moments
    from bnpipe.probes.activations import lag_shifts

    stack = [4, "M", 4, "M", "M", "M", "M"]  # five pools: 32x32 -> 1x1
    plain = VGG(stack, 1.0, "standard", seed=0)
    bn = VGG(stack, 1.0, "batchnorm", seed=0)  # same conv weights: BN draws nothing
    x = torch.randn(32, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    # make BN the identity on this batch: gamma = sqrt(var + eps), beta = mean, per layer
    with torch.no_grad():
        h = x
        for k in range(2):
            y = plain.blocks[k].layer(h)
            norm = bn.blocks[k].norm
            mean, var = y.mean((0, 2, 3)), y.var((0, 2, 3), unbiased=False)
            norm.weight.copy_((var + norm.eps).sqrt())
            norm.bias.copy_(mean)
            h = plain.features[2 * k + 1](plain.blocks[k](h))

    def moments(model):
        return {k: unit_moments(o) for k, o in capture(model, x, ("block",))["block"].items()}

    before_plain, before_bn = moments(plain), moments(bn)
    for k in (1, 2):
        torch.testing.assert_close(before_plain[k], before_bn[k], rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # layer 1's output becomes 1.5 y + 0.3 in both networks
        plain.blocks[0].layer.weight *= 1.5
        plain.blocks[0].layer.bias.mul_(1.5).add_(0.3)
        norm = bn.blocks[0].norm
        norm.weight *= 1.5
        norm.bias.mul_(1.5).add_(0.3)
    after_plain, after_bn = moments(plain), moments(bn)
    shift = {
        k: (lag_shifts(before_plain[k], after_plain[k]), lag_shifts(before_bn[k], after_bn[k]))
        for k in (1, 2)
    }
    s_plain, s_bn = shift[1]  # layer 1's output moved alike in both: the same shift
    assert s_plain["lag_shift"] > 0.05
    for metric in s_plain:
        assert s_bn[metric] == pytest.approx(s_plain[metric], rel=1e-3)
    # layer 2's input: BN re-standardizes its conv output, the plain network passes the
    # change on; BN is lower here because it really is more stable, and the measure says so
    assert shift[2][1]["lag_shift"] < 0.5 * shift[2][0]["lag_shift"]


@pytest.mark.parametrize("weights_seed", [0, 1, 2])
def test_bn_pins_its_channels_on_the_batch_it_normalizes_whatever_the_weights(weights_seed):
    """In training mode, on the batch it normalizes, every channel of BN's output has mean
    beta and variance gamma^2 var / (var + eps) ~ gamma^2, for any conv weights: a channel
    of a BN network is pinned by construction (why claim 2 reads coordinates)."""
    from bnpipe.models.sites import capture, unit_moments

    stack = [8, "M", 8, "M", "M", "M", "M"]
    model = VGG(stack, 1.0, "batchnorm", seed=weights_seed)
    gen = torch.Generator().manual_seed(100 + weights_seed)
    with torch.no_grad():
        for block in model.blocks:
            block.layer.weight.normal_(0, 1 + weights_seed, generator=gen)
            block.norm.weight.uniform_(0.5, 2.0, generator=gen)
            block.norm.bias.normal_(0, 1, generator=gen)
    x = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    out = capture(model.double(), x.double(), ("normalized",))["normalized"]
    for k, block in enumerate(model.blocks, start=1):
        moments = unit_moments(out[k])
        gamma, beta = block.norm.weight.detach(), block.norm.bias.detach()
        torch.testing.assert_close(moments[0], beta, rtol=0, atol=1e-9)
        torch.testing.assert_close(moments[1], gamma**2, rtol=1e-3, atol=0)


def test_a_coordinate_shift_sees_what_bns_pinned_channels_cannot():
    """Layer 1's kernels flipped left-right: each channel of the BN output keeps its mean
    beta and variance ~gamma^2 exactly (its channel shift is ~0), while single
    coordinates (c, h, w) move; the per-coordinate shift sees it, at BN's output and at
    the next layer's input after the ReLU."""
    from bnpipe.models.sites import capture, coordinate_moments, unit_moments
    from bnpipe.probes.activations import lag_shifts

    stack = [8, "M", 8, "M", "M", "M", "M"]
    model = VGG(stack, 1.0, "batchnorm", seed=0).double()
    # structured inputs: a left-right gradient plus noise, so a flip changes every position
    gen = torch.Generator().manual_seed(3)
    ramp = torch.linspace(-1, 1, 32, dtype=torch.float64).view(1, 1, 1, 32)
    x = ramp * torch.rand(64, 3, 1, 1, generator=gen, dtype=torch.float64) * 3
    x = x + 0.3 * torch.randn(64, 3, 32, 32, generator=gen, dtype=torch.float64)
    sites = ("normalized", "block")

    def moments():
        out = capture(model, x, sites)
        return {
            site: (unit_moments(out[site][1]), coordinate_moments(out[site][1], 1, 1024))
            for site in sites
        }

    before = moments()
    with torch.no_grad():
        model.blocks[0].layer.weight.copy_(model.blocks[0].layer.weight.flip(-1))
    after = moments()
    channel, coordinate = (
        lag_shifts(before["normalized"][i], after["normalized"][i])["lag_shift"] for i in (0, 1)
    )
    assert channel < 1e-6  # pinned: mean beta, variance gamma^2 var / (var + eps)
    assert coordinate > 0.1
    channel, coordinate = (
        lag_shifts(before["block"][i], after["block"][i])["lag_shift"] for i in (0, 1)
    )
    assert coordinate > 10 * channel  # the ReLU's channel almost as pinned


def test_the_coordinate_sample_is_fixed_and_the_same_in_every_run():
    from bnpipe.models.sites import coordinate_sample

    assert torch.equal(coordinate_sample(256, 1024, 11), torch.arange(256))  # all of them
    picked = coordinate_sample(16 * 16 * 16, 1024, 3)
    assert len(picked) == 1024 == len(set(picked.tolist()))
    assert torch.equal(picked, picked.sort().values)
    coordinate_sample.cache_clear()
    assert torch.equal(coordinate_sample(4096, 1024, 3), picked)  # from the layer alone
    assert not torch.equal(coordinate_sample(4096, 1024, 4), picked)


@pytest.mark.parametrize(
    ("shape", "channels_last"),
    [((64, 8, 16, 16), False), ((64, 8, 16, 16), True), ((1000, 10), False)],  # VGG, DLN
)
def test_unit_moments_equal_an_fp64_two_pass_computation(shape, channels_last):
    from bnpipe.models.sites import unit_moments

    gen = torch.Generator().manual_seed(0)
    output = (torch.randn(shape, generator=gen) * 3 + 40).relu()  # far from 0: cancellation
    if channels_last:
        output = output.contiguous(memory_format=torch.channels_last)
    per_unit = output.double().transpose(0, 1).reshape(shape[1], -1)
    mean = per_unit.mean(1)
    var = ((per_unit - mean[:, None]) ** 2).mean(1)
    got = unit_moments(output)
    assert got.dtype == torch.float64 and got.shape == (2, shape[1])
    torch.testing.assert_close(got[0], mean, rtol=1e-5, atol=0)
    torch.testing.assert_close(got[1], var, rtol=1e-5, atol=0)
