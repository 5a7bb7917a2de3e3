"""Write the HTML report and its figures.

python workflow/scripts/report.py --results results/quick --claims reports/quick/claims.json \
    --probes results/quick/probes/*.csv --runs results/quick/runs/* \
    --out reports/quick/index.html --figures reports/quick/figures
"""

from pathlib import Path

from bnpipe.cli import parser
from bnpipe.params import load_params, read_experiment
from bnpipe.report.page import build_report

p = parser(__doc__.splitlines()[0])
p.add_argument("--results", type=Path, required=True, help="folder written by analyze")
p.add_argument("--claims", type=Path, required=True, help="claims.json written by analyze")
p.add_argument("--probes", type=Path, nargs="+", required=True, help="probe tables")
p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
p.add_argument("--out", type=Path, required=True, help="HTML page to write")
p.add_argument("--figures", type=Path, required=True, help="folder for SVG/PNG/JSON figures")
p.add_argument("--bench", type=Path, help="reports/bench.json, when `make bench` wrote one")
args = p.parse_args()
raw = read_experiment(args.params, args.scale)
params = load_params(raw)
build_report(
    params,
    raw,
    args.results,
    args.claims,
    args.probes,
    args.runs,
    args.out,
    args.figures,
    args.bench,
)
print(f"wrote {args.out} and {args.figures}/")
