"""The probe schedule: which steps of a run get a snapshot."""

from __future__ import annotations

import numpy as np


def snapshot_steps(total_steps: int, n: int) -> list[int]:
    """n distinct steps in [0, total_steps], log-spaced so they are dense early in training
    (where the paper's curves move most), always including 0 and total_steps."""
    if n >= total_steps + 1:
        return list(range(total_steps + 1))
    k = n
    while True:  # grow the grid until rounding leaves at least n distinct steps
        steps = np.unique(np.round(np.geomspace(1, total_steps + 1, k)).astype(int) - 1)
        if len(steps) >= n:
            break
        k += 1
    middle = steps[1:-1]  # steps[0] == 0 and steps[-1] == total_steps
    keep = middle[np.round(np.linspace(0, len(middle) - 1, n - 2)).astype(int)] if n > 2 else []
    return [0, *sorted({int(s) for s in keep}), total_steps]
