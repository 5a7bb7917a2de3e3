"""Blocks that run a network without changing what training left in it.

  preserved_state  every parameter and buffer (BatchNorm running statistics included)
                   restored after the block
  frozen_stats     training mode with batch statistics, but no running-average updates

Probes run inside both; training uses them to read the probe batch's moments at the
lag steps (bnpipe.training.lag_record) without moving its own state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    try:
        yield model
    finally:
        model.load_state_dict(saved)
        model.train(was_training)


@contextlib.contextmanager
def frozen_stats(model: nn.Module) -> Iterator[nn.Module]:
    """Training mode with batch statistics, but no running-average updates (BN, l_p).

    BatchNorm with track_running_stats=False normalizes by the batch statistics and
    leaves its buffers alone; the l_p layers honour the same flag. This also makes the
    forward pass free of in-place buffer writes, which vmap and jvp need.
    """
    tracked = [m for m in model.modules() if hasattr(m, "track_running_stats")]
    flags = [m.track_running_stats for m in tracked]
    was_training = model.training
    model.train()
    for m in tracked:
        m.track_running_stats = False
    try:
        yield model
    finally:
        for m, flag in zip(tracked, flags, strict=True):
            m.track_running_stats = flag
        model.train(was_training)
