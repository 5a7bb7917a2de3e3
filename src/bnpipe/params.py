"""params.yaml and the protocol -> frozen, typed, validated objects.

workflow/protocol.yaml holds the paper's protocol plus `scales`, presets that override
parts of it. params.yaml, the experiment, picks the `scale` and may set any protocol key,
which then wins over the protocol and the scale's preset (`compose`). Anything wrong (an
unknown key, a wrong type, an impossible value) raises ParamsError naming the dotted key,
before any job starts.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from bnpipe import variants
from bnpipe.probe_registry import probe_names

MODELS = variants.MODELS
SCALES = ("quick", "cpu", "paper", "smoke")
# per-model mappings that a scale replaces whole, not key by key
WHOLE = ("lrs", "seeds", "variants_at", "seeds_at", "run_at")


class ParamsError(ValueError):
    """A problem in params.yaml; the message names the key."""


@dataclasses.dataclass(frozen=True)
class DataParams:
    source: Literal["cifar10", "sample"]
    url: str
    md5: str
    train_per_class: int
    test_per_class: int

    def check(self, where: str) -> None:
        _at_least(self.train_per_class, 0, "data.train_per_class")
        _at_least(self.test_per_class, 0, "data.test_per_class")
        if len(self.md5) != 32:
            raise ParamsError(f"data.md5: expected 32 hex digits, got {self.md5!r}")


@dataclasses.dataclass(frozen=True)
class GridParams:
    models: tuple[str, ...]
    variants: tuple[str, ...]
    lrs: Mapping[str, tuple[float, ...]]
    seeds: Mapping[str, tuple[int, ...]]
    # model -> lr -> the only variants run at that lr (lrs not listed run every variant)
    variants_at: Mapping[str, Mapping[float, tuple[str, ...]]]
    # model -> lr -> variant -> its seeds, in place of seeds[model]: more seeds only for
    # the groups whose tests need the power (groups not listed run seeds[model])
    seeds_at: Mapping[str, Mapping[float, Mapping[str, tuple[int, ...]]]]

    def runs_variant(self, model: str, variant: str, lr: float) -> bool:
        """Whether the grid has a run of `variant` at `lr` (before the seeds)."""
        only = self.variants_at.get(model, {})
        return lr not in only or variant in only[lr]

    def seeds_of(self, model: str, variant: str, lr: float) -> tuple[int, ...]:
        """The seeds of one group: seeds_at's where it lists the group, else the model's."""
        return self.seeds_at.get(model, {}).get(lr, {}).get(variant, self.seeds[model])

    def check(self, where: str) -> None:
        for key in ("models", "variants"):
            if not getattr(self, key):
                raise ParamsError(f"grid.{key}: empty; the grid would have no runs")
            _distinct(getattr(self, key), f"grid.{key}")
        for key in ("lrs", "seeds"):
            for model, values in getattr(self, key).items():
                _distinct(values, f"grid.{key}.{model}")
        for model, at in self.variants_at.items():
            for lr, names in at.items():
                _distinct(names, f"grid.variants_at.{model}.{lr}")
        for model in self.models:
            if model not in MODELS:
                raise ParamsError(f"grid.models: unknown model {model!r} (allowed: {MODELS})")
            if model not in self.lrs or not self.lrs[model]:
                raise ParamsError(f"grid.lrs.{model}: no learning rates for model {model!r}")
            for lr in self.lrs[model]:
                if not lr > 0:
                    raise ParamsError(f"grid.lrs.{model}: learning rate {lr} must be > 0")
            seeds = self.seeds.get(model, ())
            if not seeds:
                raise ParamsError(f"grid.seeds.{model}: empty; the grid would have no runs")
            if min(seeds) < 0:
                raise ParamsError(f"grid.seeds.{model}: must be >= 0, got {seeds}")
        allowed = sorted({v for m in self.models for v in variants.for_model(m)})
        for variant in self.variants:
            if variant not in allowed:
                raise ParamsError(
                    f"grid.variants: unknown variant {variant!r} (allowed: {allowed})"
                )
        for model, at in self.variants_at.items():
            for lr, names in at.items():
                if model not in self.models or lr not in self.lrs[model]:
                    raise ParamsError(
                        f"grid.variants_at.{model}.{lr}: not a learning rate of grid.lrs.{model}"
                    )
                unknown = [v for v in names if v not in self.variants]
                if unknown or not names:
                    raise ParamsError(
                        f"grid.variants_at.{model}.{lr}: {unknown or 'empty'}; pick from "
                        f"grid.variants {list(self.variants)}"
                    )
        for key in ("lrs", "seeds"):
            for model in getattr(self, key):
                if model not in MODELS:
                    raise ParamsError(f"grid.{key}: unknown model {model!r} (allowed: {MODELS})")
        self._check_seeds_at()

    def _check_seeds_at(self) -> None:
        for model, at in self.seeds_at.items():
            for lr, groups in at.items():
                where = f"grid.seeds_at.{model}.{lr}"
                if model not in self.models or lr not in self.lrs[model]:
                    raise ParamsError(f"{where}: not a learning rate of grid.lrs.{model}")
                for variant, seeds in groups.items():
                    if not self.runs_variant(model, variant, lr) or variant not in self.variants:
                        raise ParamsError(f"{where}.{variant}: not a group of the grid")
                    _distinct(seeds, f"{where}.{variant}")
                    if not seeds or min(seeds) < 0:
                        raise ParamsError(f"{where}.{variant}: seeds >= 0, at least one")


@dataclasses.dataclass(frozen=True)
class VGGParams:
    width: float
    stack: tuple[int | str, ...]

    def check(self, where: str) -> None:
        if not 0 < self.width <= 8:
            raise ParamsError(f"vgg.width: must be in (0, 8], got {self.width}")
        for item in self.stack:
            if item != "M" and not (isinstance(item, int) and item > 0):
                raise ParamsError(f"vgg.stack: items are channel counts > 0 or 'M', got {item!r}")
        if not self.stack or self.stack[0] == "M":
            raise ParamsError("vgg.stack: must start with a channel count (a conv)")


@dataclasses.dataclass(frozen=True)
class DenseParams:
    """Extra snapshots in one window of a run, measured only by a few probes: a test that
    averages a cheap probe over a short window reads many snapshots there, not two."""

    snapshots: int  # evenly spaced in `window`, besides the schedule's; 0 = none
    window: tuple[float, ...]  # [lo, hi]: fractions of the run's steps
    probes: tuple[str, ...]  # the probes run on them (every probe runs on the schedule's)

    def check(self, where: str) -> None:
        _at_least(self.snapshots, 0, f"{where}.snapshots")
        if len(self.window) != 2 or not 0 <= self.window[0] < self.window[1] <= 1:
            raise ParamsError(f"{where}.window: [lo, hi] with 0 <= lo < hi <= 1, got {self.window}")
        for name in self.probes:
            if name not in probe_names():
                raise ParamsError(f"{where}.probes: unknown probe {name!r}")


@dataclasses.dataclass(frozen=True)
class TrainParams:
    steps: int
    batch_size: int
    eval_every: int
    checkpoint_every: int
    snapshots: int
    log_share: float  # of the snapshots between 0 and the last step: log-spaced, the rest even
    eval_train_images: int  # training images evaluated (a fixed subset per seed), 0 = all
    dense: DenseParams

    def check(self, where: str) -> None:
        for key in ("steps", "batch_size", "eval_every", "checkpoint_every"):
            _at_least(getattr(self, key), 1, f"{where}.{key}")
        _at_least(self.eval_train_images, 0, f"{where}.eval_train_images")
        if not 0 <= self.log_share <= 1:
            raise ParamsError(f"{where}.log_share: must be in [0, 1], got {self.log_share}")
        _at_least(self.snapshots, 2, f"{where}.snapshots")
        if self.snapshots > self.steps + 1:
            raise ParamsError(
                f"{where}.snapshots: {self.snapshots} snapshots need at least "
                f"{self.snapshots - 1} {where}.steps, got {self.steps}"
            )


@dataclasses.dataclass(frozen=True)
class SpeedParams:
    """How VGG's training step runs (bnpipe.training.speed); the DLN always runs plain fp32."""

    channels_last: Literal["auto", "always", "never"]  # auto: where measured faster
    compile: bool
    precision: Literal["fp32", "tf32", "bf16"]
    deterministic: bool  # CUDA: deterministic kernels only (bit-reproducible, slower)


@dataclasses.dataclass(frozen=True)
class NormParams:
    eps: float
    momentum: float

    def check(self, where: str) -> None:
        if not self.eps > 0:
            raise ParamsError(f"norm.eps: must be > 0, got {self.eps}")
        if not 0 < self.momentum <= 1:
            raise ParamsError(f"norm.momentum: must be in (0, 1], got {self.momentum}")


@dataclasses.dataclass(frozen=True)
class NoiseParams:
    n_mu: float
    n_sigma: float
    r_mu: float
    r_sigma: float

    def check(self, where: str) -> None:
        for key in ("n_mu", "r_mu", "r_sigma"):
            if getattr(self, key) < 0:
                raise ParamsError(f"noise.{key}: must be >= 0, got {getattr(self, key)}")
        if self.n_sigma < 1:
            raise ParamsError(f"noise.n_sigma: must be >= 1 (U(1, n_sigma)), got {self.n_sigma}")


@dataclasses.dataclass(frozen=True)
class ActivationParams:
    site: Literal["layer", "normalized", "block"]
    unit: int
    percentiles: tuple[float, ...]
    lag: int  # SGD steps replayed from each snapshot for the lag shift (0: none)
    # the shift at these lags too (metrics ...lag_shift@lag<L>): the robustness of a test
    # to its lag, recorded by training like the main lag's
    also_lags: tuple[int, ...]
    # per layer, the coordinates (c, h, w) whose shift is averaged: all where a layer has
    # at most this many, else a fixed random sample of this many (the same in every run)
    coordinates: int

    def check(self, where: str) -> None:
        _at_least(self.unit, 0, "probe.activations.unit")
        _at_least(self.lag, 0, "probe.activations.lag")
        _distinct(self.also_lags, "probe.activations.also_lags")
        for other in self.also_lags:
            _at_least(other, 1, "probe.activations.also_lags")
            if other == self.lag:
                raise ParamsError(f"probe.activations.also_lags: {other} is the main lag")
        _at_least(self.coordinates, 512, "probe.activations.coordinates")
        if not self.percentiles or not all(0 <= q <= 100 for q in self.percentiles):
            raise ParamsError("probe.activations.percentiles: values must lie in [0, 100]")


@dataclasses.dataclass(frozen=True)
class DLNParams:
    layers: int
    width: int
    examples: int
    data_seed: int
    train: TrainParams

    def check(self, where: str) -> None:
        _at_least(self.layers, 2, "dln.layers")
        _at_least(self.width, 1, "dln.width")
        _at_least(self.examples, 2, "dln.examples")
        _at_least(self.data_seed, 0, "dln.data_seed")
        if self.train.batch_size != self.examples:
            raise ParamsError(
                f"dln.train.batch_size: full-batch gradient descent needs it equal to "
                f"dln.examples ({self.examples}), got {self.train.batch_size}"
            )


@dataclasses.dataclass(frozen=True)
class LandscapeParams:
    points: int
    range: Mapping[str, tuple[float, ...]]

    def check(self, where: str) -> None:
        _at_least(self.points, 2, f"{where}.points")
        for model in MODELS:
            bounds = self.range.get(model)
            if bounds is None or len(bounds) != 2 or not 0 < bounds[0] < bounds[1]:
                raise ParamsError(
                    f"{where}.range.{model}: expected [lo, hi] with 0 < lo < hi "
                    f"(multiples of the lr), got {bounds}"
                )


@dataclasses.dataclass(frozen=True)
class SharpnessParams:
    max_products: int  # Hessian-vector products per snapshot at most
    tolerance: float  # stop at a relative residual ||Hy - theta y|| / |theta| this small

    def check(self, where: str) -> None:
        _at_least(self.max_products, 1, f"{where}.max_products")
        if not self.tolerance > 0:
            raise ParamsError(f"{where}.tolerance: must be > 0, got {self.tolerance}")


@dataclasses.dataclass(frozen=True)
class ProbeParams:
    batch_size: int
    run: tuple[str, ...]
    # model -> lr -> variant -> the only probes that group runs (those of `run` it
    # lists): a group whose tests read fewer probes skips the others (groups not listed
    # run `run`; docs/protocol.md, "Probes where the tests read them")
    run_at: Mapping[str, Mapping[float, Mapping[str, tuple[str, ...]]]]
    precision: Mapping[str, str]  # model -> fp32 | fp64: what every probe computes in
    chunk_size: int
    clean_stats_batches: int
    activations: ActivationParams
    landscape: LandscapeParams
    sharpness: SharpnessParams

    def probes_of(self, model: str, variant: str, lr: float) -> tuple[str, ...]:
        """The probes one group runs, in the order of `run`."""
        only = self.run_at.get(model, {}).get(lr, {}).get(variant)
        return self.run if only is None else tuple(n for n in self.run if n in only)

    def check(self, where: str) -> None:
        _at_least(self.batch_size, 2, "probe.batch_size")
        _at_least(self.chunk_size, 1, "probe.chunk_size")
        _at_least(self.clean_stats_batches, 1, "probe.clean_stats_batches")
        for model in MODELS:
            if self.precision.get(model) not in ("fp32", "fp64"):
                raise ParamsError(
                    f"probe.precision.{model}: expected fp32 or fp64, "
                    f"got {self.precision.get(model)!r}"
                )
        _known_probes(self.run, "probe.run")
        for model, at in self.run_at.items():
            for lr, groups in at.items():
                for variant, names in groups.items():
                    key = f"probe.run_at.{model}.{lr}.{variant}"
                    if model not in MODELS or variant not in variants.for_model(model):
                        raise ParamsError(f"{key}: no such model and variant")
                    _distinct(names, key)
                    _known_probes(names, key)


def _known_probes(names: tuple[str, ...], key: str) -> None:
    for name in names:
        if name not in probe_names():
            raise ParamsError(f"{key}: unknown probe {name!r} (allowed: {list(probe_names())})")


@dataclasses.dataclass(frozen=True)
class AnalyzeParams:
    confidence: float
    n_resamples: int
    final_window: int
    acc_thresholds: tuple[float, ...]
    min_seeds: int
    margin_points: float
    ratio_margin: float
    cos_margin: float
    chance_margin: float
    smooth_fraction: float
    final_fraction: float
    plateau_points: float
    error_draws: int  # resamples of each test's error check (bnpipe.analysis.error_rates); 0: none
    windows: Mapping[str, tuple[float, ...]]

    def check(self, where: str) -> None:
        if not 0 < self.confidence < 1:
            raise ParamsError(f"analyze.confidence: must be in (0, 1), got {self.confidence}")
        _at_least(self.n_resamples, 99, "analyze.n_resamples")
        _at_least(self.final_window, 1, "analyze.final_window")
        _at_least(self.min_seeds, 2, "analyze.min_seeds")
        # fewer draws cannot bound a rate of (1 - confidence) / 2 with 95% confidence
        least = math.ceil(math.log(0.05) / math.log(1 - (1 - self.confidence) / 2))
        if self.error_draws and self.error_draws < least:
            raise ParamsError(f"analyze.error_draws: 0 or at least {least}, got {self.error_draws}")
        for t in self.acc_thresholds:
            if not 0 < t <= 1:
                raise ParamsError(f"analyze.acc_thresholds: {t} is not in (0, 1]")
        for key in ("margin_points", "chance_margin", "plateau_points"):
            if not getattr(self, key) > 0:
                raise ParamsError(f"analyze.{key}: must be > 0, got {getattr(self, key)}")
        if not self.ratio_margin > 1:
            raise ParamsError(f"analyze.ratio_margin: must be > 1, got {self.ratio_margin}")
        for key in ("cos_margin", "smooth_fraction", "final_fraction"):
            if not 0 < getattr(self, key) < 1:
                raise ParamsError(f"analyze.{key}: must be in (0, 1), got {getattr(self, key)}")
        for name in ("early", "late", "all"):
            bounds = self.windows.get(name)
            if bounds is None or len(bounds) != 2 or not 0 <= bounds[0] < bounds[1] <= 1:
                raise ParamsError(
                    f"analyze.windows.{name}: expected [lo, hi] fractions of the run's steps "
                    f"with 0 <= lo < hi <= 1, got {bounds}"
                )


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One point of the grid; `id` is stable and readable, e.g. vgg-batchnorm-lr0.1-s0."""

    model: str
    variant: str
    lr: float
    seed: int

    @property
    def id(self) -> str:
        return f"{self.model}-{self.variant}-lr{self.lr:g}-s{self.seed}"


@dataclasses.dataclass(frozen=True)
class LongArmParams:
    """`make long-arm`: runs of the grid trained `steps` steps instead of the scale's,
    to measure after how many steps a run has settled (bnpipe.analysis.settling); the
    claims cite what it measured where training has not settled."""

    runs: tuple[str, ...]  # run ids of the grid
    steps: int
    every: int  # run lengths tried: every `every` steps

    def check(self, where: str) -> None:
        _at_least(self.steps, 1, "long_arm.steps")
        _at_least(self.every, 1, "long_arm.every")
        _distinct(self.runs, "long_arm.runs")


@dataclasses.dataclass(frozen=True)
class WidthCheckParams:
    """`make width-check`: VGG runs of the grid trained as they are but at each of
    `widths` (vgg.width in place of the scale's), to show whether a gap between variants
    depends on the width (claim 3's panel); nothing is probed."""

    widths: tuple[float, ...]  # vgg.width values, the scale's own excluded
    runs: tuple[str, ...]  # VGG run ids of the grid

    def check(self, where: str) -> None:
        _distinct(self.widths, "width_check.widths")
        _distinct(self.runs, "width_check.runs")
        for width in self.widths:
            if not 0 < width <= 8:
                raise ParamsError(f"width_check.widths: each in (0, 8], got {width}")
            if float(f"{width:g}") != width:  # its folder's name: w{width:g}
                raise ParamsError(f"width_check.widths: {width!r} needs more than 6 digits")


@dataclasses.dataclass(frozen=True)
class Params:
    scale: Literal["quick", "cpu", "paper", "smoke"]
    extensions: tuple[str, ...]  # modules that register variants or probes, imported first
    data: DataParams
    grid: GridParams
    vgg: VGGParams
    dln: DLNParams
    norm: NormParams
    noise: NoiseParams
    train: TrainParams
    speed: SpeedParams
    probe: ProbeParams
    analyze: AnalyzeParams
    long_arm: LongArmParams
    width_check: WidthCheckParams

    def check(self, where: str) -> None:
        # long_arm.runs and width_check.runs name runs of the grid, but are checked where
        # they are trained (make long-arm, make width-check): a grid edited for another
        # purpose must not stop the pipeline over a side measurement it does not ask for
        ids = [spec.id for spec in self.runs()]
        if self.vgg.width in self.width_check.widths:
            raise ParamsError(
                f"width_check.widths: {self.vgg.width:g} is the scale's own width (its runs "
                "are the grid's)"
            )
        clash = sorted({i for i in ids if ids.count(i) > 1})
        if clash:
            raise ParamsError(
                f"grid.lrs: runs would share an id ({', '.join(clash)}): two learning rates "
                "print alike (run ids write lr with 6 significant digits)"
            )

    def runs(self) -> list[RunSpec]:
        g = self.grid
        return [
            RunSpec(model, variant, lr, seed)
            for model in g.models
            for variant in g.variants
            if variant in variants.for_model(model)
            for lr in g.lrs[model]
            if g.runs_variant(model, variant, lr)
            for seed in g.seeds_of(model, variant, lr)
        ]

    def training(self, model: str) -> TrainParams:
        """The training settings of a model: `train` for VGG, `dln.train` for the DLN."""
        return self.dln.train if model == "dln" else self.train

    def run_sections(self, spec: RunSpec) -> tuple[str, ...]:
        """The params sections a run's training outputs depend on (and lag_record)."""
        sections = ("dln",) if spec.model == "dln" else ("data", "vgg", "train", "speed")
        return sections + variants.get(spec.variant).sections

    def lag_record(self, spec: RunSpec) -> dict[str, Any]:
        """The `probe` settings training's lag record of `spec` is read with
        (bnpipe.training.lag_record): the lag, the also-lags, the probe batch's size and
        the coordinates per layer; {} where the group's probes (probe.run, narrowed by
        probe.run_at) leave out the activation probe, or its lag is 0: nothing recorded."""
        a = self.probe.activations
        if a.lag == 0 or "activations" not in self.probe.probes_of(
            spec.model, spec.variant, spec.lr
        ):
            return {}
        return {
            "lag": a.lag,
            "also_lags": list(a.also_lags),
            "batch_size": self.probe.batch_size,
            "coordinates": a.coordinates,
        }

    def run_digest(self, spec: RunSpec) -> str:
        """Changes iff what the run's training writes depends on changes: its sections
        and, where it records the lag shift, those settings. (A recorded shift is the
        state training reached; a probe replaying the lag steps in its own form follows
        it only to round-off, so a run recorded at other settings is trained again.)"""
        sections = self.digest(*self.run_sections(spec))
        record = self.lag_record(spec)
        return digest_of({"sections": sections, "lag_record": record}) if record else sections

    def model_sections(self, model: str) -> tuple[str, ...]:
        """The params sections that any run of `model` in the grid depends on
        (run_sections, over the grid's variants), then `grid`: what a figure drawn from
        a model's runs depends on."""
        sections: dict[str, None] = {}
        for spec in self.runs():
            if spec.model == model:
                sections.update(dict.fromkeys(self.run_sections(spec)))
        return (*sections, "grid")

    def run(self, run_id: str) -> RunSpec:
        for spec in self.runs():
            if spec.id == run_id:
                return spec
        raise ParamsError(f"no run {run_id!r} in the grid of scale {self.scale!r}")

    def section(self, *names: str) -> dict[str, Any]:
        """Plain-dict view of some sections, for provenance and hashing."""
        return {name: _plain(getattr(self, name)) for name in names}

    def digest(self, *names: str) -> str:
        """Short sha256 of the named sections (all of them if none): changes iff they do."""
        names = names or tuple(f.name for f in dataclasses.fields(self))
        return digest_of(self.section(*names))


def digest_of(obj: Any) -> str:
    """Short sha256 of a params object (or plain data): changes iff its values do."""
    blob = json.dumps(_plain(obj), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content; a key written twice in one mapping is an error (plain YAML
    loaders keep the last value without a word)."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: no such params file")
    loader = _StrictLoader(path.read_text())
    loader.name = str(path)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _StrictLoader(yaml.SafeLoader):
    name = "params.yaml"


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ParamsError(
                f"{loader.name} line {line}: key {key!r} written twice in one mapping (first "
                f"at line {seen[key]}); YAML would silently keep the last value"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


PROTOCOL_FILE = "workflow/protocol.yaml"  # beside params.yaml's folder


def protocol_for(params_file: str | Path) -> Path:
    """The protocol file of the project whose experiment file is `params_file`."""
    return Path(params_file).resolve().parent / PROTOCOL_FILE


def compose(protocol: Mapping[str, Any], experiment: Mapping[str, Any] | None) -> dict:
    """One experiment's raw params: the protocol with the experiment's `scale`, and the
    experiment's other keys laid over that scale's preset, so that they win over both.
    A key the protocol lacks is refused here, named as the experiment's."""
    raw = copy.deepcopy(dict(protocol))
    experiment = copy.deepcopy(dict(experiment or {}))
    if "scale" not in experiment:
        raise ParamsError("params.yaml: `scale` missing (quick | cpu | paper | smoke)")
    raw["scale"] = experiment.pop("scale")
    if not experiment:
        return raw
    _merge(copy.deepcopy(raw), experiment, "params.yaml", apply=False)  # names a bad key
    scales = raw.get("scales")
    if isinstance(scales, dict) and raw["scale"] in scales:
        preset = copy.deepcopy(scales[raw["scale"]] or {})
        _lay_over(preset, experiment)
        scales[raw["scale"]] = preset
    return raw


def _lay_over(base: dict, new: Mapping) -> None:
    """Deep-merge `new` into `base`, adding keys; WHOLE mappings are replaced whole."""
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping) and key not in WHOLE:
            _lay_over(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def read_experiment(params_file: str | Path = "params.yaml", scale: str | None = None) -> dict:
    """The raw params of the experiment in `params_file` (`scale`, if given, in place of
    its own), composed with the protocol beside it."""
    experiment = read_yaml(params_file) or {}
    if not isinstance(experiment, dict):
        raise ParamsError(f"{params_file}: the top level must be a mapping")
    if scale:
        experiment["scale"] = scale
    return compose(read_yaml(protocol_for(params_file)) or {}, experiment)


def load_experiment(params_file: str | Path = "params.yaml", scale: str | None = None) -> Params:
    """params.yaml's experiment, composed with the protocol and validated."""
    return load_params(read_experiment(params_file, scale))


def load_params(source: Mapping[str, Any]) -> Params:
    """Validate raw params: a protocol with `scale` set (compose, read_experiment)."""
    if not isinstance(source, Mapping):
        raise ParamsError("params: the top level must be a mapping")
    raw = copy.deepcopy(dict(source))
    scales = raw.pop("scales", None)
    if not isinstance(scales, dict):
        raise ParamsError("scales: missing, or not a mapping of scale name -> overrides")
    scale = raw.get("scale")
    if scale not in SCALES:
        raise ParamsError(f"scale: {scale!r} is not one of {SCALES}")
    if scale not in scales:
        raise ParamsError(f"scales.{scale}: no preset for the selected scale")
    _import_extensions(raw.get("extensions", []))
    _build(Params, raw, "")  # the protocol itself must be whole and valid
    for name in scales:
        if name not in SCALES:
            raise ParamsError(f"scales.{name}: unknown scale (allowed: {SCALES})")
        _merge(raw, scales[name] or {}, f"scales.{name}", apply=(name == scale))
    return _build(Params, raw, "")


def shadowed_changes(raw: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    """Protocol keys whose value differs from `baseline` (the committed protocol) while
    the active scale overrides them, so the new value would never be used: e.g.
    train.steps edited in workflow/protocol.yaml at `quick`, where scales.quick.train.steps
    wins. Returns one message per key, naming it and the key to set instead (or to set
    it in params.yaml, which wins over both)."""
    scale = raw.get("scale")
    overrides = (raw.get("scales") or {}).get(scale) or {}
    found: list[str] = []

    def walk(override: Mapping, now: Any, before: Any, path: tuple[str, ...]) -> None:
        for key, value in override.items():
            here = (*path, str(key))
            a = now.get(key) if isinstance(now, Mapping) else None
            b = before.get(key) if isinstance(before, Mapping) else None
            if isinstance(value, Mapping) and key not in WHOLE:
                walk(value, a, b, here)
            elif a != b:
                dotted = ".".join(here)
                found.append(
                    f"{dotted} was changed to {a!r}, but scale {scale!r} overrides it with "
                    f"{value!r} (scales.{scale}.{dotted}): set it in params.yaml, which wins "
                    f"over the scale, or set scales.{scale}.{dotted} instead"
                )

    walk(overrides, raw, baseline, ())
    return found


def _import_extensions(modules: Any) -> None:
    """Import the modules named in `extensions`: they register variants and probes, which
    the grid and probe.run are then checked against."""
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ParamsError(f"extensions: expected a list of module names, got {modules!r}")
    for module in modules:
        try:
            variants.load_extensions([module])
        except ImportError as err:
            raise ParamsError(
                f"extensions: cannot import {module!r} ({err}); is its folder on PYTHONPATH?"
            ) from None
        except ValueError as err:  # a registration the registry refused
            raise ParamsError(f"extensions: {module}: {err}") from None


# --- generic, type-driven construction --------------------------------------------------


def _merge(base: dict, override: Mapping, where: str, apply: bool) -> None:
    """Deep-merge `override` into `base`; every override key must exist in `base`."""
    if not isinstance(override, Mapping):
        raise ParamsError(f"{where}: expected a mapping, got {type(override).__name__}")
    for key, value in override.items():
        if key not in base:
            raise ParamsError(f"{where}.{key}: unknown key (allowed: {sorted(base)})")
        if isinstance(value, Mapping) and isinstance(base[key], Mapping) and key not in WHOLE:
            _merge(base[key], value, f"{where}.{key}", apply)
        elif apply:
            base[key] = copy.deepcopy(value)


def _build(cls: type, raw: Any, where: str) -> Any:
    label = where or "params.yaml"
    if not isinstance(raw, Mapping):
        raise ParamsError(f"{label}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            raise ParamsError(f"{_join(where, key)}: unknown key (allowed: {names})")
    values = {}
    for name in names:
        key = _join(where, name)
        if name not in raw:
            raise ParamsError(f"{key}: missing")
        values[name] = _convert(hints[name], raw[name], key)
    obj = cls(**values)
    if hasattr(obj, "check"):
        obj.check(where)
    return obj


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is Literal:
        if value not in args:
            raise ParamsError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if origin in (types.UnionType, typing.Union):
        for option in args:
            try:
                return _convert(option, value, key)
            except ParamsError:
                continue
        raise ParamsError(f"{key}: {value!r} is none of {[a.__name__ for a in args]}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ParamsError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        return tuple(_convert(args[0], item, f"{key}[{i}]") for i, item in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise ParamsError(f"{key}: expected a mapping, got {type(value).__name__}")
        return types.MappingProxyType(
            {
                (_convert(float, k, f"{key} key {k!r}") if args[0] is float else k): _convert(
                    args[1], v, _join(key, k)
                )
                for k, v in value.items()
            }
        )
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint_e = ""
            if isinstance(value, str) and "e" in value.lower():
                hint_e = " (YAML reads an exponent without a sign as text: write 1.0e+4, 1.0e-6)"
            raise ParamsError(
                f"{key}: expected a number, got {type(value).__name__} {value!r}{hint_e}"
            )
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{key}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            kind = type(value).__name__
            raise ParamsError(f"{key}: expected true or false, got {kind} {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ParamsError(f"{key}: expected a string, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"params: no converter for {hint!r} at {key}")  # a bug, not a user error


def _distinct(values: tuple, key: str) -> None:
    """Each grid value once: a value listed twice would give two runs one id."""
    twice = sorted({v for v in values if values.count(v) > 1}, key=str)
    if twice:
        raise ParamsError(f"{key}: {', '.join(map(str, twice))} listed twice, got {list(values)}")


def _at_least(value: int, low: int, key: str) -> None:
    if value < low:
        raise ParamsError(f"{key}: must be >= {low}, got {value}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else str(key)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    return obj
