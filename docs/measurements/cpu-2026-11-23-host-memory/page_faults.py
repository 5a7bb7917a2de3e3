"""Fresh 8 MiB blocks per round of the noise layer's pattern, with and without
`keep_freed_memory`: one process per line, 40 rounds each.

    python page_faults.py kept|default

prints the mode, one digit per round (minor page faults / 2,048, i.e. how many 8 MiB
blocks were mapped afresh and zeroed), and the sum over rounds 11-40.
"""

import resource
import sys

import torch

from bnpipe.host_memory import keep_freed_memory

torch.set_num_threads(1)
if sys.argv[1] == "kept":
    keep_freed_memory()
u = torch.rand(128, 16, 32, 32)  # 8 MiB: 2,048 pages of 4 KiB
blocks = []
for _ in range(40):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    (2 * u - 1) * 0.1 + 0.3  # three 8 MiB temporaries, two alive at once
    blocks.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 2048)
print(sys.argv[1], "".join(map(str, blocks)), sum(blocks[10:]))
