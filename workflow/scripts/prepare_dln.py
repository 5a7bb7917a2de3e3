"""The deep linear network's synthetic data.

python workflow/scripts/prepare_dln.py --out data/prepared/dln.npz
"""

from pathlib import Path

from bnpipe.cli import params_from, parser
from bnpipe.data.prepare import prepare_dln

p = parser(__doc__.splitlines()[0])
p.add_argument("--out", type=Path, required=True, help="arrays to write (.npz)")
args = p.parse_args()
meta = prepare_dln(params_from(args).dln, args.out)
print(f"{args.out}: {meta['source']}, checksum {meta['checksum'][:16]}")
