"""Raw archive -> one canonical array file, plus a JSON sidecar with its checksum;
and the deep linear network's synthetic data, generated from its own seed.

The file is an .npz with x_train (N, 32, 32, 3) uint8, y_train (N,) int64, x_test, y_test.
Its checksum is a sha256 over the arrays' bytes (not the zip container), so the same data
always has the same checksum; every run records it in its provenance.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from bnpipe.data.batches import derive_seed
from bnpipe.data.sources import describe_archive, file_digests, read_archive
from bnpipe.files import atomic_path, write_json
from bnpipe.params import DataParams, DLNParams, digest_of

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def prepare_cifar10(archive: Path, out: Path, data: DataParams) -> dict:
    """Read `archive`, keep `data.*_per_class` images per class, write `out` and its .json."""
    archive = Path(archive)
    fmt, splits = read_archive(
        archive, {"train": data.train_per_class, "test": data.test_per_class}
    )
    arrays = {
        "x_train": splits["train"].images,
        "y_train": splits["train"].labels,
        "x_test": splits["test"].images,
        "y_test": splits["test"].labels,
    }
    with atomic_path(out) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)
    _, archive_sha = file_digests(archive)
    origin = archive
    record = archive.with_suffix(archive.suffix + ".json")
    if record.exists():  # written by download/take_local: says where the archive came from
        origin = json.loads(record.read_text())["origin"]
    meta = {
        "checksum": content_checksum(arrays),
        "archive": str(origin),
        "archive_sha256": archive_sha,
        "source": describe_archive(archive_sha, fmt),
        "n_train": int(len(arrays["y_train"])),
        "n_test": int(len(arrays["y_test"])),
        "train_per_class": data.train_per_class,
        "test_per_class": data.test_per_class,
        "params_digest": digest_of(data),
    }
    write_json(sidecar(out), meta)
    return meta


def content_checksum(arrays: dict[str, np.ndarray], names: tuple[str, ...] = ARRAYS) -> str:
    sha = hashlib.sha256()
    for name in names:
        a = np.ascontiguousarray(arrays[name])
        sha.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        sha.update(a.tobytes())
    return sha.hexdigest()


def sidecar(prepared: Path) -> Path:
    """data/prepared/cifar10.npz -> data/prepared/cifar10.json"""
    return Path(prepared).with_suffix(".json")


def load_prepared(path: Path, data: DataParams | None = None) -> tuple[dict, dict]:
    """The arrays and their metadata; refuses a file whose content does not match its
    checksum, or (given `data`) one prepared with other `data` params."""
    return _load(path, ARRAYS, data, "data")


def load_dln(path: Path, dln: DLNParams | None = None) -> tuple[dict, dict]:
    """As load_prepared, for the deep linear network's data and `dln` params."""
    return _load(path, DLN_ARRAYS, dln, "dln")


def _load(path: Path, names: tuple[str, ...], params: Any, section: str) -> tuple[dict, dict]:
    with np.load(path) as f:
        arrays = {name: f[name] for name in names}
    meta = json.loads(sidecar(path).read_text())
    if content_checksum(arrays, names) != meta["checksum"]:
        raise RuntimeError(f"{path}: content does not match the checksum in {sidecar(path)}")
    if params is not None and meta.get("params_digest") != digest_of(params):
        raise RuntimeError(
            f"{path} was prepared with other `{section}` params than the ones given now "
            f"(digest {meta.get('params_digest')} != {digest_of(params)}); rerun prepare "
            "(snakemake does so by itself)"
        )
    return arrays, meta


DLN_ARRAYS = ("x", "y", "a")


def prepare_dln(dln: DLNParams, out: Path) -> dict:
    """The deep linear network's data, from `dln.data_seed` alone: x (examples, width) with
    i.i.d. N(0, 1) entries, A (width, width) with N(0, 1) entries, y = x A^T (rows A x)."""
    rng = np.random.default_rng(derive_seed(dln.data_seed, 0, "dln-data"))
    a = rng.standard_normal((dln.width, dln.width)).astype(np.float32)
    x = rng.standard_normal((dln.examples, dln.width)).astype(np.float32)
    arrays = {"x": x, "y": x @ a.T, "a": a}
    with atomic_path(out) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)
    meta = {
        "checksum": content_checksum(arrays, DLN_ARRAYS),
        "source": f"synthetic: x ~ N(0, I_{dln.width}), y = A x, A ~ N(0, 1), "
        f"data_seed {dln.data_seed}",
        "n_train": dln.examples,
        "params_digest": digest_of(dln),
    }
    write_json(sidecar(out), meta)
    return meta
