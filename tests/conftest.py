"""Shared fixtures: tiny CIFAR-10-shaped archives made on the spot, in both formats; the
smoke DAG built once for the integration tests that read or extend a built tree."""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from bnpipe.data.sources import CLASSES
from bnpipe.params import PROTOCOL_FILE, load_params

ROOT = Path(__file__).resolve().parents[1]


def raw_params(scale: str = "smoke") -> dict:
    """The protocol with `scale` set: the raw params of an experiment that sets nothing
    else (tests edit it as they need)."""
    raw = yaml.safe_load((ROOT / PROTOCOL_FILE).read_text())
    raw["scale"] = scale
    return raw


@pytest.fixture
def smoke_params():
    return load_params(raw_params("smoke"))


@pytest.fixture(scope="session")
def smoke_built(tmp_path_factory) -> Path:
    """A copy of the checkout with the smoke DAG built by Snakemake (snapshots kept), once
    per session: tests read it as it is or extend a copy of it (copy_built), never change
    it (a full build takes minutes; tests/test_integration.py checks this one)."""
    from test_integration import SMK, _copy_checkout, _sh

    root = _copy_checkout(tmp_path_factory.mktemp("smoke_built"))
    _sh(SMK, root)
    return root


def copy_built(built: Path, dest: Path) -> Path:
    """A copy of a built tree that Snakemake finds up to date: the files with their
    times, and .snakemake's record of what made them."""
    shutil.copytree(built, dest, symlinks=True)
    return dest


def fake_images(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(10 * n, 32, 32, 3) uint8 images and labels 0..9, class-major."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), n_per_class)
    return rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8), labels


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_pickle_archive(path: Path, n_per_class: int = 2, seed: int = 0) -> dict:
    """An archive laid out like the official cifar-10-python.tar.gz; returns its arrays."""
    x_train, y_train = fake_images(n_per_class * 5, seed)
    x_test, y_test = fake_images(n_per_class, seed + 1)
    with tarfile.open(path, "w:gz") as tar:
        for i, part in enumerate(np.array_split(np.arange(len(y_train)), 5), start=1):
            batch = {
                b"data": x_train[part].transpose(0, 3, 1, 2).reshape(len(part), -1),
                b"labels": y_train[part].tolist(),
            }
            _add(tar, f"cifar-10-batches-py/data_batch_{i}", pickle.dumps(batch))
        test = {
            b"data": x_test.transpose(0, 3, 1, 2).reshape(len(y_test), -1),
            b"labels": y_test.tolist(),
        }
        _add(tar, "cifar-10-batches-py/test_batch", pickle.dumps(test))
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps({}))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def make_imagefolder_archive(
    path: Path, n_per_class: int = 3, seed: int = 0, classes=CLASSES, size=(32, 32)
) -> dict:
    """An image-folder tarball of lossless PNGs under a prefix folder; returns its arrays."""
    from PIL import Image

    out = {}
    with tarfile.open(path, "w:gz") as tar:
        for split, s in (("train", seed), ("test", seed + 1)):
            x, y = fake_images(n_per_class, s)
            for i, (img, label) in enumerate(zip(x, y, strict=True)):
                if CLASSES[label] not in classes:
                    continue
                buf = io.BytesIO()
                Image.fromarray(img).resize(size).save(buf, format="PNG")
                _add(tar, f"cifar/{split}/{CLASSES[label]}/{i:04d}.png", buf.getvalue())
            out[f"x_{split}"], out[f"y_{split}"] = x, y
    return out
