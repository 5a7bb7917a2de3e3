"""Sharpness: the top eigenvalue of the loss Hessian on the step's batch (Cohen et al.
2021, "edge of stability"), beside 2 / lr, the largest curvature that plain gradient
descent at that lr can follow without oscillating.

Power iteration on Hessian-vector products: v <- Hv / ||Hv||, lambda = v . Hv, until the
Rayleigh quotient changes by less than `tolerance` (relative) or `max_iterations` pass.
That finds the eigenvalue of largest magnitude; if it is negative, a second power
iteration on the shifted H - lambda I finds the top one. The first snapshot starts
from a random vector drawn from the run's seed; each later one starts from the previous
snapshot's vector (the top eigenvector moves little between close snapshots).

Rows (layer 0): top_eig, two_over_lr, iterations, rel_residual = ||Hv - lambda v|| / |lambda|.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from bnpipe.params import SharpnessParams
from bnpipe.probes import SnapshotContext
from bnpipe.probes.replay import Tensors, flat, gaussian_like


def power_iteration(
    hvp: Callable[[Tensors], Tensors], start: Tensors, max_iterations: int, tolerance: float
) -> tuple[float, Tensors, int, float]:
    """(eigenvalue, unit eigenvector, iterations used, relative residual) of the operator
    `hvp` (a function Tensors -> Tensors), from the vector `start`."""
    v = _normalized(start)
    eig, hv, iterations = math.nan, hvp(v), 0
    for iterations in range(1, max_iterations + 1):
        new_eig = (flat(v) @ flat(hv)).item()
        converged = math.isfinite(eig) and abs(new_eig - eig) <= tolerance * abs(new_eig)
        eig = new_eig
        if converged or not math.isfinite(eig) or iterations == max_iterations:
            break
        v = _normalized(hv)
        hv = hvp(v)
    residual = (flat(hv) - eig * flat(v)).norm().item() / abs(eig) if eig else math.nan
    return eig, v, iterations, residual


def _normalized(v: Tensors) -> Tensors:
    norm = flat(v).norm()
    return {k: t / norm.to(t.dtype) for k, t in v.items()}


def top_eigenvalue(
    hvp: Callable[[Tensors], Tensors], start: Tensors, max_iterations: int, tolerance: float
) -> tuple[float, Tensors, int, float]:
    """The largest (algebraic) eigenvalue. Power iteration converges to the eigenvalue of
    largest magnitude; when that is negative, a second run on H - lambda_neg I (whose
    eigenvalues are all >= 0) finds lambda_max - lambda_neg."""
    eig, vector, iterations, residual = power_iteration(hvp, start, max_iterations, tolerance)
    if not eig < 0:
        return eig, vector, iterations, residual
    shift = eig

    def shifted(v: Tensors) -> Tensors:
        hv = hvp(v)
        return {k: hv[k] - shift * v[k] for k in hv}

    top, vector, more, residual = power_iteration(shifted, start, max_iterations, tolerance)
    return top + shift, vector, iterations + more, residual * abs(top) / abs(top + shift)


class SharpnessProbe:
    name = "sharpness"

    def __init__(self, settings: SharpnessParams, reuse_graph: bool = True):
        self.settings, self.reuse_graph = settings, reuse_graph
        self.vector: Tensors | None = None  # the last snapshot's eigenvector (warm start)

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        replay = ctx.replay
        start = self.vector
        if start is None or not math.isfinite(flat(start).norm().item()):
            start = gaussian_like(replay.params, ctx.spec.seed, 0, "sharpness")
        eig, vector, iterations, residual = top_eigenvalue(
            replay.hvp_operator(self.reuse_graph),
            start,
            self.settings.max_iterations,
            self.settings.tolerance,
        )
        self.vector = vector
        yield 0, "top_eig", eig
        yield 0, "two_over_lr", 2.0 / ctx.spec.lr
        yield 0, "iterations", float(iterations)
        yield 0, "rel_residual", residual
