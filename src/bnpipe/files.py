"""Atomic writes: every output appears complete or not at all.

Each writer fills a temporary file beside the target and renames it into place, so a
crash (or kill -9) never leaves a half-written file under the target's name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

UMASK = os.umask(0)
os.umask(UMASK)  # read the process umask (there is no getter)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `target`, on error it goes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a killed writer
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~UMASK)  # mkstemp's 0600 would hide outputs from the group
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(target: str | Path, obj: Any) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def save_torch(target: str | Path, obj: Any) -> str:
    """torch.save, atomically, with bytes that depend on `obj` alone: serialized in memory
    (torch names a zip archive's inner folder after the file it writes, here always
    "archive"), so equal tensors give equal files. Returns the bytes' sha256."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CorruptFile(RuntimeError):
    """A saved tensor file that does not match its recorded checksum or cannot be read."""


def load_torch(path: str | Path, expected_sha256: str | None, rebuild: str, **kw: Any) -> Any:
    """torch.load after checking the file against the sha256 its writer recorded; a
    mismatch or an unreadable file raises CorruptFile: one line, the file, the fix."""
    import torch

    path = Path(path)
    if not path.exists():
        raise CorruptFile(f"{path}: missing; rebuild it with: {rebuild}")
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise CorruptFile(
            f"{path}: corrupt or truncated (its sha256 differs from the one recorded when it "
            f"was written); rebuild it with: {rebuild}"
        )
    try:
        return torch.load(path, **kw)
    except Exception as err:  # a torch zip error is a traceback, not an explanation
        why = type(err).__name__
        raise CorruptFile(f"{path}: unreadable ({why}); rebuild it with: {rebuild}") from None


def write_csv(target: str | Path, frame: Any) -> None:
    """Write a pandas DataFrame without its index."""
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)


def staging_dir(parent: str | Path, prefix: str) -> Path:
    """A new empty folder in `parent`, with the umask's usual permissions (mkdtemp's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, 0o777 & ~UMASK)
    return path
