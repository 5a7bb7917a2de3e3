"""Pool all runs: python workflow/scripts/analyze.py --runs results/runs/* --out results"""

from pathlib import Path

from bnpipe.analyze import analyze
from bnpipe.cli import params_from, parser

p = parser(__doc__)
p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
p.add_argument("--out", type=Path, required=True, help="folder for runs.csv, metrics.json")
args = p.parse_args()
metrics = analyze(args.runs, params_from(args), args.out)
print(f"{args.out}: {metrics['runs']}")
