"""HTML building blocks of the report page: tables, verdict badges, numbers with their
intervals, and the file operations that replace a finished page in one rename."""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

from bnpipe.analysis.claims.judging import tidy_estimate
from bnpipe.report import figures


def replace_dir(new: Path, target: Path) -> None:
    """Swap `new` in for `target` with renames only: a reader sees the old or the new."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def badge(verdict: str) -> str:
    return f'<span class="verdict {verdict.split()[0]}">{html.escape(verdict)}</span>'


def number(x, fmt: str = "{:.4g}") -> str:
    """A finite number in `fmt`, anything else as a dash."""
    return figures.finite_or_dash(x, fmt)


def interval(est, lo, hi, fmt: str = "{:.4g}") -> str:
    if all(isinstance(v, (int, float)) for v in (est, lo, hi)):
        est = tidy_estimate(est, lo, hi)
    return f"{number(est, fmt)} [{number(lo, fmt)}, {number(hi, fmt)}]"


def table(head: list[str], rows: list[list[str]], escape: bool = True) -> str:
    esc = html.escape if escape else str
    out = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    for cells in rows:
        out += "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
    return out + "</table>"


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
