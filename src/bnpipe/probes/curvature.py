"""Sharpness: the top eigenvalue of the loss Hessian on the step's batch (Cohen et al.
2021, "edge of stability"), beside 2 / lr, the largest curvature that plain gradient
descent at that lr can follow without oscillating.

Lanczos on Hessian-vector products, with full reorthogonalization: after j products the
Krylov basis Q_j and the tridiagonal T_j = Q_j^T H Q_j give Ritz pairs (theta, Q_j s);
the largest theta approximates the algebraically largest eigenvalue (not the largest in
magnitude, which power iteration finds: at a BN network's initialization that is a large
negative one). Its residual ||H y - theta y|| = beta_j |s_last| costs nothing to compute;
iteration stops once it is at most `tolerance` x |theta|, and then some eigenvalue of H
lies within tolerance x |theta| of theta. An estimate that has not reached the tolerance
within `max_products` products is reported with converged = 0 and kept out of figures
and tests.

The first snapshot starts from a random vector drawn from the run's seed; each later one
starts from the previous snapshot's top Ritz vector (the top eigenvector moves little
between close snapshots, and a start near it converges in a few products).

Rows (layer 0): top_eig, two_over_lr, products, rel_residual, converged (1 or 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from bnpipe.params import ProbeParams, SharpnessParams
from bnpipe.probes.context import SnapshotContext
from bnpipe.probes.replay import Tensors, flat, gaussian_like

REORTHOGONALIZE = 2  # Gram-Schmidt passes against the whole basis per product


@dataclass(frozen=True)
class TopEigen:
    value: float  # the top Ritz value
    vector: Tensors  # its unit Ritz vector, shaped like the parameters
    products: int  # Hessian-vector products used
    rel_residual: float  # ||H y - value y|| / |value|
    converged: bool  # rel_residual <= tolerance


def lanczos_top(
    hvp: Callable[[Tensors], Tensors], start: Tensors, max_products: int, tolerance: float
) -> TopEigen:
    """The algebraically largest eigenvalue of the symmetric operator `hvp`, by Lanczos
    from `start` (see the module docstring)."""
    names = list(start)  # flat() concatenates in this order; to_tensors undoes it
    sizes = [start[n].numel() for n in names]
    dtype = start[names[0]].dtype

    def to_tensors(x: torch.Tensor) -> Tensors:
        parts = torch.split(x, sizes)
        return {n: p.view_as(start[n]).to(dtype) for n, p in zip(names, parts, strict=True)}

    q = flat(start)  # (n,) fp64
    basis = q.new_empty(max_products, q.numel())  # (k, n): orthonormal Krylov vectors
    basis[0] = q / q.norm()
    alphas: list[float] = []
    betas: list[float] = []
    theta, s, rel, products = math.nan, None, math.inf, 0
    for products in range(1, max_products + 1):
        j = products  # vectors in the basis
        w = flat(hvp(to_tensors(basis[j - 1])))
        if not torch.isfinite(w).all():
            return TopEigen(math.nan, to_tensors(basis[0]), products, math.inf, False)
        alphas.append((basis[j - 1] @ w).item())
        for _ in range(REORTHOGONALIZE):
            w = w - basis[:j].T @ (basis[:j] @ w)
        beta = w.norm().item()
        t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if betas:
            off = torch.tensor(betas, dtype=torch.float64)
            t += torch.diag(off, 1) + torch.diag(off, -1)
        values, vectors = torch.linalg.eigh(t)  # ascending
        theta, s = values[-1].item(), vectors[:, -1].to(w.device)
        rel = beta * abs(s[-1].item()) / abs(theta) if theta else math.inf
        if rel <= tolerance or beta <= 1e-12 * max(abs(theta), 1e-30) or j == max_products:
            break  # converged, the Krylov space is invariant (exact), or out of budget
        basis[j] = w / beta
        betas.append(beta)
    ritz = basis[: len(alphas)].T @ s  # the top Ritz vector, formed once
    return TopEigen(theta, to_tensors(ritz / ritz.norm()), products, rel, rel <= tolerance)


class SharpnessProbe:
    name = "sharpness"

    def __init__(self, settings: SharpnessParams, reuse_graph: bool = True):
        self.settings, self.reuse_graph = settings, reuse_graph
        self.vector: Tensors | None = None  # the last snapshot's top Ritz vector (warm start)

    def measure(self, ctx: SnapshotContext) -> Iterator[tuple[int, str, float]]:
        replay = ctx.replay
        start = self.vector
        if start is None or not all(torch.isfinite(t).all() for t in start.values()):
            start = gaussian_like(replay.params, ctx.spec.seed, 0, "sharpness")
        top = lanczos_top(
            replay.hvp_operator(self.reuse_graph),
            start,
            self.settings.max_products,
            self.settings.tolerance,
        )
        if math.isfinite(top.value):
            self.vector = top.vector
        yield 0, "top_eig", top.value
        yield 0, "two_over_lr", 2.0 / ctx.spec.lr
        yield 0, "products", float(top.products)
        yield 0, "rel_residual", top.rel_residual
        yield 0, "converged", float(top.converged)


def from_params(s: ProbeParams) -> SharpnessProbe:
    """The registry's factory (bnpipe.probe_registry): a fresh probe from the `probe` section."""
    return SharpnessProbe(s.sharpness)
