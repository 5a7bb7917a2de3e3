"""`bnpipe params`: a scale's resolved hyperparameters as one block, its differences from
`paper` marked; the report embeds the same block."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, raw_params

from bnpipe.cli import main
from bnpipe.hyperparams import block, settings
from bnpipe.params import load_params


def test_the_block_marks_exactly_the_settings_a_scale_changes():
    raw = raw_params("cpu")
    rows = {s.key: s for s in settings(load_params(raw), raw)}
    assert rows["train.steps"].value == 3000 and rows["train.steps"].paper == 15000
    assert rows["train.steps"].differs and not rows["train.batch_size"].differs
    assert rows["grid.variants_at.vgg.0.5"].paper is None  # a key the paper lacks
    text = block(load_params(raw), raw)
    assert "* train.steps" in text and "(paper: 15000)" in text
    assert "\n  train.batch_size" in text and "128   (paper" not in text
    paper = raw_params("paper")
    assert not any(s.differs for s in settings(load_params(paper), paper))
    assert block(load_params(paper), paper).startswith("# scale paper: 0 of ")


def test_the_command_prints_the_block_and_names_a_bad_scale(capsys):
    assert main(["params", "--scale", "smoke", "--params", str(ROOT / "params.yaml")]) == 0
    raw = raw_params("smoke")
    assert capsys.readouterr().out == block(load_params(raw), raw)
    assert main(["params", "--scale", "huge", "--params", str(ROOT / "params.yaml")]) == 2
    assert "scale: 'huge'" in capsys.readouterr().err
    shown = subprocess.run(
        [sys.executable, "-m", "bnpipe.cli", "params", "--scale", "quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.startswith("# scale quick: ")


def test_the_report_embeds_the_same_block():
    from bnpipe.report.page import _hyperparams

    raw = raw_params("quick")
    params = load_params(raw)
    shown = _hyperparams(params, raw)
    assert "bnpipe params --scale quick" in shown
    assert "* train.steps" in shown and "(paper: 15000)" in shown
