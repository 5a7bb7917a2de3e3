"""The whole DAG at the `smoke` scale, through Snakemake and through DVC, in fresh copies."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import browser
import pandas as pd
import pytest
from conftest import ROOT, copy_built

from bnpipe.analysis.claims.judging import VERDICT_CODES
from bnpipe.layout import EXPERIMENT_METRICS
from bnpipe.params import PROTOCOL_FILE

pytestmark = pytest.mark.integration
# every figure of the report at the smoke scale (all claims have runs), in page order
FIGURES = [
    "fig1_vgg_accuracy",
    "claim1_multiverse",  # each claim's panel closes its section
    "fig2_activations",
    "fig2_lag_shifts",
    "claim2_multiverse",
    "fig3_noisy_accuracy",
    "fig8_moment_shifts",
    "fig9_noisy_activations",
    "claim3_multiverse",
    "fig3_ics_vgg",
    "fig7_ics_dln",
    "ics_vs_accuracy_vgg",
    "ics_correlation_by_layer",
    "claim4_multiverse",
    "fig4_landscape_vgg",
    "sharpness_vgg",
    "fig10_11_landscape_dln",
    "sharpness_dln",
    "claim5_multiverse",
    "fig5_lp_accuracy_vgg",
    "fig6_lp_landscape_vgg",
    "fig12_lp_loss_dln",
    "fig13_lp_landscape_dln",
    "claim6_multiverse",
    "theorem41_reduction_by_layer",
    "theorem41_by_layer",
    "claim7_multiverse",
    "overview_vgg_accuracy",
    "overview_dln_loss",
]
SMK = ["snakemake", "--cores", "2"]  # profiles/default: found by Snakemake itself


def _copy_checkout(dest: Path, scale: str = "smoke") -> Path:
    """The files a fresh clone would have (tracked or not ignored), scale set to `scale`."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    params = dest / "params.yaml"
    params.write_text(params.read_text().replace("\nscale: quick", f"\nscale: {scale}", 1))
    return dest


def commit_all(root: Path) -> None:
    """Make the copy a git repository with one commit (DVC needs one)."""
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)


def _sh(cmd: list[str], cwd: Path, timeout: int = 900, **extra_env: str) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "BNPIPE_GPU_COUNT": "0",
        **extra_env,
    }
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    )
    return res.stdout + res.stderr


def _check_outputs(root: Path) -> None:
    runs = pd.read_csv(root / "results" / "smoke" / "runs.csv")
    vgg = ("standard", "batchnorm", "noisy_batchnorm", "l1")
    expected = [f"vgg-{v}-lr0.1-s{s}" for v in vgg for s in (0, 1)]
    expected += [f"dln-{v}-lr1e-06-s{s}" for v in ("standard", "batchnorm", "l1") for s in (0, 1)]
    assert sorted(runs.id) == sorted(expected)
    assert (runs.status == "completed").all()
    cnn, dln = runs[runs.model == "vgg"], runs[runs.model == "dln"]
    assert cnn.final_test_acc.between(0, 1).all() and cnn.final_train_acc.between(0, 1).all()
    assert dln.final_test_acc.isna().all() and (dln.final_train_loss > 0).all()
    metrics = json.loads((root / "results" / "smoke" / "metrics.json").read_text())
    assert metrics["bn_acc"] == pytest.approx(
        runs[runs.variant == "batchnorm"].final_test_acc.mean(), abs=1e-6
    )
    claims = json.loads((root / "reports" / "smoke" / "claims.json").read_text())["claims"]
    codes = {"supported": "S", "contradicted": "C", "inconclusive": "I"}
    codes |= {"not testable at this scale": "N", "insufficient": "F"}
    assert {k: v for k, v in metrics.items() if k.startswith("c")} == {
        f"c{c['claim']}": codes[c["verdict"]] for c in claims
    }
    assert sorted(metrics) == ["bn_acc", *(f"c{n}" for n in range(1, 8)), "std_acc"]
    probes = pd.read_csv(root / "results" / "smoke" / "probes" / "vgg-batchnorm-lr0.1-s0.csv")
    assert list(probes.columns) == ["run", "step", "layer", "probe", "metric", "value"]
    # the smoke schedule (0, 3, 12) and its dense snapshots (4, 6: the landscape alone)
    assert sorted(probes.step.unique()) == [0, 3, 4, 6, 12]
    every = {"activations", "ics", "landscape", "landscape_random", "sharpness", "theorem41"}
    for step, at_step in probes.groupby("step"):  # every probe at every scheduled snapshot
        final = {"clean_stats"} if step == 12 else set()  # BN statistics re-estimated
        expected = {"landscape"} if step in (4, 6) else every | final
        assert set(at_step.probe) == expected, step
    lag = probes[(probes.probe == "activations") & (probes.metric == "input_lag_shift")]
    assert sorted(lag.layer.unique()) == list(range(1, 14)) and (lag.value >= 0).all()
    assert sorted(probes[probes.probe == "activations"].layer.unique()) == list(range(1, 14))
    assert sorted(probes[probes.probe == "ics"].layer.unique()) == list(range(1, 15))
    assert sorted(probes[probes.probe == "theorem41"].layer.unique()) == list(range(1, 14))
    assert (
        probes[(probes.probe == "ics") & (probes.layer == 1)].query("metric == 'l2'").value == 0
    ).all()
    theorem = probes[(probes.probe == "theorem41") & (probes.metric == "rel_diff")]
    assert (theorem.value < 1e-3).all()  # the eps-exact identity: fp32 round-off only
    # probe.run_at: l1 and noisy BN run only the probes their tests read
    narrowed = {
        "vgg-l1-lr0.1-s1": {"ics", "landscape"},
        "vgg-noisy_batchnorm-lr0.1-s0": {"activations", "ics", "clean_stats"},
    }
    for run, only in narrowed.items():
        table = pd.read_csv(root / "results" / "smoke" / "probes" / f"{run}.csv")
        assert set(table.probe) == only, run
    dln_probes = pd.read_csv(root / "results" / "smoke" / "probes" / "dln-batchnorm-lr1e-06-s1.csv")
    assert sorted(dln_probes[dln_probes.probe == "ics"].layer.unique()) == list(range(1, 26))
    assert sorted(dln_probes[dln_probes.probe == "theorem41"].layer.unique()) == list(range(1, 25))
    history = pd.read_csv(
        root / "results" / "smoke" / "runs" / "vgg-standard-lr0.1-s1" / "history.csv"
    )
    assert history.train_loss.notna().sum() == 12
    _check_claims_and_report(root)


def _check_claims_and_report(root: Path) -> None:
    claims = json.loads((root / "reports" / "smoke" / "claims.json").read_text())
    assert [c["claim"] for c in claims["claims"]] == [1, 2, 3, 4, 5, 6, 7]
    for claim in claims["claims"]:
        assert claim["verdict"] in claims["verdicts"]
        assert claim["verdict"] == claim["primary"]["verdict"]
        for test in [claim["primary"], *claim["secondaries"]]:
            assert test["verdict"] in claims["verdicts"] and test["sentence"]
            if test["verdict"] in ("not testable at this scale", "insufficient"):
                assert test["reason"], test  # always says why
    # 12 steps do not leave chance: no landscape, ICS or stability comparison is made
    for n in (2, 4):
        claim = claims["claims"][n - 1]
        assert claim["verdict"] == "not testable at this scale"
        assert "never left chance" in claim["reason"]
    # claim 1's primary is the paired difference of the runs' final test accuracies
    runs = (
        pd.read_csv(root / "results" / "smoke" / "runs.csv")
        .groupby("variant")
        .final_test_acc.mean()
    )
    first = claims["claims"][0]["primary"]
    assert first["label"] == "VGG lr 0.1: final test accuracy, BN - standard"
    assert first["estimate"] == pytest.approx(runs["batchnorm"] - runs["standard"], abs=1e-6)
    if first["method"] != "insufficient":
        assert first["method"] == "paired t" and first["lo"] <= first["estimate"] <= first["hi"]
    metrics = json.loads((root / "results" / "smoke" / "metrics.json").read_text())
    letters = {f"c{c['claim']}": VERDICT_CODES[c["verdict"]] for c in claims["claims"]}
    assert {k: metrics[k] for k in letters} == letters
    summary = pd.read_csv(root / "results" / "smoke" / "summary.csv")
    ics = summary[(summary.quantity == "ics.l2") & (summary.variant == "batchnorm")]
    assert len(ics) == 14 + 25 and (ics.n == 2).all()
    page = (root / "reports" / "smoke" / "index.html").read_text()
    links = re.findall(r"""(?:src|href)=["']([^"']*)""", page)
    assert links and all(u.startswith(("data:", "#")) for u in links)  # nothing is fetched
    assert "url(" not in page and "<script" not in page
    shown = re.findall(r'<figure id="([^"]+)">', page)
    assert shown == FIGURES and "diverged at step" not in page
    figures = root / "reports" / "smoke" / "figures"
    for name in shown:  # every figure also as SVG, PNG and provenance JSON
        assert (figures / f"{name}.svg").stat().st_size > 0
        prov = json.loads((figures / f"{name}.json").read_text())
        assert prov["runs"] and prov["params_digest"] and prov["rebuild"].startswith("snakemake")
        assert {"commit", "dirty"} <= set(prov["git"]) and prov["data"] and prov["packages"]
    assert sorted(p.name for p in figures.iterdir() if p.name[0] != ".") == sorted(
        f"{n}.{ext}" for n in shown for ext in ("json", "png", "svg")
    )


def _check_in_browser(root: Path) -> None:
    """Headless Chromium: no console error, no request, every figure drawn, every claim."""
    if browser.chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt install chromium)")
    shot = root / "reports" / "smoke" / "screenshot.png"
    seen = browser.render(root / "reports" / "smoke" / "index.html", shot)
    assert seen["errors"] == [] and seen["failed"] == [] and seen["requests"] == []
    assert seen["sections"] == [f"claim-{n}" for n in range(1, 8)]
    assert len(seen["verdicts"]) == 7
    assert [image["id"] for image in seen["images"]] == FIGURES
    for image in seen["images"]:
        assert image["complete"] and min(image["natural"]) > 0, image
        assert min(image["shown"]) > 100, image  # drawn at a readable size
    assert shot.stat().st_size > 100_000
    print(f"screenshot: {shot}")


def test_snakemake_builds_the_whole_dag(smoke_built, tmp_path):
    """The session's smoke build (conftest.smoke_built: `snakemake --cores 2` on a fresh
    copy), checked in a copy of its own (the browser's screenshot goes into it)."""
    root = copy_built(smoke_built, tmp_path / "built")
    _check_outputs(root)
    kept = list((root / "results" / "smoke" / "snapshots").glob("*/step*.pt"))
    # `auto` keeps a small scale's snapshots for re-probing: 3 a run, and the VGG's 2 dense
    assert len(kept) == 14 * 3 + 8 * 2
    _check_in_browser(root)
    assert "Nothing to be done" in _sh([*SMK, "-n"], root)


def test_dvc_repro_builds_it_too_and_then_has_nothing_to_do(tmp_path):
    """With snapshots dropped once probed (as at the paper scale): none is left, nothing
    reruns for their absence, and DVC's cache holds no snapshot."""
    root = _copy_checkout(tmp_path)
    commit_all(root)
    drop = {"BNPIPE_KEEP_SNAPSHOTS": "false"}
    _sh(["dvc", "repro"], root, **drop)
    _check_outputs(root)
    assert not list((root / "results" / "smoke").glob("snapshots/*/*.pt"))
    again = _sh(["dvc", "repro"], root, **drop)
    assert "Data and pipelines are up to date" in again, again
    assert "Nothing to be done" in _sh([*SMK, "-n"], root, **drop)
    cached = _bytes((root / ".dvc" / "cache").rglob("*"))
    outs = [
        "data/prepared/smoke",
        "results/smoke/runs",
        "results/smoke/probes",
        "reports/smoke/figures",
    ]
    present = _bytes(f for out in outs for f in (root / out).rglob("*"))
    present += _bytes((root / "results" / "smoke").glob("*.csv")) + _bytes(
        [root / "reports/smoke/index.html"]
    )
    assert cached <= present, (cached, present)  # the outs as they are, no snapshot
    show = json.loads(_sh(["dvc", "exp", "show", "--json"], root).strip().splitlines()[-1])
    data = show[0]["data"]
    assert data["params"]["params.yaml"]["data"] == {"scale": "smoke"}
    metrics = data["metrics"][EXPERIMENT_METRICS]["data"]  # one path whatever the scale
    assert 0 <= metrics["std_acc"] <= 1
    plots = json.loads(_sh(["dvc", "plots", "show", "--json"], root).strip().splitlines()[-1])
    shown = json.dumps(plots)
    for name in ("vgg_test_acc/vgg-batchnorm-lr0.1.csv", "dln_train_loss/dln-l1-lr1e-06.csv"):
        assert f"results/smoke/plots/{name}" in shown, name
    _sh(["dvc", "plots", "diff", "HEAD", "--json"], root)  # workspace against the commit


def _bytes(paths) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def test_bad_params_stop_snakemake_before_any_job(tmp_path):
    root = _copy_checkout(tmp_path)
    params = root / PROTOCOL_FILE  # the protocol's text
    params.write_text(params.read_text().replace("  batch_size: 128", "  batchsize: 128", 1))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run([*SMK], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "train.batchsize: unknown key" in res.stderr + res.stdout
    assert not (root / "data" / "prepared").exists()
    assert not (root / "results" / "smoke").exists()  # (results/metrics.json: the baseline)


def test_a_diverging_run_is_recorded_and_the_dag_completes(tmp_path):
    root = _copy_checkout(tmp_path)
    params = root / PROTOCOL_FILE  # the protocol's text
    text = params.read_text().replace(
        "      variants: [standard, batchnorm, noisy_batchnorm, l1]\n"
        "      lrs: {vgg: [0.1], dln: [1.0e-6]}",
        "      models: [vgg]\n      variants: [standard, batchnorm]\n      lrs: {vgg: [1.0e+4]}",
    )
    assert text != params.read_text()
    params.write_text(text)
    _sh(SMK, root)
    runs = pd.read_csv(root / "results" / "smoke" / "runs.csv")
    standard = runs[runs.variant == "standard"]
    assert (standard.status == "diverged").all()
    assert (standard.final_test_acc == 0.1).all()  # the worst outcome, never missing
    assert (runs.status == "diverged").sum() == 2
    metrics = json.loads((root / "results" / "smoke" / "metrics.json").read_text())
    assert "std_acc" not in metrics  # claim 1's lr (0.1) is not in this grid
    page = (root / "reports" / "smoke" / "index.html").read_text()
    assert "diverged at step" in page
    claims = json.loads((root / "reports" / "smoke" / "claims.json").read_text())
    first = claims["claims"][0]["primary"]  # claim 1 is judged at lr 0.1, which is absent
    assert first["verdict"] == "not testable at this scale"
    assert "the grid has no vgg-batchnorm-lr0.1, vgg-standard-lr0.1" in first["reason"]


def test_dropped_snapshots_go_as_soon_as_their_run_is_probed(tmp_path):
    """On one core, each run's probes come right after its training (priority), so at
    most one run's snapshots exist at a time: the disk bound of docs/performance.md "Disk"."""
    root = _copy_checkout(tmp_path)
    params = root / PROTOCOL_FILE  # the protocol's text
    text = params.read_text().replace(
        "      variants: [standard, batchnorm, noisy_batchnorm, l1]\n",
        "      models: [dln]\n      variants: [standard, batchnorm, l1]\n",
    )
    assert text.count("models: [dln]") == 1
    params.write_text(text)
    log = _sh([*SMK[:-2], "--cores", "1", "probe_all"], root, BNPIPE_KEEP_SNAPSHOTS="false")
    order = re.findall(
        r"^(?:local)?rule (train|probe):\n(?:.*\n)*?\s+wildcards: run=(\S+)", log, re.M
    )
    jobs = [(rule, run) for rule, run in order]
    trained = [run for rule, run in jobs if rule == "train"]
    assert len(trained) == 6
    for rule, run in jobs:
        if rule == "train":
            pending = run
        else:
            assert run == pending  # probed before the next training
    assert not list((root / "results" / "smoke").glob("snapshots/*/*.pt"))


def test_the_design_cards_command_uses_the_default_profile(tmp_path):
    """`snakemake --cores all --resources gpu=2`, nothing more: Snakemake loads
    profiles/default, whose printshellcmds shows each job's command in a dry run."""
    root = _copy_checkout(tmp_path)
    out = _sh(["snakemake", "--cores", "all", "--resources", "gpu=2", "-n"], root)
    assert "Using workflow specific profile profiles/default" in out
    assert "python workflow/scripts/train.py" in out  # printshellcmds: from the profile


def _planned(root: Path) -> set[str]:
    """The rules `snakemake -n` would run (target rules like `all` left out)."""
    out = _sh([*SMK, "-n"], root)
    if "Nothing to be done" in out:
        return set()
    stats = out.split("Job stats:", 1)[1].split("total", 1)[0]
    jobs = set(re.findall(r"^(\w+)\s+\d+\s*$", stats, re.M))
    return jobs - {"job", "all", "prepare_all", "train_all", "probe_all"}


def test_a_code_edit_reruns_what_it_affects_and_only_that(smoke_built, tmp_path):
    """Through Snakemake (content digests in each rule's params): a probe edit reruns
    probes, analysis and report, not training; a model edit reruns training; a template
    edit only the report; a reverted edit, nothing. Through DVC (the code fingerprint in
    the stage's command): a stale fingerprint stops the stage and names the command that
    refreshes it; refreshed, the stage is changed, `dvc repro` reruns what Snakemake
    plans, and dvc.lock then holds the new fingerprint with nothing left to do."""
    root = copy_built(smoke_built, tmp_path / "built")  # built by Snakemake
    commit_all(root)
    _sh(["dvc", "repro"], root)  # DVC records it: Snakemake finds nothing to do
    cases = {
        "src/bnpipe/probes/ics.py": {"probe", "analyze", "report"},
        "src/bnpipe/models/dln.py": {"train", "probe", "analyze", "report"},
        "src/bnpipe/report/template.html": {"report"},
    }
    for name, expected in cases.items():
        path = root / name
        original = path.read_bytes()
        path.write_bytes(
            original + b"\n<!-- edited -->\n"
            if name.endswith(".html")
            else original + b"\n# edited\n"
        )
        assert _planned(root) == expected, name
        path.write_bytes(original)
        assert _planned(root) == set(), name  # content, not timestamps
    trained = {
        p: p.stat().st_mtime_ns for p in (root / "results" / "smoke" / "runs").glob("*/final.pt")
    }
    ics = root / "src/bnpipe/probes/ics.py"
    ics.write_bytes(ics.read_bytes() + b"\n# edited\n")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    stale = subprocess.run(
        ["dvc", "repro", "--force"], cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert (
        stale.returncode != 0 and "run `bnpipe fingerprint --write`" in stale.stdout + stale.stderr
    )
    _sh(["bnpipe", "fingerprint", "--write"], root)
    assert "changed command" in _sh(["dvc", "status"], root)
    _sh(["dvc", "repro"], root)
    assert {p: p.stat().st_mtime_ns for p in trained} == trained  # training did not rerun
    assert "Data and pipelines are up to date" in _sh(["dvc", "status"], root)
    assert _planned(root) == set()


def test_a_variant_and_a_probe_registered_in_a_test_module_run_through_the_dag(tmp_path):
    """tests/extensions/bnpipe_groupnorm.py registers `groupnorm` and `weight_norm`; one
    params entry each (extensions, grid.variants, probe.run) and they go through training,
    probes, analysis, figures and the report."""
    root = _copy_checkout(tmp_path)
    params = root / PROTOCOL_FILE  # the protocol's text
    text = params.read_text().replace("\nextensions: []\n", "\nextensions: [bnpipe_groupnorm]\n", 1)
    text = text.replace(
        "      variants: [standard, batchnorm, noisy_batchnorm, l1]\n",
        "      models: [vgg]\n      variants: [standard, batchnorm, groupnorm]\n",
    )
    text = text.replace(
        "  run: [activations, ics, landscape, landscape_random, sharpness, theorem41, clean_stats]",
        "  run: [activations, ics, landscape, sharpness, theorem41, clean_stats, weight_norm]",
    )
    assert text.count("groupnorm") == 2 and "weight_norm]" in text
    params.write_text(text)
    extensions = str(ROOT / "tests" / "extensions")
    _sh(SMK, root, PYTHONPATH=extensions)
    runs = pd.read_csv(root / "results" / "smoke" / "runs.csv").set_index("id")
    assert (
        runs.loc[["vgg-groupnorm-lr0.1-s0", "vgg-groupnorm-lr0.1-s1"]].status == "completed"
    ).all()
    probes = pd.read_csv(root / "results" / "smoke" / "probes" / "vgg-groupnorm-lr0.1-s0.csv")
    norms = probes[probes.probe == "weight_norm"]
    assert sorted(norms.layer.unique()) == list(range(1, 14)) and (norms.value > 0).all()
    summary = pd.read_csv(root / "results" / "smoke" / "summary.csv")
    assert "groupnorm" in set(summary.variant)
    page = (root / "reports" / "smoke" / "index.html").read_text()
    assert "vgg-groupnorm-lr0.1-s1" in page
    drawn = [
        json.loads(f.read_text())["runs"]
        for f in (root / "reports" / "smoke" / "figures").glob("*.json")
    ]
    assert any("vgg-groupnorm-lr0.1-s0" in runs_drawn for runs_drawn in drawn)


def test_make_run_makes_the_committed_baseline_as_an_experiment_dvc_shows(tmp_path):
    """What `make run` does (dvc exp run at the quick scale, about 17 minutes on 2 cores)
    on a fresh copy whose params.yaml says smoke: it gives the committed
    results/metrics.json (the seven verdicts exactly, claim 1's seed means within 5
    points: another CPU's kernels round differently and 250 SGD steps amplify it; wall
    times are in no metric); `dvc status` is then up to date; `dvc exp show` with no flags
    fits 120 columns with the experiment's scale, the seven verdicts and the headline;
    `dvc params diff` names the changed key; `dvc plots diff` against the commit writes
    its page. (One run for both: the quick DAG is the suite's longest.)"""
    root = _copy_checkout(tmp_path, scale="smoke")
    commit_all(root)
    git_id = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    git_id |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    _sh(["dvc", "exp", "run", "-S", "scale=quick"], root, timeout=2400, **git_id)
    fresh = json.loads((root / EXPERIMENT_METRICS).read_text())
    committed = json.loads((ROOT / EXPERIMENT_METRICS).read_text())
    assert fresh == json.loads((root / "results" / "quick" / "metrics.json").read_text())
    verdicts = [f"c{n}" for n in range(1, 8)]
    assert [fresh[k] for k in verdicts] == [committed[k] for k in verdicts]
    for name in ("bn_acc", "std_acc"):
        assert fresh[name] == pytest.approx(committed[name], abs=0.05), name

    assert "Data and pipelines are up to date" in _sh(["dvc", "status"], root)
    table = _sh(["dvc", "exp", "show", "--no-pager"], root, COLUMNS="120")
    lines = [line for line in table.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= 120 and "…" not in table, table
    header = next(line for line in lines if "Experiment" in line).split()
    assert header[:2] == ["Experiment", "Created"]
    assert {"c1", "c7", "bn_acc", "std_acc", "scale"} <= set(header), header
    row = next(line for line in lines if "[" in line and "]" in line)  # the experiment's row
    assert "quick" in row
    assert "scale" in _sh(["dvc", "params", "diff"], root)
    _sh(["dvc", "plots", "diff", "HEAD", "-o", "plots_diff"], root)
    assert (root / "plots_diff" / "index.html").stat().st_size > 0
