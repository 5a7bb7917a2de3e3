"""Print a run's verdict table (Markdown) from its claims.json, or regenerate the marked
tables of Markdown files (bnpipe.report.verdict_table), e.g.
python workflow/scripts/verdict_table.py reports/cpu/claims.json
python workflow/scripts/verdict_table.py --refresh README.md docs/results.md"""

import argparse
from pathlib import Path

from bnpipe.report.verdict_table import refreshed, table_of

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("files", type=Path, nargs="+", help="a claims.json, or Markdown files")
p.add_argument("--refresh", action="store_true", help="rewrite the files' marked tables")
p.add_argument("--root", type=Path, default=Path("."), help="where marker paths start")
args = p.parse_args()
if args.refresh:
    for path in args.files:
        text = path.read_text()
        new = refreshed(text, args.root)
        if new != text:
            path.write_text(new)
            print(f"{path}: verdict tables regenerated")
else:
    for path in args.files:
        print(table_of(path), end="")
