import subprocess
import sys

import pytest

# One process per case: glibc's thresholds are per process and cannot be unset.
PATTERN = """
import resource, sys, torch
torch.set_num_threads(1)
from bnpipe.host_memory import keep_freed_memory
print(int(keep_freed_memory()) if sys.argv[1] == "kept" else 0)  # 1: thresholds set
u = torch.rand(128, 16, 32, 32)  # 8 MiB: 2,048 pages of 4 KiB
for _ in range(3):
    (2 * u - 1) * 0.1 + 0.3  # the noise layer's pattern: three 8 MiB temporaries
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    (2 * u - 1) * 0.1 + 0.3
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run(
        [sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "1", int(out[1])


def test_freed_blocks_are_reused_without_page_faults():
    """Ten rounds of three 8 MiB temporaries: with glibc's defaults this machine faults
    in about 8,000 pages (blocks handed back to the kernel and mapped afresh); with
    keep_freed_memory at most one block's 2,048 (its first touch)."""
    kept, faults = _page_faults("kept")
    if not kept:
        pytest.skip("no glibc mallopt here: nothing is changed")
    if faults > 2048 + 256:
        _, default_faults = _page_faults("default")
        pytest.fail(f"{faults} page faults with freed blocks kept, {default_faults} without")
