import pytest
from conftest import ROOT, raw_params

from bnpipe.params import (
    PROTOCOL_FILE,
    ParamsError,
    RunSpec,
    compose,
    load_experiment,
    load_params,
    shadowed_changes,
)


def test_params_yaml_loads_every_scale():
    for scale in ("quick", "paper", "smoke"):
        p = load_params(raw_params(scale))
        assert p.scale == scale
        assert sum(1 for c in p.vgg.stack if c != "M") == 13  # all scales keep 13 convs
    paper = load_params(raw_params("paper"))
    assert paper.vgg.width == 1.0 and paper.train.steps == 15000
    assert paper.train.batch_size == 128 and paper.grid.lrs["vgg"] == (0.01, 0.1, 0.5)
    assert paper.grid.seeds["vgg"] == paper.grid.seeds["dln"] == (0, 1, 2, 3, 4)
    assert paper.train.snapshots >= 30 and paper.dln.train.steps == 10000
    assert load_experiment(ROOT / "params.yaml").scale in ("quick", "paper", "smoke")


def test_run_ids_are_readable_and_cover_the_grid():
    p = load_params(raw_params("paper"))
    ids = [r.id for r in p.runs()]
    assert "vgg-batchnorm-lr0.1-s0" in ids and "vgg-standard-lr0.5-s4" in ids
    assert "vgg-noisy_standard-lr0.1-s0" in ids and "dln-l1-lr1e-07-s2" in ids
    assert not any(i.startswith("dln-noisy") for i in ids)  # the DLN has no noisy variants
    assert len(ids) == len(set(ids)) == 7 * 3 * 5 + 5 * 2 * 5
    assert p.run("vgg-batchnorm-lr0.5-s3").lr == 0.5
    assert p.run("dln-batchnorm-lr1e-06-s0").lr == 1e-6


def test_params_are_frozen():
    p = load_params(raw_params())
    with pytest.raises(AttributeError):
        p.train.steps = 3  # type: ignore[misc]


def _broken(mutate) -> str:
    raw = raw_params("paper")
    mutate(raw)
    with pytest.raises(ParamsError) as err:
        load_params(raw)
    return str(err.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["train"].update(stepz=3), "train.stepz: unknown key"),
        (lambda r: r.update(extra=1), "extra: unknown key"),
        (lambda r: r["scales"]["quick"]["vgg"].update(widht=1), "scales.quick.vgg.widht"),
        (lambda r: r["train"].update(steps="ten"), "train.steps: expected an integer"),
        (lambda r: r["train"].update(steps=1.5), "train.steps: expected an integer"),
        (lambda r: r["train"].update(steps=0), "train.steps: must be >= 1"),
        (lambda r: r["grid"]["lrs"].update(vgg=[0.1, -0.5]), "grid.lrs.vgg: learning rate -0.5"),
        (lambda r: r["grid"]["lrs"].update(vgg=0.1), "grid.lrs.vgg: expected a list"),
        (lambda r: r["grid"]["lrs"].update(vgg=["1.0e4"]), "write 1.0e+4"),
        (lambda r: r["grid"].update(variants=["batchnrom"]), "unknown variant 'batchnrom'"),
        (lambda r: r["grid"].update(models=["resnet"]), "unknown model 'resnet'"),
        (lambda r: r["grid"]["seeds"].update(dln=[]), "grid.seeds.dln: empty"),
        (lambda r: r["grid"].update(seeds=[0, 1]), "grid.seeds: expected a mapping"),
        (lambda r: r.update(scale="huge"), "scale: 'huge' is not one of"),
        (lambda r: r["data"].update(source="imagenet"), "data.source: 'imagenet'"),
        (lambda r: r["vgg"].update(width=-1.0), "vgg.width"),
        (lambda r: r["train"].pop("batch_size"), "train.batch_size: missing"),
        (lambda r: r["train"].update(snapshots=20000), "train.snapshots"),
        (lambda r: r["analyze"].update(ratio_margin=1.0), "analyze.ratio_margin: must be > 1"),
        (lambda r: r["analyze"]["windows"].update(early=[0.2, 0.1]), "analyze.windows.early"),
        (lambda r: r["analyze"]["windows"].pop("late"), "analyze.windows.late"),
        (lambda r: r["analyze"].update(min_seeds=1), "analyze.min_seeds"),
        (lambda r: r["dln"]["train"].update(steps=-3), "dln.train.steps: must be >= 1"),
        (lambda r: r["dln"]["train"].update(batch_size=10), "dln.train.batch_size: full-batch"),
        (lambda r: r["noise"].update(n_sigma=0.5), "noise.n_sigma"),
        (lambda r: r["norm"].update(eps=0), "norm.eps"),
        (lambda r: r["probe"].update(run=["ics", "hessian"]), "probe.run: unknown probe 'hessian'"),
        (lambda r: r["probe"]["landscape"].update(points=1), "probe.landscape.points"),
        (lambda r: r["probe"]["landscape"]["range"].update(vgg=[4, 0.5]), "range.vgg"),
        (lambda r: r["probe"]["landscape"]["range"].pop("dln"), "range.dln"),
        (lambda r: r["probe"]["sharpness"].update(tolerance=0), "probe.sharpness.tolerance"),
        (lambda r: r["probe"].update(chunk_size=0), "probe.chunk_size"),
        (lambda r: r["vgg"].update(stack=["M", 64]), "vgg.stack: must start"),
        (lambda r: r["grid"]["lrs"].update(vgg=[0.1, 0.1]), "grid.lrs.vgg: 0.1 listed twice"),
        (lambda r: r["grid"]["seeds"].update(vgg=[0, 1, 0]), "grid.seeds.vgg: 0 listed twice"),
        (lambda r: r["grid"].update(variants=["l1", "l1"]), "grid.variants: l1 listed twice"),
        (lambda r: r["grid"]["lrs"].update(vgg=[0.1, 0.1000000001]), "share an id (vgg-"),
        (lambda r: r["speed"].update(precision="fp16"), "speed.precision: 'fp16'"),
        (lambda r: r["grid"].update(seeds_at={"vgg": {0.2: {"l1": [0]}}}), "seeds_at.vgg.0.2"),
        (lambda r: r["grid"].update(seeds_at={"vgg": {0.1: {"bn": [0]}}}), "seeds_at.vgg.0.1.bn"),
        (lambda r: r["grid"].update(seeds_at={"vgg": {0.1: {"l1": []}}}), "at least one"),
        (lambda r: r["train"]["dense"].update(window=[0.3, 0.1]), "train.dense.window"),
        (lambda r: r["train"]["dense"].update(probes=["ics2"]), "unknown probe 'ics2'"),
        (lambda r: r["train"]["dense"].update(snapshots=-1), "train.dense.snapshots"),
    ],
)
def test_bad_params_name_the_key(mutate, expected):
    assert expected in _broken(mutate)


def test_allowed_values_are_listed():
    message = _broken(lambda r: r["grid"].update(variants=["nope"]))
    assert "batchnorm" in message and "standard" in message


def test_digest_tracks_only_the_named_sections():
    a = load_params(raw_params("paper"))
    raw = raw_params("paper")
    raw["probe"]["batch_size"] = 77
    b = load_params(raw)
    assert a.digest("train", "vgg", "data") == b.digest("train", "vgg", "data")
    assert a.digest("probe") != b.digest("probe")


def test_a_runs_training_digest_follows_its_lag_record_and_nothing_else_of_probe():
    """Training records the lag shift where a group runs the activation probe, so the
    settings it records with belong to that run's training digest (the pipeline retrains
    it when they change); other probe keys, and groups that record nothing, keep theirs."""
    cpu = load_params(raw_params("cpu"))
    l1, bn = RunSpec("vgg", "l1", 0.1, 0), RunSpec("vgg", "batchnorm", 0.1, 0)
    assert cpu.lag_record(l1) == {}  # run_at: ICS and the landscape
    assert cpu.lag_record(bn) == {
        "lag": 10, "also_lags": [5, 20], "batch_size": 256, "coordinates": 1024,
    }  # fmt: skip

    def digests(edit) -> tuple[str, str]:
        raw = raw_params("cpu")
        edit(raw["probe"], raw["scales"]["cpu"]["probe"])
        changed = load_params(raw)
        return changed.run_digest(l1), changed.run_digest(bn)

    same = (cpu.run_digest(l1), cpu.run_digest(bn))
    assert digests(lambda top, cpu: cpu["landscape"].update(points=9)) == same
    lag = digests(lambda top, cpu: top["activations"].update(lag=7))
    assert lag[0] == same[0] and lag[1] != same[1]
    batch = digests(lambda top, cpu: cpu.update(batch_size=128))
    assert batch[0] == same[0] and batch[1] != same[1]
    widened = digests(lambda top, cpu: cpu["run_at"]["vgg"][0.1].pop("l1"))
    assert widened[0] != same[0] and widened[1] == same[1]


def test_a_key_written_twice_in_the_file_names_the_key_and_both_lines(tmp_path):
    text = (ROOT / PROTOCOL_FILE).read_text()
    assert "\n  steps: 15000" in text
    twice = text.replace("\n  steps: 15000", "\n  steps: 15000\n  steps: 500", 1)
    (tmp_path / PROTOCOL_FILE).parent.mkdir()
    (tmp_path / PROTOCOL_FILE).write_text(twice)
    (tmp_path / "params.yaml").write_text("scale: quick\n")
    line = twice[: twice.index("  steps: 500")].count("\n") + 1
    with pytest.raises(
        ParamsError,
        match=f"line {line}: key 'steps' written twice in one mapping .first at line {line - 1}",
    ):
        load_experiment(tmp_path / "params.yaml")


def test_the_experiment_picks_the_scale_and_its_keys_win_over_the_preset(tmp_path):
    """params.yaml sets the scale and any protocol key (`dvc exp run -S +train.steps=500`):
    its value wins over the protocol and over the scale's preset (quick trains 250 steps);
    a key the protocol lacks is named as params.yaml's."""
    protocol = raw_params("quick")
    del protocol["scale"]
    seeds = {"vgg": [7], "dln": [0, 1]}  # grid.seeds is set whole, as a scale sets it
    exp = compose(protocol, {"scale": "quick", "train": {"steps": 500}, "grid": {"seeds": seeds}})
    params = load_params(exp)
    assert params.train.steps == 500 and params.train.batch_size == 128  # the rest stays
    assert params.vgg.width == 0.125  # quick's preset still applies where not overridden
    assert params.grid.seeds["vgg"] == (7,) and params.grid.seeds["dln"] == (0, 1)
    assert load_params(compose(protocol, {"scale": "cpu"})).train.steps == 3000
    with pytest.raises(ParamsError, match=r"params.yaml.train.stepz: unknown key"):
        compose(protocol, {"scale": "quick", "train": {"stepz": 5}})
    with pytest.raises(ParamsError, match="`scale` missing"):
        compose(protocol, {"train": {"steps": 5}})


def test_a_protocol_key_the_scale_overrides_is_named_when_changed():
    committed = raw_params("quick")
    now = raw_params("quick")
    now["train"]["steps"] = 500  # train.steps edited in the protocol file
    now["probe"]["sharpness"]["tolerance"] = 0.5  # not overridden at quick: it applies
    assert shadowed_changes(now, committed) == [
        "train.steps was changed to 500, but scale 'quick' overrides it with 250 "
        "(scales.quick.train.steps): set it in params.yaml, which wins over the scale, or "
        "set scales.quick.train.steps instead"
    ]
    now["scales"]["quick"]["train"]["steps"] = 500  # the key the scale uses: fine
    now["train"]["steps"] = committed["train"]["steps"]
    assert shadowed_changes(now, committed) == []
    paper = raw_params("paper")
    paper["train"]["steps"] = 500  # the paper scale overrides nothing
    assert shadowed_changes(paper, raw_params("paper")) == []


def test_a_group_runs_its_own_seeds_where_seeds_at_lists_it():
    raw = raw_params("paper")
    raw["grid"]["seeds_at"] = {"vgg": {0.1: {"standard": [0, 1, 2, 3, 4, 5, 6]}}}
    params = load_params(raw)
    ids = {spec.id for spec in params.runs()}
    assert "vgg-standard-lr0.1-s6" in ids and "vgg-batchnorm-lr0.1-s6" not in ids
    assert "vgg-standard-lr0.5-s6" not in ids  # the other lr keeps grid.seeds.vgg
    assert params.grid.seeds_of("vgg", "standard", 0.1) == (0, 1, 2, 3, 4, 5, 6)
    assert params.grid.seeds_of("vgg", "l1", 0.1) == params.grid.seeds["vgg"]


def test_a_grid_without_the_side_measurements_runs_still_loads():
    """A grid edited for another purpose (no noisy BN) still loads though the smoke preset's
    width check and a long arm name noisy BN runs: those are checked where they are trained
    (workflow/scripts/width_check.py, long_arm.py), and there the run is named."""
    raw = raw_params("smoke")
    raw["scales"]["smoke"]["grid"]["variants"] = ["standard", "batchnorm"]
    raw["scales"]["smoke"]["long_arm"] = {"runs": ["vgg-noisy_batchnorm-lr0.1-s0"]}
    params = load_params(raw)
    assert "vgg-noisy_batchnorm-lr0.1-s0" in params.width_check.runs
    with pytest.raises(ParamsError, match="no run 'vgg-noisy_batchnorm-lr0.1-s0'"):
        params.run(params.long_arm.runs[0])
    # where it is trained (make long-arm), one line that names the run, before any work
    from argparse import Namespace

    from bnpipe.training.aside import train_aside

    raw["scale"] = "smoke"
    args = Namespace(run="vgg-noisy_batchnorm-lr0.1-s0", out=None, threads=1, prepared=None)
    with pytest.raises(SystemExit, match="^long_arm: no run 'vgg-noisy_batchnorm-lr0.1-s0'"):
        train_aside(raw, args, "long_arm")


def test_a_group_runs_only_its_own_probes_where_run_at_lists_it():
    """The cpu preset's l1 runs measure the landscape and ICS, in probe.run's order; BN
    at lr 0.1 (not listed) runs every probe; the paper scale lists no group."""
    cpu = load_params(raw_params("cpu"))
    assert cpu.probe.probes_of("vgg", "l1", 0.1) == ("ics", "landscape")
    assert cpu.probe.probes_of("vgg", "batchnorm", 0.1) == cpu.probe.run
    assert "sharpness" not in cpu.probe.probes_of("vgg", "batchnorm", 0.5)
    assert cpu.probe.probes_of("dln", "l1", 1e-6) == cpu.probe.run
    paper = load_params(raw_params("paper"))
    assert paper.probe.run_at == {} and paper.probe.probes_of("vgg", "l1", 0.1) == paper.probe.run


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"vgg": {0.1: {"l1": ["landscpe"]}}}, "probe.run_at.vgg.0.1.l1: unknown probe"),
        ({"vgg": {0.1: {"l7": ["ics"]}}}, "probe.run_at.vgg.0.1.l7: no such model and variant"),
        ({"dln": {1e-6: {"noisy_batchnorm": ["ics"]}}}, "no such model and variant"),
        ({"vgg": {0.1: {"l1": ["ics", "ics"]}}}, "probe.run_at.vgg.0.1.l1"),
    ],
)
def test_a_bad_run_at_names_its_key(entry, expected):
    raw = raw_params("paper")
    raw["probe"]["run_at"] = entry
    with pytest.raises(ParamsError, match=expected.replace(".", r"\.").replace("[", r"\[")):
        load_params(raw)
