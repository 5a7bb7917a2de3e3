"""Write the HTML report.

python workflow/scripts/report.py --results results --probes ... --runs ... --out reports/index.html
"""

from pathlib import Path

import yaml

from bnpipe.cli import params_from, parser
from bnpipe.report import build_report

p = parser(__doc__.splitlines()[0])
p.add_argument("--results", type=Path, required=True, help="folder written by analyze")
p.add_argument("--probes", type=Path, nargs="+", required=True, help="probe tables")
p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
p.add_argument("--out", type=Path, required=True, help="HTML page to write")
args = p.parse_args()
raw = yaml.safe_load(args.params.read_text())
build_report(params_from(args), raw, args.results, args.probes, args.runs, args.out)
print(f"wrote {args.out}")
