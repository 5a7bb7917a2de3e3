"""How a CPU job's process gets its memory from the C library.

PyTorch allocates every CPU tensor with malloc. glibc serves a request of at least its
mmap threshold (128 KiB at start, raised on each free up to 32 MiB) with a fresh mapping,
and gives free memory at the top of its heap back to the kernel once it exceeds the trim
threshold. A training step or a probe frees its activations and asks for same-sized
blocks again at once; each block that went back to the kernel costs page faults (every
4 KiB page zeroed) before its first write. `keep_freed_memory` fixes both thresholds,
so blocks up to 32 MiB come from the heap and stay there when freed. Same numbers, bit
for bit; the process keeps its peak memory until it exits. Reuse is likely, not certain:
where a freed block's neighbours leave it a little short of the next aligned request,
the heap grows instead. The noise layer's pattern (three 8 MiB temporaries a round, one
process per line, docs/measurements/cpu-2026-11-23-host-memory): kept, 0-3 fresh
blocks in each of the first rounds, then 0-1 in rounds 11-40; glibc's defaults, one in
every round in 6 of 10 processes, 1-3 in all 30 in the other 4.

Measured (one thread, cpu-scale BN VGG snapshots, width 0.125): a no-grad forward pass
of the 512-image probe batch 2.2 -> 1.5 training steps; a training step 1.00x (training
reuses its blocks anyway; docs/performance.md "Speed").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks above it are always fresh mappings
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes a C int: up to 2 GiB free at the top stays


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's thresholds as the module docstring says; True if set. Elsewhere (no
    glibc: macOS, musl) nothing changes and this returns False."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    set_mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)  # 1 on success
    set_trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(set_mmap and set_trim)
