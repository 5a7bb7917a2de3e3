"""The noise layer's forward before the in-place change, for side-by-side timing."""

import torch


def previous_forward(self, x):
    """The noise layer's forward before the change: out-of-place arithmetic in NCHW, then
    both draws copied into channels_last."""
    from bnpipe.data.batches import derive_seed
    from bnpipe.models.norms import unit_view

    if not self.training or not self.active:
        return x
    q = self.noise
    g = torch.Generator(device=x.device)
    g.manual_seed(derive_seed(self.seed, self.step, f"noise/{self.layer}"))
    c = x.shape[1]

    def uniform(*shape):
        return torch.rand(*shape, generator=g, device=x.device, dtype=x.dtype)

    mu = unit_view(x, (2 * uniform(c) - 1) * q.n_mu)
    sigma = unit_view(x, 1 + uniform(c) * (q.n_sigma - 1))
    m = mu + (2 * uniform(*x.shape) - 1) * q.r_mu
    normal = torch.randn(*x.shape, generator=g, device=x.device, dtype=x.dtype)
    s = sigma + normal * q.r_sigma
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        s = s.contiguous(memory_format=torch.channels_last)
        m = m.contiguous(memory_format=torch.channels_last)
    return s * x + m
