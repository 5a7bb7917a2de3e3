"""The probe schedule: which steps of a run get a snapshot."""

from __future__ import annotations

import numpy as np


def snapshot_steps(total_steps: int, n: int, log_share: float = 0.5) -> list[int]:
    """n distinct steps in [0, total_steps], always including 0 and total_steps; of the
    n - 2 between, a `log_share` are log-spaced (dense early, where the paper's curves
    move most) and the rest evenly spaced (so that every part of training has snapshots:
    the comparisons use only snapshots taken after both networks left chance, and average
    over windows of steps). A short run, whose networks leave chance late in relative
    terms, wants a small log_share."""
    if n >= total_steps + 1:
        return list(range(total_steps + 1))
    chosen = {0, total_steps}
    n_linear = round((1 - log_share) * (n - 2))
    chosen |= {int(s) for s in np.round(np.linspace(0, total_steps, n_linear + 2))}
    k = n
    while len(chosen) < n:  # fill with log-spaced steps until n are distinct
        log = np.unique(np.round(np.geomspace(1, total_steps + 1, k)).astype(int) - 1)
        for s in log:
            if len(chosen) >= n:
                break
            chosen.add(int(s))
        k *= 2
    return sorted(chosen)
