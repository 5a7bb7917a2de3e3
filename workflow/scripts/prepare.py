"""Raw archive -> canonical arrays.

python workflow/scripts/prepare.py --archive A --out data/prepared/cifar10.npz
"""

import sys
from pathlib import Path

from bnpipe.cli import params_from, parser
from bnpipe.data.prepare import prepare_cifar10
from bnpipe.data.sources import DataError

p = parser(__doc__.splitlines()[0])
p.add_argument("--archive", type=Path, required=True, help="verified CIFAR-10 archive")
p.add_argument("--out", type=Path, required=True, help="canonical .npz to write")
args = p.parse_args()
try:
    meta = prepare_cifar10(args.archive, args.out, params_from(args).data)
except DataError as err:
    sys.exit(f"prepare: {err}")
print(
    f"{args.out}: {meta['n_train']} train, {meta['n_test']} test, checksum {meta['checksum'][:16]}"
)
