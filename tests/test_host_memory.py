"""keep_freed_memory against glibc's own counters (mallinfo2), which follow fixed rules:
where each block comes from, and whether the heap shrinks. Page-fault counts do not: a
freed block's reuse depends on where its neighbours lie, which varies from process to
process (docs/measurements/cpu-2026-11-23-host-memory)."""

import subprocess
import sys
from typing import NamedTuple

import pytest

# One process per case: glibc's thresholds are per process and cannot be unset.
PATTERN = """
import ctypes, sys, torch
from bnpipe.host_memory import keep_freed_memory
print(int(keep_freed_memory()) if sys.argv[1] == "kept" else 0)  # 1: thresholds set
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
def counts():  # (mapped blocks, heap bytes, heap bytes in use)
    info = libc.mallinfo2()
    return info.hblks, info.arena, info.uordblks
start = counts()
blocks = [torch.empty(2 * 2**20) for _ in range(3)]  # three 8 MiB tensors
small = counts()
del blocks
freed = counts()
big = torch.empty(10 * 2**20)  # 40 MiB: above the 32 MiB threshold
large = counts()
print(*start, *small, *freed, *large)
"""

MiB = 2**20


class Counts(NamedTuple):
    mapped_blocks: int  # blocks with a mapping of their own (mallinfo2's hblks)
    heap: int  # bytes the heap holds (arena)
    heap_in_use: int  # bytes of it allocated (uordblks)


def _counts(mode: str) -> tuple[bool, list[Counts]]:
    """Whether the thresholds were set, and glibc's counts at start, with
    three 8 MiB tensors, after freeing them, and with one 40 MiB tensor."""
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's counters are read on Linux only")
    try:
        out = subprocess.run(
            [sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, check=True
        ).stdout.split()
    except subprocess.CalledProcessError as error:
        if "mallinfo2" in error.stderr or "libc.so.6" in error.stderr:  # musl, glibc < 2.33
            pytest.skip("no glibc mallinfo2 here")
        raise
    numbers = [int(n) for n in out[1:]]
    return out[0] == "1", [Counts(*numbers[i : i + 3]) for i in range(0, 12, 3)]


def test_kept_blocks_up_to_32_mib_come_from_the_heap_and_stay_there():
    kept, (start, small, freed, large) = _counts("kept")
    if not kept:
        pytest.skip("no glibc mallopt here: nothing is changed")
    assert small.mapped_blocks == start.mapped_blocks  # no 8 MiB tensor mapped by itself
    assert small.heap_in_use - start.heap_in_use >= 3 * 8 * MiB  # the heap holds them
    assert freed.heap == small.heap  # freed, they stay in the heap: none handed back
    assert freed.heap_in_use < small.heap_in_use - 3 * 8 * MiB
    assert large.mapped_blocks == freed.mapped_blocks + 1  # above 32 MiB: a mapping


def test_glibcs_defaults_map_a_fresh_process_first_8_mib_tensor_by_itself():
    """The counters see what keep_freed_memory changes: with glibc's defaults (mmap
    threshold 128 KiB until a mapped block is freed) the first 8 MiB tensor is a mapping
    of its own, and freeing it hands it back to the kernel."""
    _, (start, small, freed, _) = _counts("default")
    assert small.mapped_blocks == start.mapped_blocks + 3
    assert freed.mapped_blocks == start.mapped_blocks
