"""Cut a small, class-balanced image-folder tarball from a larger one.

Used once to make the committed sample (data/sample/) from the JPEG mirror; the image
bytes are copied unchanged, and the tarball is byte-for-byte reproducible (sorted
members, zero mtimes, no owner names, gzip header without a timestamp).
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections import defaultdict
from pathlib import Path

from bnpipe.data.sources import CLASSES, _split_class
from bnpipe.files import atomic_path


def make_sample(src: Path, dest: Path, per_class: dict[str, int]) -> dict[str, int]:
    """Keep the first per_class[split] images (by name) of every class; returns counts."""
    chosen: dict[tuple[str, str], list[tuple[str, bytes]]] = defaultdict(list)
    with tarfile.open(src, "r:*") as tar:
        for member in tar:
            where = _split_class(member.name) if member.isfile() else None
            if where and where[0] in per_class:
                chosen[where].append((member.name, tar.extractfile(member).read()))
    counts = {}
    with (
        atomic_path(dest) as tmp,
        tmp.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as out,
    ):
        for split, n in per_class.items():
            for cls in CLASSES:
                files = sorted(chosen[(split, cls)])[:n]
                if len(files) < n:
                    raise ValueError(f"{src}: {split}/{cls} has only {len(files)} images")
                for name, data in files:
                    info = tarfile.TarInfo(f"{split}/{cls}/{name.rsplit('/', 1)[-1]}")
                    info.size, info.mode, info.mtime = len(data), 0o644, 0
                    out.addfile(info, io.BytesIO(data))
                counts[f"{split}/{cls}"] = len(files)
    return counts
