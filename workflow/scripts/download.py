"""Fetch (or take a local copy of) the CIFAR-10 archive, verified.

python workflow/scripts/download.py --out data/raw/cifar10.tar.gz
python workflow/scripts/download.py --out data/raw/cifar10.tar.gz --local A.tar.gz
"""

import sys
from pathlib import Path

from bnpipe.cli import params_from, parser
from bnpipe.data.sources import DataError, download, take_local

p = parser(__doc__.splitlines()[0])
p.add_argument("--out", type=Path, required=True, help="where the verified archive goes")
p.add_argument("--local", type=Path, help="use this local archive instead of the URL")
p.add_argument("--timeout", type=float, default=60.0, help="seconds a stalled server may take")
args = p.parse_args()
data = params_from(args).data
try:
    if args.local:
        meta = take_local(args.local, args.out, data.md5)
    else:
        meta = download(data.url, args.out, data.md5, timeout=args.timeout)
except DataError as err:
    sys.exit(f"download: {err}")
print(f"{args.out}: {meta['known_as']}, sha256 {meta['sha256'][:16]}")
