"""The benchmark: FLOPs against a hand count, and the whole bench at a tiny size."""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT, make_imagefolder_archive, raw_params

from bnpipe.bench import timing as bench
from bnpipe.data.prepare import prepare_cifar10
from bnpipe.models import build_model
from bnpipe.params import RunSpec, load_params
from bnpipe.report import bench_section


@pytest.mark.parametrize("variant", ["standard", "noisy_batchnorm"])
def test_flops_per_step_are_the_convolutions_and_the_linear_layer_counted_by_hand(variant):
    """Forward 2*B*H*W*Cin*Cout*9 per 3x3 conv (padding 1) and 2*B*in*out for the linear
    layer; backward twice that (input and weight gradients), except that the first
    conv's input needs no gradient. Normalization and noise add no FLOPs by this rule."""
    params = load_params(raw_params("smoke"))
    batch, hw, expected, first = params.train.batch_size, 32, 0, True
    for module in build_model(RunSpec("vgg", variant, 0.1, 0), params).modules():
        if isinstance(module, torch.nn.MaxPool2d):
            hw //= 2
        elif isinstance(module, torch.nn.Conv2d):
            forward = 2 * batch * hw * hw * module.in_channels * module.out_channels * 9
            expected += forward * (2 if first else 3)
            first = False
        elif isinstance(module, torch.nn.Linear):
            expected += 3 * 2 * batch * module.in_features * module.out_features
    cost = bench.step_cost(params, variant)
    assert cost["flops"] == expected
    assert cost["aten_ops"] > 100  # 13 conv blocks forward and backward, and the update


def test_gpu_names_map_to_their_datasheet_entries():
    # as torch.cuda.get_device_name reports them
    assert bench.datasheet_entry("NVIDIA H100 80GB HBM3") == "H100 SXM"
    assert bench.datasheet_entry("NVIDIA H100 PCIe") == "H100 PCIe"
    assert bench.datasheet_entry("NVIDIA H100 NVL") == "H100 NVL"
    assert bench.datasheet_entry("NVIDIA H200") == "H200"
    assert bench.datasheet_entry("NVIDIA A100-SXM4-80GB") == "A100"
    assert bench.datasheet_entry("NVIDIA GeForce RTX 4090") is None


def test_the_cpu_peak_names_its_source():
    peak = bench.device_peak("cpu", threads=2)
    assert peak["flops"] > 0 and "FLOP/cycle" in peak["source"]


def test_the_bench_runs_end_to_end_and_renders(tmp_path):
    make_imagefolder_archive(tmp_path / "a.tar.gz", n_per_class=30)
    params_file = ROOT / "params.yaml"
    params = load_params(raw_params("smoke"))
    prepare_cifar10(tmp_path / "a.tar.gz", tmp_path / "p.npz", params.data)
    result = bench.run_bench(
        params_file,
        "smoke",
        tmp_path / "p.npz",
        "cpu",
        steps=2,
        repeats=1,
        variants=("batchnorm",),
        jobs=(1, 2),
        window_s=1.0,
        projection_steps=1,
        progress=lambda _: None,
    )
    modes = {row["mode"]: row for row in result["training_step"]}
    assert modes["plain loop"]["ratio_to_plain"] == 1.0
    assert {"bnpipe default", "bnpipe channels_last + bf16"} <= set(modes)
    assert all(row["images_per_s"] > 0 and row["fraction_of_peak"] > 0 for row in modes.values())
    products = result["probe_cost"][0]["hessian_products"]
    assert len(products) == 3 and all(v["products"] >= 1 for v in products.values())
    # the pipeline's total counts training's lag record (2 of 3 snapshots have one)
    pipeline = {r["probe"]: r["train_steps"] for r in result["probe_cost"][0]["rows"]
                if r["method"] == "pipeline"}  # fmt: skip
    assert pipeline["lag_record"] > 0
    assert pipeline["all"] == pytest.approx(sum(v for k, v in pipeline.items() if k != "all"))
    assert [row["jobs"] for row in result["concurrent_jobs"]] == [1, 2]
    for row in result["concurrent_jobs"]:  # each worker timed the shared 1 s window
        for steps, rate in zip(row["steps_in_window"], row["per_job"], strict=True):
            assert 0.5 < steps / rate < 2.0
    projected = result["projection"]["scales"]
    assert result["projection"]["label"].startswith("PROJECTION")
    assert projected["paper"]["vgg_runs"] == 105 and projected["paper"]["h100_hours"] > 0
    page = bench_section.render(result)
    assert "PROJECTION" in page and "plain loop" in page and "lag_record" in page
    assert "make bench" in bench_section.render(None)


def test_a_ratio_comes_with_its_order_statistic_interval_from_six_blocks():
    """Known answer: 15 blocks' ratios give the 4th and 12th smallest (96.5% coverage);
    5 blocks give none. The report shows the interval beside the median."""
    ratios = [1.0 + k / 100 for k in (7, 3, 11, 0, 14, 5, 9, 1, 13, 6, 2, 12, 8, 4, 10)]
    interval = bench.ratio_interval(ratios)
    assert interval["lo"] == pytest.approx(1.03) and interval["hi"] == pytest.approx(1.11)
    assert interval["coverage"] == pytest.approx(1 - 2 * 576 / 2**15)
    assert bench.ratio_interval(ratios[:5]) is None
    row = {"ratio_to_plain": 1.07, "ratio_interval": interval}
    assert bench_section._ratio(row) == "1.07x [1.03, 1.11]"
    assert bench_section._ratio({"ratio_to_plain": 1.07, "ratio_interval": None}) == "1.07x"
