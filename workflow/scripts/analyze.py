"""Pool all runs and their probe tables; judge the claims.

python workflow/scripts/analyze.py --runs results/quick/runs/* \
    --probes results/quick/probes/*.csv --out results/quick --claims reports/quick/claims.json
"""

from pathlib import Path

from bnpipe.analysis.analyze import analyze
from bnpipe.cli import params_from, parser

p = parser(__doc__.splitlines()[0])
p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
p.add_argument("--probes", type=Path, nargs="+", required=True, help="probe tables (CSV)")
p.add_argument("--out", type=Path, required=True, help="folder for the tables and metrics.json")
p.add_argument("--claims", type=Path, required=True, help="claims.json to write")
p.add_argument(
    "--long-arm", type=Path, nargs="*", default=[], help="long-arm results (make long-arm)"
)
p.add_argument(
    "--width-check",
    type=Path,
    nargs="*",
    default=[],
    help="width-check run folders (make width-check)",
)
args = p.parse_args()
metrics = analyze(args.runs, args.probes, params_from(args), args.out, args.claims, args.long_arm,
                  args.width_check)  # fmt: skip
print(f"{args.out}: verdicts {' '.join(metrics[f'c{n}'] for n in range(1, 8))} (claims 1-7)")
