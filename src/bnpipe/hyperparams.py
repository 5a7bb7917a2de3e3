"""A scale's resolved hyperparameters as one readable block: every leaf of params.yaml
after the scale's overlay, `key = value`, the keys that differ from the `paper` scale
marked `*` with the paper's value beside them.

`bnpipe params --scale NAME` prints it; the report embeds the same block, so what a
report shows is what the command prints for its params.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bnpipe.params import Params, load_params

SECTIONS = ("data", "grid", "vgg", "dln", "norm", "noise", "train", "speed", "probe", "analyze")


@dataclass(frozen=True)
class Setting:
    key: str  # dotted, e.g. "train.steps"
    value: Any
    paper: Any  # the `paper` scale's value; None where the paper scale lacks the key

    @property
    def differs(self) -> bool:
        return self.value != self.paper


def settings(params: Params, raw_params: dict) -> list[Setting]:
    """Every leaf of SECTIONS in params' resolved form, in params.yaml's order, each with
    the `paper` scale's value (from the same raw params)."""
    paper = load_params({**raw_params, "scale": "paper"})
    out: list[Setting] = []

    def walk(a: Any, b: Any, key: str) -> None:
        if isinstance(a, dict) and a:
            for k in a:  # a key the paper lacks (a scale's own mapping) compares to None
                walk(a[k], b.get(k) if isinstance(b, dict) else None, f"{key}.{k}" if key else k)
        else:
            out.append(Setting(key, a, b))

    walk(params.section(*SECTIONS), paper.section(*SECTIONS), "")
    return out


def block(params: Params, raw_params: dict) -> str:
    """The block as text: a header line, then one line per setting."""
    rows = settings(params, raw_params)
    width = max(len(s.key) for s in rows)
    lines = [
        f"# scale {params.scale}: {sum(s.differs for s in rows)} of {len(rows)} "
        "settings differ from `paper` (marked *, the paper's value after it)"
    ]
    for s in rows:
        mark = "*" if s.differs else " "
        shown = f"{s.key.ljust(width)} = {_value(s.value)}"
        lines.append(f"{mark} {shown}" + (f"   (paper: {_value(s.paper)})" if s.differs else ""))
    return "\n".join(lines) + "\n"


def _value(v: Any) -> str:
    return json.dumps(v, separators=(", ", ": "))
