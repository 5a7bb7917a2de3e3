"""Training: replay of step t from a snapshot, bit-exact resume, divergence as a result."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import make_imagefolder_archive, raw_params

from bnpipe.data.batches import DeviceData, train_batch_indices
from bnpipe.data.prepare import load_prepared, prepare_cifar10
from bnpipe.data.tasks import CifarTask
from bnpipe.layout import LAG_RECORD, snapshot_path
from bnpipe.models import build_model
from bnpipe.params import RunSpec, load_params
from bnpipe.training import speed
from bnpipe.training.lag_record import also_lags, shift_lag
from bnpipe.training.schedule import snapshot_plan, snapshot_steps
from bnpipe.training.train import train_run


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    make_imagefolder_archive(root / "a.tar.gz", n_per_class=30)
    params = load_params(raw_params("smoke"))
    prepare_cifar10(root / "a.tar.gz", root / "prepared.npz", params.data)
    return root, params


def _training_model(spec, params):
    """The model in training's own memory layout (a replay there equals training's bits)."""
    return speed.prepare(build_model(spec, params), speed.resolve(params.speed, "cpu", spec.model))


def _probe_model(spec, params):
    """The model as the probe runner and the lag record build it: the measurement form."""
    form = speed.measurement_form(params, "cpu", spec.model)
    return speed.prepare_measurement(build_model(spec, params), form)


def _run(setup, name, spec=None, **kw):
    root, params = setup
    spec = spec or params.run("vgg-batchnorm-lr0.1-s0")
    return train_run(
        spec, params, root / "prepared.npz", root / name, _snaps(root, name), progress=False, **kw
    )


def _snaps(root, name):
    """The snapshot folder of test run `name` (beside its run folder, as in results/)."""
    return root / "snapshots" / name


def _saved(root, name, record):
    """Every tensor file a run wrote: its final state, its recorded lag moments and its
    snapshots."""
    steps = record["snapshot_steps"]
    return [
        root / name / "final.pt",
        root / name / LAG_RECORD,
        *(snapshot_path(_snaps(root, name), s) for s in steps),
    ]


def test_outputs_follow_the_schedule(setup):
    root, params = setup
    record = _run(setup, "plain")
    schedule = snapshot_steps(params.train.steps, params.train.snapshots, params.train.log_share)
    dense = snapshot_plan(params.train)[1]
    assert dense == [4, 6]  # smoke's train.dense: 2 in [0.2, 0.6] of 12 steps
    steps = sorted(schedule + dense)
    assert record["status"] == "completed" and record["snapshot_steps"] == steps
    assert all(snapshot_path(_snaps(root, "plain"), s).exists() for s in steps)
    history = pd.read_csv(root / "plain" / "history.csv")
    assert history.train_loss.notna().sum() == params.train.steps
    eval_steps = history.dropna(subset=["test_acc"]).step.tolist()
    assert eval_steps == list(range(0, params.train.steps + 1, params.train.eval_every))
    assert json.loads((root / "plain" / "run.json").read_text())["provenance"]["data"]["checksum"]
    assert not (root / "plain" / ".work").exists()


def test_replaying_step_t_from_its_snapshot_gives_the_logged_loss(setup):
    root, params = setup
    _run(setup, "replay")
    history = pd.read_csv(root / "replay" / "history.csv").set_index("step")
    arrays, _ = load_prepared(root / "prepared.npz")
    data = DeviceData(arrays)
    spec = params.run("vgg-batchnorm-lr0.1-s0")
    t = params.train
    for step in snapshot_steps(t.steps, t.snapshots, t.log_share)[:-1]:
        idx = train_batch_indices(data.n_train, params.train.batch_size, spec.seed, step)
        x, y = data.batch(idx)
        for build in (_training_model, _probe_model):
            model = build(spec, params)
            model.load_state_dict(torch.load(snapshot_path(_snaps(root, "replay"), step)))
            model.train()
            loss = F.cross_entropy(model(x), y).item()
            if build is _training_model:  # training's layout: training's bits
                assert loss == history.train_loss[step]
            else:  # the probes' NCHW: the same loss to fp32 round-off
                assert loss == pytest.approx(history.train_loss[step], rel=1e-5)


def test_an_interrupted_run_resumes_to_identical_results(setup, monkeypatch):
    root, params = setup
    _run(setup, "whole")
    real = CifarTask.batch

    def crash_at_7(self, step):
        if step == 7:
            raise KeyboardInterrupt("simulated crash")
        return real(self, step)

    monkeypatch.setattr(CifarTask, "batch", crash_at_7)
    with pytest.raises(KeyboardInterrupt):
        _run(setup, "resumed")
    assert (root / "resumed" / ".work" / "resume.pt").exists()
    assert not (root / "resumed" / "run.json").exists()  # incomplete is never taken as done
    monkeypatch.setattr(CifarTask, "batch", real)
    record = _run(setup, "resumed")
    assert record["timing"]["resumed_from_step"] == 4  # last checkpoint before the crash
    _same_bytes(root, "whole", "resumed", record)


def test_a_blow_up_is_recorded_as_diverged(setup):
    root, params = setup
    spec = RunSpec("vgg", "standard", 1e4, 0)
    record = _run(setup, "diverged", spec=spec)
    assert record["status"] == "diverged"
    step = record["diverged"]["step"]
    assert 0 < step < params.train.steps
    assert all(s <= step for s in record["snapshot_steps"])
    history = pd.read_csv(root / "diverged" / "history.csv")
    losses = history.train_loss.dropna()
    assert losses.map(lambda v: v == v and abs(v) != float("inf")).all()
    assert record["diverged"]["last_finite_loss"] == losses.iloc[-1]


# A NaN gradient at step 5 makes step 6's loss NaN; at step 11, the smoke run's last
# update, no later loss exists and the parameters themselves tell.
@pytest.mark.parametrize(("bad_step", "recorded"), [(5, 6), (11, 11)])
def test_a_nan_gradient_under_a_finite_loss_is_recorded_as_diverged(
    setup, monkeypatch, bad_step, recorded
):
    """loss + 0 * sqrt(0): the value is finite, its gradient is 0 * inf = NaN."""
    root, params = setup
    real_loss = CifarTask.loss
    calls = {"n": 0}

    def poisoned(output, y):
        loss = real_loss(output, y)
        calls["n"] += 1
        if calls["n"] == bad_step + 1:
            loss = loss + 0 * output.sum().mul(0).sqrt()
        return loss

    monkeypatch.setattr(CifarTask, "loss", staticmethod(poisoned))
    record = _run(setup, f"nan-grad-{bad_step}")
    assert record["status"] == "diverged"
    assert record["diverged"]["step"] == recorded
    assert all(v != v for v in record["final"].values())  # NaN, never a number


def test_the_same_params_and_seed_give_identical_results(setup):
    a, b = _run(setup, "twice-a"), _run(setup, "twice-b")
    root = setup[0]
    assert (root / "twice-a" / "history.csv").read_bytes() == (
        root / "twice-b" / "history.csv"
    ).read_bytes()
    assert a["final"] == b["final"] and a["snapshot_steps"] == b["snapshot_steps"]
    _same_bytes(root, "twice-a", "twice-b", a)
    assert a["sha256"] == b["sha256"]


def _same_bytes(root, name_a, name_b, record):
    """history.csv, final.pt and every snapshot: byte for byte (run.json differs only in
    its timing and git state, by design)."""
    files_a = [root / name_a / "history.csv", *_saved(root, name_a, record)]
    files_b = [root / name_b / "history.csv", *_saved(root, name_b, record)]
    for fa, fb in zip(files_a, files_b, strict=True):
        assert fa.read_bytes() == fb.read_bytes(), fb


def test_the_lag_shift_replay_is_training_itself(setup):
    """The activation probe's lag replay from snapshot t reaches, step for step, the
    parameters training reached (noisy BN: batches and noise from the counters)."""
    from bnpipe.data.tasks import make_task
    from bnpipe.models import noise_layers, set_step
    from bnpipe.models.state import frozen_stats
    from bnpipe.probes.activations import replay_sgd
    from bnpipe.probes.context import SnapshotContext

    root, params = setup
    spec = params.run("vgg-noisy_batchnorm-lr0.1-s0")
    record = _run(setup, "lag", spec=spec)
    first, last = record["snapshot_steps"][1], params.train.steps  # 3 and 12 at smoke
    task = make_task(spec, params, root / "prepared.npz", "cpu")
    model = _training_model(spec, params)
    model.load_state_dict(torch.load(snapshot_path(_snaps(root, "lag"), first)))
    set_step(noise_layers(model), first)
    x, y = task.probe_batch(8)
    with frozen_stats(model):  # as the prober runs every probe
        replay_sgd(SnapshotContext(spec, params, first, model, x, y, task), last - first)
    final = torch.load(root / "lag" / "final.pt")
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), final[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("variant", ["noisy_batchnorm", "l1"])
def test_the_lag_moments_training_records_are_the_replays_bit_for_bit(setup, variant):
    """What training records at t + lag (bnpipe.training.lag_record) is training's state at t + lag
    read in the measurement form: the lag steps replayed from snapshot t in training's
    layout, then measured in NCHW and fp64, give the same bits; the last snapshot, whose
    t + lag lies past the end of training, has no entry."""
    from bnpipe.data.tasks import make_task
    from bnpipe.models import noise_layers, set_step
    from bnpipe.models.state import frozen_stats, preserved_state
    from bnpipe.probes.activations import replay_sgd
    from bnpipe.probes.context import SnapshotContext
    from bnpipe.training.lag_record import lag_moments

    root, params = setup
    if variant == "l1":  # smoke's probe.run_at narrows l1 to ICS and the landscape
        raw = raw_params("smoke")
        del raw["scales"]["smoke"]["probe"]["run_at"]
        params = load_params(raw)
        assert "activations" in params.probe.probes_of("vgg", "l1", 0.1)
    spec = RunSpec("vgg", variant, 0.1, 0)
    record = _run((root, params), f"lag-record-{variant}", spec=spec)
    lag, T = params.probe.activations.lag, params.train.steps
    recorded = torch.load(root / f"lag-record-{variant}" / LAG_RECORD)
    assert recorded["lag"] == lag > 0
    schedule = snapshot_plan(params.train)[0]  # the dense snapshots have no lag shift
    assert sorted(recorded["moments"]) == [t for t in schedule if t + lag <= T]
    also = params.probe.activations.also_lags
    assert recorded["also_lags"] == also == (1, 3)
    for other in also:  # the same moments at each also-lag
        assert sorted(recorded["also"][other]) == [t for t in schedule if t + other <= T]
    assert record["timing"]["lag_record_s"] > 0
    task = make_task(spec, params, root / "prepared.npz", "cpu")
    x, y = task.probe_batch(params.probe.batch_size)
    coordinates = params.probe.activations.coordinates
    assert recorded["signature"] == f"NCHW, fp64, eager; {coordinates} coordinates per layer"
    entries = [(lag, t, m) for t, m in recorded["moments"].items()]
    entries += [(L, t, m) for L in also for t, m in recorded["also"][L].items()]
    for L, t, later in entries:
        model = _training_model(spec, params)
        model.load_state_dict(torch.load(snapshot_path(_snaps(root, f"lag-record-{variant}"), t)))
        set_step(noise_layers(model), t)
        with frozen_stats(model), preserved_state(model):
            replay_sgd(SnapshotContext(spec, params, t, model, x, y, task), L)
            measured = speed.prepare_measurement(build_model(spec, params), speed.FP64)
            measured.load_state_dict(model.state_dict())
            set_step(noise_layers(measured), t + L)
            replayed = lag_moments(measured, x, coordinates)
        assert replayed.keys() == later.keys() == {"block", "layer"}
        for site, by_layer in replayed.items():
            assert by_layer.keys() == later[site].keys()
            for k, units in by_layer.items():
                assert units.keys() == {"channel", "coordinate"}
                for unit, moments in units.items():
                    assert moments.dtype == torch.float64 and moments.shape[0] == 2
                    assert torch.equal(moments, later[site][k][unit]), (t, site, k, unit)


def test_a_group_without_the_activation_probe_records_no_lag_moments(setup, capsys):
    """Smoke's probe.run_at gives l1 at lr 0.1 ICS and the landscape only: nothing reads
    a lag shift there, so training spends no forward pass on it (the cpu preset's l1, l2
    and linf runs likewise)."""
    root, params = setup
    spec = RunSpec("vgg", "l1", 0.1, 0)
    assert "activations" not in params.probe.probes_of("vgg", "l1", 0.1)
    assert shift_lag(params, spec) == 0 and also_lags(params, spec) == ()
    assert shift_lag(params, RunSpec("vgg", "standard", 0.1, 0)) == params.probe.activations.lag
    record = _run(setup, "no-lag-record", spec=spec)
    recorded = torch.load(root / "no-lag-record" / LAG_RECORD)
    assert recorded["lag"] == 0 and recorded["moments"] == {} and recorded["also"] == {}
    assert record["timing"]["lag_record_s"] == 0
    # a probe that does want the shift there (run_at widened after training; the
    # pipeline retrains such a run, Params.run_digest) finds no record and replays
    from bnpipe.probes.runner import SnapshotProber

    raw = raw_params("smoke")
    del raw["scales"]["smoke"]["probe"]["run_at"]
    folders = (root / "prepared.npz", root / "no-lag-record", _snaps(root, "no-lag-record"))
    assert SnapshotProber(spec, load_params(raw), *folders, "cpu").lag_record == {}
    assert "recorded at lag 0" in capsys.readouterr().err


def test_the_probe_uses_the_recorded_moments_and_gets_the_replays_rows(setup, monkeypatch, capsys):
    """The activation probe replays only where training recorded nothing (the last
    snapshot), and its rows equal the all-replay rows to round-off (the replay runs in
    the measurement form, NCHW; training in channels_last); a lag or a coordinate count
    changed since training makes the record unusable, and the probe says so and replays."""
    import bnpipe.probes.activations as activations
    from bnpipe.probe_registry import make_probes
    from bnpipe.probes.runner import SnapshotProber

    root, params = setup
    spec, name = RunSpec("vgg", "noisy_batchnorm", 0.1, 0), "lag-record-noisy_batchnorm"
    if not (root / name / "run.json").exists():
        _run(setup, name, spec=spec)
    record = json.loads((root / name / "run.json").read_text())
    raw = raw_params("smoke")
    raw["probe"]["run"] = ["activations"]
    only = load_params(raw)
    folders = (root / "prepared.npz", root / name, _snaps(root, name), "cpu")
    replays = []
    real_replay = activations.replay_sgd
    monkeypatch.setattr(
        activations, "replay_sgd", lambda ctx, n: replays.append(ctx.step) or real_replay(ctx, n)
    )
    rows = {}
    for use_record in (True, False):
        prober = SnapshotProber(spec, only, *folders, lag_record=use_record)
        rows[use_record] = [
            list(prober.measure(step, make_probes(only)))[0][1] for step in prober.snapshot_steps()
        ]
    steps, last = record["snapshot_steps"], params.train.steps
    dense = snapshot_plan(params.train)[1]  # no record there: the runner never asks
    n = 1 + len(params.probe.activations.also_lags)  # one replay per lag (2, and 1 and 3)
    unrecorded = [s for s in steps if s in dense or s == last]  # the last: t + lag > T
    assert replays == [s for s in unrecorded for _ in range(n)] + [
        s for s in steps for _ in range(n)
    ]
    # training's lag steps ran in channels_last, the replay's in NCHW: two fp32
    # trajectories whose updates differ by training's round-off (measured here: <= 1.5e-3
    # relative in a shift after 2 steps)
    for step, recorded, replayed in zip(steps, rows[True], rows[False], strict=True):
        assert [r[:2] for r in recorded] == [r[:2] for r in replayed]
        # ... and grow with the lag: at lag 3 from step 0 (noisy BN at initialization) the
        # two trajectories' shifts differ by up to 6.7% (measured here); the record is
        # training's own state (bit for bit, the test above), the replay its fallback
        far = [
            (step, k, m, a, b)
            for (k, m, a), (_, _, b) in zip(recorded, replayed, strict=True)
            if a != pytest.approx(b, rel=1e-1 if m.endswith("@lag3") else 1e-2)
        ]
        assert far == [], far
    assert any(metric == "input_coord_lag_shift" for _, metric, _ in rows[True][1])
    raw["scales"]["smoke"]["probe"]["activations"]["lag"] = 4
    assert SnapshotProber(spec, load_params(raw), *folders).lag_record == {}
    assert "recorded at lag 2" in capsys.readouterr().err
    raw["scales"]["smoke"]["probe"]["activations"]["lag"] = 2
    raw["probe"]["activations"]["coordinates"] = 600
    assert SnapshotProber(spec, load_params(raw), *folders).lag_record == {}
    assert "this probe is at lag 2" in capsys.readouterr().err


def test_clean_statistics_switch_the_noise_off_and_leave_the_model_alone(setup):
    """At the final state, noisy BN with its noise off is plain BN with the same weights:
    the re-estimated statistics and the test accuracy must be the same for both."""
    from bnpipe.data.tasks import make_task
    from bnpipe.models import batchnorm_layers, noise_layers, set_step
    from bnpipe.models.state import frozen_stats
    from bnpipe.probes.clean_stats import CleanStatsProbe
    from bnpipe.probes.context import SnapshotContext

    root, params = setup
    noisy_spec = params.run("vgg-noisy_batchnorm-lr0.1-s0")
    if not (root / "lag" / "final.pt").exists():
        _run(setup, "lag", spec=noisy_spec)
    final = torch.load(root / "lag" / "final.pt")
    results = {}
    for variant in ("noisy_batchnorm", "batchnorm"):
        spec = RunSpec("vgg", variant, 0.1, 0)
        task = make_task(spec, params, root / "prepared.npz", "cpu")
        model = build_model(spec, params)
        # noisy BN's norm is Sequential(BN, noise): the same BN under one more name level
        state = (
            final
            if variant == "noisy_batchnorm"
            else {k.replace(".norm.0.", ".norm."): v for k, v in final.items()}
        )
        model.load_state_dict(state)
        set_step(noise_layers(model), params.train.steps)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        x, y = task.probe_batch(8)
        ctx = SnapshotContext(spec, params, params.train.steps, model, x, y, task)
        with frozen_stats(model):  # as the probe runner calls it
            results[variant] = dict(((m, v) for _, m, v in CleanStatsProbe(4).measure(ctx)))
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        # independently: fresh statistics, the plain average over the same 4 clean batches
        reference = build_model(RunSpec("vgg", "batchnorm", 0.1, 0), params)
        reference.load_state_dict({k.replace(".norm.0.", ".norm."): v for k, v in final.items()})
        for layer in batchnorm_layers(reference):
            layer.reset_running_stats()
            layer.momentum = None
        reference.train()
        with torch.no_grad():
            for s in range(params.train.steps, params.train.steps + 4):
                reference(task.batch(s)[0])
        reference.eval()
        expected = task.evaluate(reference)
        assert results[variant]["test_acc_clean_stats"] == expected["test_acc"]
        assert results[variant]["test_loss_clean_stats"] == pytest.approx(expected["test_loss"])
        assert all(layer.active for layer in noise_layers(model))
        earlier = SnapshotContext(spec, params, 3, model, x, y, task)
        assert list(CleanStatsProbe(4).measure(earlier)) == []  # the final state only
    assert results["noisy_batchnorm"] == results["batchnorm"]
    assert 0 <= results["batchnorm"]["test_acc_clean_stats"] <= 1


def test_the_dense_snapshots_get_only_the_dense_probes(setup):
    """train.dense adds snapshots that only its probes measure: at smoke's steps 4 and 6
    the landscape alone, every other probe on the schedule's steps (0, 3, 12)."""
    from bnpipe.probes.runner import probe_run
    from bnpipe.training.schedule import dense_steps, probes_at

    root, params = setup
    if not (root / "plain" / "run.json").exists():
        _run(setup, "plain")
    spec = params.run("vgg-batchnorm-lr0.1-s0")
    raw = raw_params("smoke")
    raw["probe"]["run"] = ["landscape", "sharpness"]
    only = load_params(raw)
    table = probe_run(spec, only, root / "prepared.npz", root / "plain", _snaps(root, "plain"),
                      root / "dense.csv", progress=False)  # fmt: skip
    by_step = table.groupby("step").probe.unique().map(sorted).to_dict()
    every, dense = ["landscape", "sharpness"], ["landscape"]
    assert by_step == {0: every, 3: every, 4: dense, 6: dense, 12: every}
    assert dense_steps(3000, 10, (0.1, 0.25)) == [341, 382, 423, 464, 505, 545, 586, 627, 668, 709]
    assert dense_steps(3000, 0, (0.1, 0.25)) == []
    assert probes_at(4, [4, 6], ["ics", "landscape"], only.train) == ["landscape"]
    assert probes_at(3, [4, 6], ["ics", "landscape"], only.train) == ["ics", "landscape"]


def test_a_group_listed_in_run_at_gets_only_its_probes_and_the_same_rows_as_alone(setup):
    """probe.run_at gives BN at lr 0.1 the landscape alone: its table is, row for row, the
    landscape rows of the same snapshots probed with every probe of probe.run."""
    from bnpipe.probes.runner import probe_run

    root, params = setup
    if not (root / "plain" / "run.json").exists():
        _run(setup, "plain")
    spec = params.run("vgg-batchnorm-lr0.1-s0")
    raw = raw_params("smoke")
    raw["probe"]["run"] = ["ics", "landscape", "sharpness"]
    every = load_params(raw)
    raw["scales"]["smoke"]["probe"]["run_at"] = {"vgg": {0.1: {"batchnorm": ["landscape"]}}}
    listed = load_params(raw)
    args = (root / "prepared.npz", root / "plain", _snaps(root, "plain"))
    full = probe_run(spec, every, *args, root / "every.csv", progress=False)
    only = probe_run(spec, listed, *args, root / "listed.csv", progress=False)
    assert set(full.probe) == {"ics", "landscape", "sharpness"} and set(only.probe) == {"landscape"}
    pd.testing.assert_frame_equal(
        only.reset_index(drop=True), full[full.probe == "landscape"].reset_index(drop=True)
    )


def test_a_resumed_lag_record_has_the_same_bytes_when_two_lags_meet_at_one_step(tmp_path):
    """Snapshots 0 and 4 at lag 2 and also-lag 6 both want step 6: each entry is its own
    copy, so the file is the same whether the recorder ran through or resumed at step 7."""
    import io

    from bnpipe.training.lag_record import LagRecorder

    params = load_params(raw_params("smoke"))
    spec = params.run("vgg-batchnorm-lr0.1-s0")
    model = build_model(spec, params)
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def recorder() -> LagRecorder:
        measured = speed.prepare_measurement(build_model(spec, params), speed.FP64)
        return LagRecorder(model, measured, x, 2, 600, "sig", [0, 4], also=(6,))

    def saved(r: LagRecorder) -> bytes:
        buffer = io.BytesIO()
        torch.save(r.state(), buffer)
        return buffer.getvalue()

    through = recorder()
    for step in range(13):
        through.at(step)
    assert sorted(through.moments) == [0, 4] and sorted(through.also[6]) == [0, 4]
    first = recorder()
    for step in range(7):
        first.at(step)
    resumed = recorder()
    resumed.restore(torch.load(io.BytesIO(saved(first))), resumed_at=7)
    for step in range(7, 13):
        resumed.at(step)
    assert saved(resumed) == saved(through)
