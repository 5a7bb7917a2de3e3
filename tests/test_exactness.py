"""Every probe agrees with an fp64 computation to 1e-3 on snapshots training has moved.

VGG (standard, BN, noisy BN, trained 300 steps at batch 128 on the committed CIFAR-10
sample): every probe in its measurement form
(NCHW, fp32; moments in fp64) against the same probes in fp64 on the same snapshots.
DLN near convergence (standard, BN, where the loss has flattened): the probes (their form
is fp64) against an fp64 computation written here from the definitions: a hand-written
forward, Definition 2.1 one layer at a time, the line along g, the full Hessian's top
eigenvalue, Theorem 4.1's reduction factor and the unit moments.

Relative agreement, but cosines in absolute terms; measures of round-off itself (the
Theorem 4.1 identity's gap, Lanczos' residual) are not measurements and are left out.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ROOT, raw_params

from bnpipe.data.prepare import prepare_cifar10, prepare_dln
from bnpipe.layout import snapshot_path
from bnpipe.models import build_model, noise_layers, set_step
from bnpipe.models.state import frozen_stats
from bnpipe.params import load_params
from bnpipe.probe_registry import make_probes
from bnpipe.probes.activations import replay_sgd
from bnpipe.probes.context import SnapshotContext
from bnpipe.probes.exactness import compare_run, errors, worst
from bnpipe.probes.landscape import step_multipliers
from bnpipe.probes.runner import SnapshotProber
from bnpipe.training import speed
from bnpipe.training.train import train_run

VGG_STEPS = 300  # compared from step 150 on: before, G' ~ G to 1e-2 and fp32 cannot resolve
# G - G' (ICS at step 5: 1-9% off fp64), a state the tests never use (trained snapshots)
DLN_LR, DLN_STEPS = 1e-5, 1500  # 50 examples: the loss has flattened by step 1,000


def _raw(products: int = 10) -> dict:
    raw = raw_params("smoke")
    smoke = raw["scales"]["smoke"]
    smoke["data"] = {**smoke["data"], "train_per_class": 100}  # real images: a net that learns
    smoke["probe"]["sharpness"]["max_products"] = products
    # batch 128: BatchNorm reduces over 131,072 values per channel in layer 1, where
    # channels_last's fp32 kernel loses most (speed.MeasurementForm)
    smoke["train"] = {
        **smoke["train"],
        "steps": VGG_STEPS,
        "batch_size": 128,
        "snapshots": 3,  # steps 0, 150, 300
        "log_share": 0.0,
        "checkpoint_every": VGG_STEPS,
    }
    smoke["grid"]["lrs"]["dln"] = [DLN_LR]
    smoke["dln"]["train"] = {
        **smoke["dln"]["train"],
        "steps": DLN_STEPS,
        "snapshots": 4,  # steps 0, 500, 1000, 1500
        "log_share": 0.0,
        "eval_every": 500,
        "checkpoint_every": DLN_STEPS,
    }
    raw["probe"]["run"] = [n for n in raw["probe"]["run"] if n != "clean_stats"]
    return raw


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """run id -> (spec, run folder, snapshot folder, prepared file), trained once."""
    root = tmp_path_factory.mktemp("exactness")
    params = load_params(_raw())
    prepare_cifar10(
        ROOT / "data" / "sample" / "cifar10-sample.tar.gz", root / "cifar.npz", params.data
    )
    prepare_dln(params.dln, root / "dln.npz")
    runs = {}
    for run_id in (
        "vgg-standard-lr0.1-s0",
        "vgg-batchnorm-lr0.1-s0",
        "vgg-noisy_batchnorm-lr0.1-s0",
        f"dln-standard-lr{DLN_LR:g}-s0",
        f"dln-batchnorm-lr{DLN_LR:g}-s0",
    ):
        spec = params.run(run_id)
        prepared = root / ("dln.npz" if spec.model == "dln" else "cifar.npz")
        out, snaps = root / run_id, root / "snapshots" / run_id
        train_run(spec, params, prepared, out, snaps, progress=False)
        runs[run_id] = (spec, out, snaps, prepared)
    return runs


def _training_state_after_lag(spec, params, prober: SnapshotProber, step: int) -> dict:
    """Training's own parameters at step + lag: the lag steps replayed from the snapshot
    in training's layout and fp32 give training's bits (test_train)."""
    plan = speed.resolve(params.speed, "cpu", spec.model)
    model = speed.prepare(build_model(spec, params), plan)
    model.load_state_dict(torch.load(snapshot_path(prober.snapshots, step)))
    set_step(noise_layers(model), step)
    x, y = prober.probe_x, prober.probe_y
    with frozen_stats(model):
        replay_sgd(SnapshotContext(spec, params, step, model, x, y, prober.task), lag(params))
    return model.state_dict()


def lag(params) -> int:
    return params.probe.activations.lag


@pytest.mark.parametrize("variant", ["standard", "batchnorm", "noisy_batchnorm"])
def test_vgg_probes_in_nchw_fp32_agree_with_fp64(trained, variant):
    spec, out, snaps, prepared = trained[f"vgg-{variant}-lr0.1-s0"]
    params = load_params(_raw())
    table = compare_run(spec, params, prepared, out, snaps)
    compared = table[table.step >= VGG_STEPS // 2]
    bn_only = set() if "batchnorm" in variant else {"theorem41"}
    assert len(compared) > 300 and set(compared.probe) == set(params.probe.run) - bn_only
    assert "input_coord_lag_shift" in set(compared.metric)
    assert compared.within.all(), worst(compared[~compared.within]).head(10).to_string()


# --- the DLN from its definitions, in fp64 ------------------------------------------


class DefinedDLN:
    """The DLN as docs/protocol.md defines it, from a state dict, in fp64: block k maps
    h -> h W_k^T, then (BN variant, k < L) batch normalization with biased batch
    variance, eps, gamma and beta; loss = sum over examples of ||f(x) - y||^2."""

    def __init__(self, state: dict, layers: int, eps: float):
        self.names = [n for n in state if not _is_buffer(n)]
        self.layers, self.eps = layers, eps
        self.theta0 = {n: state[n].double() for n in self.names}

    def forward(self, theta: dict, x: torch.Tensor, taps: dict | None = None):
        h = x.double()
        for k in range(self.layers):
            h = h @ theta[f"blocks.{k}.layer.weight"].T
            if f"blocks.{k}.norm.weight" in theta:
                mean, var = h.mean(0), h.var(0, unbiased=False)
                yhat = (h - mean) / torch.sqrt(var + self.eps)
                if taps is not None:
                    taps[k] = (h, yhat)
                h = theta[f"blocks.{k}.norm.weight"] * yhat + theta[f"blocks.{k}.norm.bias"]
                if taps is not None:
                    h.retain_grad()
                    taps[k] = (*taps[k], h)
        return h

    def loss(self, theta: dict, x, y) -> torch.Tensor:
        return (self.forward(theta, x) - y.double()).pow(2).sum()

    def grad(self, theta: dict, x, y) -> dict:
        leaves = {n: v.detach().clone().requires_grad_(True) for n, v in theta.items()}
        g = torch.autograd.grad(self.loss(leaves, x, y), list(leaves.values()))
        return dict(zip(leaves, g, strict=True))


def _is_buffer(name: str) -> bool:
    return name.endswith(("running_mean", "running_var", "num_batches_tracked"))


def _flat(d: dict, names) -> torch.Tensor:
    return torch.cat([d[n].reshape(-1) for n in names])


def _defined_rows(dln: DefinedDLN, x, y, lr: float, params, model: str = "dln") -> dict:
    """(probe, layer, metric) -> value of ICS, the landscape along g, sharpness and
    Theorem 4.1's reduction, from the definitions."""
    theta, names = dln.theta0, dln.names
    g = dln.grad(theta, x, y)
    rows = {}
    new = {n: theta[n] - lr * g[n] for n in names}
    for k in range(dln.layers):  # Definition 2.1: stages < k at t + 1, the rest at t
        point = {n: new[n] if int(n.split(".")[1]) < k else theta[n] for n in names}
        w = f"blocks.{k}.layer.weight"
        gk, gpk = g[w].reshape(-1), dln.grad(point, x, y)[w].reshape(-1)
        rows[("ics", k + 1, "l2")] = (gk - gpk).norm().item()
        rows[("ics", k + 1, "cos")] = (gk @ gpk / (gk.norm() * gpk.norm())).item()
        rows[("ics", k + 1, "rel_l2")] = ((gk - gpk).norm() / gk.norm()).item()
    g0 = _flat(g, names)
    losses, dists, ratios = [], [], []
    for m in step_multipliers(params.probe.landscape, model):
        eta = m * lr
        point = {n: theta[n] - eta * g[n] for n in names}
        losses.append(dln.loss(point, x, y).item())
        dists.append((_flat(dln.grad(point, x, y), names) - g0).norm().item())
        ratios.append(dists[-1] / (eta * g0.norm().item()))
        rows[("landscape", 0, f"loss@x{m:.4g}")] = losses[-1]
        rows[("landscape", 0, f"gpred@x{m:.4g}")] = dists[-1]
    rows[("landscape", 0, "loss_min")], rows[("landscape", 0, "loss_max")] = (
        min(losses),
        max(losses),
    )
    rows[("landscape", 0, "gpred_max")] = max(dists)
    rows[("landscape", 0, "beta")] = max(ratios)
    sizes = [theta[n].numel() for n in names]
    shapes = [theta[n].shape for n in names]

    def loss_of_flat(v: torch.Tensor) -> torch.Tensor:
        parts = dict(
            zip(
                names,
                (p.reshape(s) for p, s in zip(v.split(sizes), shapes, strict=True)),
                strict=True,
            )
        )
        return dln.loss(parts, x, y)

    hessian = torch.func.hessian(loss_of_flat)(_flat(theta, names))
    rows[("sharpness", 0, "top_eig")] = torch.linalg.eigvalsh(hessian)[-1].item()
    taps: dict = {}
    leaves = {n: v.clone().requires_grad_(True) for n, v in theta.items()}
    (dln.forward(leaves, x, taps) - y.double()).pow(2).sum().backward()
    m = x.shape[0]
    for k, (h, yhat, z) in taps.items():  # Theorem 4.1's factor, eps-exact, per unit
        gz = z.grad
        var = h.var(0, unbiased=False)
        r = var / (var + dln.eps)
        gamma = theta[f"blocks.{k}.norm.weight"]
        removed = gz.sum(0) ** 2 / m + (2 - r) * (gz * yhat).sum(0) ** 2 / m
        factor = gamma**2 / (var + dln.eps) * (1 - removed / gz.pow(2).sum(0))
        rows[("theorem41", k + 1, "reduction_median")] = factor.detach().median().item()
    return rows


@pytest.mark.parametrize("variant", ["standard", "batchnorm"])
def test_dln_probes_near_convergence_equal_fp64_from_the_definitions(trained, variant):
    spec, out, snaps, prepared = trained[f"dln-{variant}-lr{DLN_LR:g}-s0"]
    params = load_params(_raw(products=60))  # a cold start, not the previous snapshot's
    prober = SnapshotProber(spec, params, prepared, out, snaps, "cpu")
    probes = [p for p in make_probes(params) if p.name != "activations"]
    step = prober.snapshot_steps()[-2]  # late: the loss has flattened
    assert step >= DLN_STEPS // 2
    measured = {
        (name, layer, metric): value
        for name, rows, _ in prober.measure(step, probes)
        for layer, metric, value in rows
    }
    state = torch.load(snapshot_path(snaps, step))
    defined = DefinedDLN(state, params.dln.layers, params.norm.eps)
    x, y = prober.task.batch(step)
    reference = _defined_rows(defined, x, y, spec.lr, params)
    if variant == "standard":
        assert not any(key[0] == "theorem41" for key in reference)
    reference = {(step, *key): value for key, value in reference.items()}
    table = errors({(step, *key): v for key, v in measured.items()}, reference)
    assert len(table) > 40 and table.within.all(), worst(table[~table.within]).to_string()


def test_the_dln_lag_shift_reads_training_state_exactly(trained):
    """The DLN's unit moments at t + lag (what training recorded) equal the moments of
    training's own later state computed in fp64 from the definition."""
    spec, out, snaps, prepared = trained[f"dln-batchnorm-lr{DLN_LR:g}-s0"]
    params = load_params(_raw())
    prober = SnapshotProber(spec, params, prepared, out, snaps, "cpu")
    step = prober.snapshot_steps()[1]
    recorded = prober.lag_record[params.probe.activations.lag][step]  # lag -> step -> moments
    later = _training_state_after_lag(spec, params, prober, step)
    defined = DefinedDLN(later, params.dln.layers, params.norm.eps)
    h = prober.probe_x.double()
    for k in range(params.dln.layers - 1):
        h = h @ defined.theta0[f"blocks.{k}.layer.weight"].T  # the matrix output: site "layer"
        expected = torch.stack([h.mean(0), h.var(0, unbiased=False)])
        got = recorded["layer"][k + 1]["channel"]
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-9, atol=1e-12)
        mean, var = h.mean(0), h.var(0, unbiased=False)
        gamma, beta = (defined.theta0[f"blocks.{k}.norm.{p}"] for p in ("weight", "bias"))
        h = gamma * (h - mean) / torch.sqrt(var + params.norm.eps) + beta
