"""What a model is trained on: its data, batches, loss and evaluation.

CifarTask  VGG on CIFAR-10: mini-batches from (seed, step), mean cross-entropy,
           accuracy; evaluation in eval mode on a fixed subset of the training set
           (`train.eval_train_images`, drawn from the run's seed, the same at every
           evaluation) and on the full test set.
DLNTask    the deep linear network: the full batch every step, loss = sum over
           examples of ||f(x) - A x||^2; evaluation: the same loss in eval mode.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bnpipe.data.batches import (
    DeviceData,
    eval_train_indices,
    probe_indices,
    train_batch_indices,
)
from bnpipe.data.prepare import load_dln, load_prepared
from bnpipe.params import DataParams, DLNParams, Params, RunSpec

EVAL_BATCH = 1000  # examples per forward pass in evaluation


class CifarTask:
    def __init__(
        self,
        prepared: Path,
        data: DataParams | None,  # None: any prepared file (the benchmark's timing task)
        batch_size: int,
        seed: int,
        device: str,
        eval_train_images: int = 0,
    ):
        arrays, self.data_meta = load_prepared(prepared, data)
        self.data = DeviceData(arrays, device)
        self.batch_size, self.seed = batch_size, seed
        # (k,) sorted indices of the evaluated training images: all, or a per-seed subset
        self.eval_train = eval_train_indices(self.data.n_train, eval_train_images, seed)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data.batch(
            train_batch_indices(
                self.data.n_train, self.batch_size, self.seed, step, self.data.device
            )
        )

    def probe_batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data.batch(probe_indices(self.data.n_train, size, self.seed))

    @staticmethod
    def loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, y)

    @staticmethod
    def accuracy(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (output.argmax(1) == y).float().mean()

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Loss and accuracy on the evaluated training images and the full test set, in
        eval mode."""
        result = {}
        splits = (
            ("train", "eval_train", self.eval_train),
            ("test", "test", torch.arange(len(self.data.y_test))),
        )
        for split, prefix, idx in splits:
            n = len(idx)
            loss_sum = torch.zeros((), device=self.data.mean.device)
            correct = torch.zeros((), device=self.data.mean.device)
            for lo in range(0, n, EVAL_BATCH):
                x, y = self.data.batch(idx[lo : lo + EVAL_BATCH], split)
                logits = model(x)
                loss_sum += F.cross_entropy(logits, y, reduction="sum")
                correct += (logits.argmax(1) == y).sum()
            result[f"{prefix}_loss"] = loss_sum.item() / n
            result[f"{prefix}_acc"] = correct.item() / n
        return result


class DLNTask:
    def __init__(self, prepared: Path, dln: DLNParams, device: str):
        arrays, self.data_meta = load_dln(prepared, dln)
        self.x = torch.from_numpy(arrays["x"]).to(device)  # (examples, width)
        self.y = torch.from_numpy(arrays["y"]).to(device)  # (examples, width) = x A^T

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.y  # full-batch gradient descent

    def probe_batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.y  # the probe sees the batch training sees

    @staticmethod
    def loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (output - y).pow(2).sum()

    @staticmethod
    def accuracy(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.full((), float("nan"), device=output.device)  # regression: none

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {"eval_train_loss": self.loss(model(self.x), self.y).item()}


def make_task(spec: RunSpec, params: Params, prepared: Path, device: str) -> CifarTask | DLNTask:
    if spec.model == "dln":
        return DLNTask(prepared, params.dln, device)
    return CifarTask(
        prepared,
        params.data,
        params.train.batch_size,
        spec.seed,
        device,
        params.train.eval_train_images,
    )
