"""Batches as pure functions of (seed, step, purpose).

No generator carries hidden state between steps: the batch of step t is recomputed from
(seed, t) anywhere (training, a probe replaying step t, a resumed run), always the same.
The data set lives on the training device as uint8 and is normalized per batch there.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch


def derive_seed(seed: int, step: int, purpose: str) -> int:
    """A 63-bit seed that depends on (seed, step, purpose) and nothing else."""
    digest = hashlib.blake2b(f"{seed}/{step}/{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def generator(seed: int, step: int, purpose: str) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, step, purpose))


@functools.lru_cache(maxsize=4)
def _epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """The epoch's permutation (n,), copied to `device` once per epoch. A per-step copy
    from host memory would wait for the device's queued work, so each CUDA step would
    start only when the last had finished (measured on an H100: 3% of a VGG step)."""
    return torch.randperm(n, generator=generator(seed, epoch, "shuffle")).to(device)


def train_batch_indices(
    n: int, batch_size: int, seed: int, step: int, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Indices (batch_size,) of step `step`, on `device`: epochs are fresh permutations
    of the n examples, cut into n // batch_size batches (the remainder of an epoch is
    dropped)."""
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch size {batch_size} exceeds the {n} training examples")
    epoch, k = divmod(step, per_epoch)
    order = _epoch_order(n, seed, epoch, torch.device(device))
    return order[k * batch_size : (k + 1) * batch_size]


def probe_indices(n: int, size: int, seed: int) -> torch.Tensor:
    """The fixed probe batch (size,) of a run: the same at every snapshot."""
    return torch.randperm(n, generator=generator(seed, 0, "probe"))[: min(size, n)]


def eval_train_indices(n: int, size: int, seed: int) -> torch.Tensor:
    """The training images a run evaluates (sorted, so reads are in order): all n if
    size is 0 or at least n, else a fixed random subset of `size` drawn from the seed."""
    if size <= 0 or size >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=generator(seed, 0, "eval_train"))[:size].sort().values


def channel_moments(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (n - 1) of uint8 images (N, H, W, 3), in
    [0, 1] units: two (3,) fp64 tensors.

    From each channel's histogram of its 256 values, so in fp64 over 256 terms (exact
    counts), never over a float copy of the images: an fp64 copy of CIFAR-10's training
    set is 1.2 GB, and it was each job's largest allocation."""
    pixels = torch.from_numpy(np.ascontiguousarray(images)).view(-1, 3)  # (N*H*W, 3) uint8
    values = torch.arange(256, dtype=torch.float64) / 255
    mean, std = torch.empty(3, dtype=torch.float64), torch.empty(3, dtype=torch.float64)
    for c in range(3):
        counts = torch.bincount(pixels[:, c].contiguous(), minlength=256).double()  # (256,)
        n = counts.sum()
        mean[c] = (counts * values).sum() / n
        std[c] = ((counts * (values - mean[c]) ** 2).sum() / (n - 1)).sqrt()
    return mean, std


class DeviceData:
    """CIFAR-10 arrays on one device; `batch(idx)` gives normalized float inputs."""

    def __init__(self, arrays: dict[str, np.ndarray], device: torch.device | str = "cpu"):
        def images(a: np.ndarray) -> torch.Tensor:  # (N, 32, 32, 3) -> (N, 3, 32, 32) uint8
            return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous().to(device)

        self.x_train, self.x_test = images(arrays["x_train"]), images(arrays["x_test"])
        self.y_train = torch.from_numpy(arrays["y_train"]).long().to(device)
        self.y_test = torch.from_numpy(arrays["y_test"]).long().to(device)
        mean, std = channel_moments(arrays["x_train"])
        self.mean = mean.float().view(1, 3, 1, 1).to(device)
        self.std = std.float().view(1, 3, 1, 1).to(device)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images (B, 3, H, W) -> fp32 (x / 255 - mean) / std: the three operations
        in place on one fresh fp32 copy, the same bits as out of place (tested)."""
        return x.to(torch.float32, copy=True).div_(255).sub_(self.mean).div_(self.std)

    def batch(self, idx: torch.Tensor, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Images idx (k,) of `split`, normalized: (k, 3, H, W) fp32, and their labels (k,).
        Gathered by index_select and normalized in place: on the cpu scale's 128-image
        batches 0.68 against 1.09 ms for advanced indexing and out-of-place arithmetic
        (one thread, caches flushed; docs/measurements/cpu-2026-11-23-step-candidates)."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        idx = idx.to(x.device)
        return self.normalize(x.index_select(0, idx)), y.index_select(0, idx)
