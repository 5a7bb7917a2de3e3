"""The verdict table of a run, as Markdown, from its claims.json: what the README and
docs show of a run's results, generated, never retyped
(`python workflow/scripts/verdict_table.py reports/cpu/claims.json`)."""

from __future__ import annotations

import json
from pathlib import Path


def verdict_table(claims: list[dict]) -> str:
    """One row per claim: number, title, verdict and the primary test's sentence (its
    estimate, interval, seeds and, where one was made, its error check's widening)."""
    lines = ["| # | claim | verdict | primary test |", "|---|---|---|---|"]
    for c in claims:
        primary = c["primary"]
        sentence = primary["sentence"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {c['claim']} | {c['title']} | **{c['verdict']}** | {sentence} |")
    return "\n".join(lines) + "\n"


def table_of(claims_json: Path) -> str:
    return verdict_table(json.loads(Path(claims_json).read_text())["claims"])
