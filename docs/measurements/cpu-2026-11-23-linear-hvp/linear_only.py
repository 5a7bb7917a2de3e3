"""nn.Linear layers computed by second_order_forms' (W x^T)^T alone, inside the block
(shared by land_ab.py and land_floor.py)."""
import contextlib

import torch

from bnpipe.probes import second_order as so


@contextlib.contextmanager
def linear_only(model):
    done = []
    for m in model.modules():
        if type(m) is torch.nn.Linear:
            m.forward = so._linear_feature_major.__get__(m)
            done.append(m)
    try:
        yield
    finally:
        for m in done:
            del m.forward
