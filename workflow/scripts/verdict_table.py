"""Print a run's verdict table (Markdown) from its claims.json, e.g.
python workflow/scripts/verdict_table.py reports/cpu/claims.json"""

import argparse
from pathlib import Path

from bnpipe.report.verdict_table import table_of

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("claims", type=Path, help="reports/<scale>/claims.json")
print(table_of(p.parse_args().claims), end="")
