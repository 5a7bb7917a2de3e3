"""The verdict table of a run, as Markdown, from its claims.json: what the README and
docs show of a run's results, generated, never retyped.

In a Markdown file, a table sits between two markers that name the claims.json it comes
from (a path from the repository root):

    <!-- verdict table: docs/results/cpu/claims.json -->
    | # | claim | verdict | primary test |
    ...
    <!-- end verdict table -->

`python workflow/scripts/verdict_table.py --refresh README.md docs/results.md` rewrites
every such table from its file; tests/test_docs.py fails when one differs from it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bnpipe.analysis.claims.multiverse import in_brief

BLOCK = re.compile(
    r"(?P<open><!-- verdict table: (?P<path>\S+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- end verdict table -->)",
    re.S,
)


def verdict_table(claims: list[dict]) -> str:
    """One row per claim: number, title, verdict, its multiverse panel in brief, and the
    primary test's sentence (its estimate, interval, seeds and, where one was made, its
    error check's widening)."""
    lines = ["| # | claim | verdict | panel | primary test |", "|---|---|---|---|---|"]
    for c in claims:
        primary = c["primary"]
        sentence = primary["sentence"].replace("|", "\\|").replace("\n", " ")
        panel = in_brief(c.get("multiverse"))
        lines.append(f"| {c['claim']} | {c['title']} | **{c['verdict']}** | {panel} | {sentence} |")
    return "\n".join(lines) + "\n"


def table_of(claims_json: Path) -> str:
    return verdict_table(json.loads(Path(claims_json).read_text())["claims"])


def refreshed(text: str, root: Path) -> str:
    """`text` with every marked table regenerated from the claims.json its marker names."""

    def table(m: re.Match) -> str:
        source = root / m["path"]
        if not source.is_file():
            raise FileNotFoundError(f"verdict table: {m['path']} (named by a marker) is missing")
        return m["open"] + table_of(source) + m["close"]

    return BLOCK.sub(table, text)


def sources(text: str) -> list[str]:
    """The claims.json files the marked tables of `text` name."""
    return [m["path"] for m in BLOCK.finditer(text)]
