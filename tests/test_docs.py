"""Tables of results in the README and docs are generated from a run's claims.json and
never retyped: each marked table equals what the generator makes of the file it names."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from bnpipe.report.verdict_table import refreshed, sources, verdict_table

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_marked_verdict_table_is_the_generators_output(doc):
    text = doc.read_text()
    assert refreshed(text, ROOT) == text, (
        f"{doc.name}: a verdict table differs from its claims.json; run "
        f"python workflow/scripts/verdict_table.py --refresh {doc.relative_to(ROOT)}"
    )


def test_the_readme_shows_the_committed_cpu_verdicts():
    assert "docs/results/cpu/claims.json" in sources((ROOT / "README.md").read_text())


def test_a_retyped_table_is_caught(tmp_path):
    claims = {"claims": [{"claim": 1, "title": "t", "verdict": "supported",
                          "primary": {"sentence": "a | b"}}]}  # fmt: skip
    (tmp_path / "c.json").write_text(json.dumps(claims))
    table = verdict_table(claims["claims"])
    assert "a \\| b" in table  # a pipe in a sentence cannot break the row
    doc = f"x\n<!-- verdict table: c.json -->\n{table}<!-- end verdict table -->\ny\n"
    assert refreshed(doc, tmp_path) == doc
    edited = doc.replace("**supported**", "**contradicted**")
    assert refreshed(edited, tmp_path) == doc
    with pytest.raises(FileNotFoundError, match="missing.json"):
        refreshed(doc.replace("c.json", "missing.json"), tmp_path)


def test_the_committed_baseline_agrees_with_its_claims_and_dvc_lock():
    """A fresh clone's `dvc exp show` reads results/metrics.json for the commit: it must
    be the metrics of the committed quick claims.json (each verdict's letter,
    claim 1's seed means), and dvc.lock must record that very file, so `main` shows
    what `make run` made."""
    import hashlib

    import yaml

    from bnpipe.analysis.claims.judging import VERDICT_CODES
    from bnpipe.layout import EXPERIMENT_METRICS

    metrics = json.loads((ROOT / EXPERIMENT_METRICS).read_text())
    claims = json.loads((ROOT / "docs/results/quick/claims.json").read_text())["claims"]
    for c in claims:
        assert metrics[f"c{c['claim']}"] == VERDICT_CODES[c["verdict"]], c["claim"]
    values = claims[0]["primary"]["values"]  # claim 1: BN's and standard's per seed
    for name, side in (("bn_acc", "a"), ("std_acc", "b")):
        seeds = list(values[side].values())
        assert metrics[name] == pytest.approx(sum(seeds) / len(seeds), abs=1e-6), name
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]["bnpipe"]
    assert lock["params"]["params.yaml"] == {"scale": "quick"}
    recorded = {m["path"]: m["md5"] for m in lock["outs"]}
    md5 = hashlib.md5((ROOT / EXPERIMENT_METRICS).read_bytes()).hexdigest()
    assert recorded[EXPERIMENT_METRICS] == md5
