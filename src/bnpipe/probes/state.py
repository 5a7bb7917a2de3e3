"""Probes must never change the model: this restores every parameter and buffer
(BatchNorm running statistics included) after a block that may touch them."""

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
