"""Where outputs live, and whether snapshots are kept once probed."""

from __future__ import annotations

import pytest
from conftest import raw_params

from bnpipe.params import load_params
from bnpipe.training import schedule

VGG16_PARAMETERS = 14_719_818  # 13 convs (14,714,688 with biases) + linear 512 -> 10 (5,130)


def test_snapshot_bytes_are_parameter_counts_times_four_bytes_times_snapshots():
    raw = raw_params("paper")
    raw["grid"].update(models=["vgg"], variants=["standard"], lrs={"vgg": [0.1], "dln": []})
    raw["grid"]["seeds"]["vgg"] = [0]
    params = load_params(raw)
    assert schedule.snapshot_bytes(params) == 32 * VGG16_PARAMETERS * 4  # 1.88 GB


@pytest.mark.parametrize(
    ("scale", "kept"), [("paper", False), ("cpu", True), ("quick", True), ("smoke", True)]
)
def test_auto_keeps_snapshots_unless_they_would_be_big(scale, kept):
    params = load_params(raw_params(scale))
    assert schedule.keep_snapshots(params) is kept
    assert schedule.keep_snapshots(params, "true") and not schedule.keep_snapshots(params, False)
    with pytest.raises(ValueError, match="keep_snapshots: 'maybe'"):
        schedule.keep_snapshots(params, "maybe")


def test_the_paper_scale_would_take_about_200_gb_of_snapshots():
    assert 190e9 < schedule.snapshot_bytes(load_params(raw_params("paper"))) < 210e9
