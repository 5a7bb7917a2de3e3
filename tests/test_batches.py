import numpy as np
import torch

from bnpipe.data.batches import channel_moments, derive_seed, probe_indices, train_batch_indices


def test_same_seed_and_step_give_the_same_batch():
    a = train_batch_indices(1000, 32, seed=3, step=17)
    train_batch_indices(1000, 32, seed=3, step=18)  # other calls in between change nothing
    assert torch.equal(a, train_batch_indices(1000, 32, seed=3, step=17))


def test_different_steps_and_seeds_differ():
    a = train_batch_indices(1000, 32, seed=3, step=17)
    assert not torch.equal(a, train_batch_indices(1000, 32, seed=3, step=18))
    assert not torch.equal(a, train_batch_indices(1000, 32, seed=4, step=17))


def test_an_epoch_visits_every_example_once():
    n, b = 100, 10
    epoch = torch.cat([train_batch_indices(n, b, seed=0, step=s) for s in range(n // b)])
    assert sorted(epoch.tolist()) == list(range(n))
    next_epoch = torch.cat([train_batch_indices(n, b, 0, s) for s in range(n // b, 2 * n // b)])
    assert not torch.equal(epoch, next_epoch)  # reshuffled


def test_seeds_depend_on_purpose_and_probe_batch_is_fixed():
    assert derive_seed(0, 5, "shuffle") != derive_seed(0, 5, "probe")
    assert derive_seed(0, 5, "shuffle") == derive_seed(0, 5, "shuffle")
    assert torch.equal(probe_indices(500, 64, seed=1), probe_indices(500, 64, seed=1))
    assert len(set(probe_indices(500, 64, seed=1).tolist())) == 64


def test_the_evaluated_training_subset_is_fixed_per_seed_sorted_and_all_when_zero():
    from bnpipe.data.batches import eval_train_indices

    subset = eval_train_indices(1000, 100, seed=0)
    assert len(subset) == 100 and len(set(subset.tolist())) == 100
    assert subset.tolist() == sorted(subset.tolist())  # read in order
    assert torch.equal(subset, eval_train_indices(1000, 100, seed=0))  # every evaluation
    assert not torch.equal(subset, eval_train_indices(1000, 100, seed=1))
    assert torch.equal(eval_train_indices(1000, 0, seed=0), torch.arange(1000))  # 0 = all
    assert torch.equal(eval_train_indices(50, 100, seed=0), torch.arange(50))


def test_snapshot_schedule_log_share_known_answers():
    from bnpipe.training.schedule import snapshot_steps

    # no log share: n evenly spaced steps
    assert snapshot_steps(100, 5, log_share=0.0) == [0, 25, 50, 75, 100]
    # the protocol's half and half (quick's VGG): 3 even interior steps 62.5 -> 62, 125,
    # 187.5 -> 188, and 3 log-spaced ones
    assert snapshot_steps(250, 8) == [0, 1, 4, 10, 62, 125, 188, 250]
    # cpu: 16 snapshots, log share 0.15: round(0.85 * 14) = 12 even interior steps
    # (k * 3000 / 13) and 2 log-spaced ones
    assert snapshot_steps(3000, 16, log_share=0.15) == [
        0, 1, 2, 231, 462, 692, 923, 1154, 1385, 1615, 1846, 2077, 2308, 2538, 2769, 3000
    ]  # fmt: skip


def test_channel_moments_equal_the_moments_of_an_fp64_copy():
    """Known answer: the fp64 mean and (n - 1) std of the images in [0, 1], per channel,
    here with channels of different spread (one constant: std 0)."""
    rng = np.random.default_rng(0)
    images = np.stack(
        [
            rng.integers(0, 256, (500, 8, 8), dtype=np.uint8),
            rng.integers(100, 120, (500, 8, 8), dtype=np.uint8),
            np.full((500, 8, 8), 7, dtype=np.uint8),
        ],
        axis=-1,
    )  # (N, H, W, 3)
    mean, std = channel_moments(images)
    x = torch.from_numpy(images).double() / 255
    torch.testing.assert_close(mean, x.mean((0, 1, 2)), rtol=1e-14, atol=0)
    torch.testing.assert_close(std, x.std((0, 1, 2)), rtol=1e-12, atol=1e-15)
    assert std[2] == 0 and mean[2] == 7 / 255


def test_a_batch_is_the_normalization_formula_written_out_bit_for_bit():
    """Known answer: (x[idx] / 255 - mean) / std in fp32, operation by operation, for
    repeated and unordered indices of both splits. Multiplying by 1/255 instead of
    dividing by 255 changes bits, and the test sees it."""
    from bnpipe.data.batches import DeviceData

    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (300, 32, 32, 3), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 300),
        "x_test": rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 50),
    }
    data = DeviceData(arrays)
    stored = data.x_train.clone()
    for split, n in (("train", 300), ("test", 50)):
        idx = torch.from_numpy(rng.integers(0, n, 128))  # repeats, any order
        x, y = data.batch(idx, split)
        images = torch.from_numpy(arrays[f"x_{split}"]).permute(0, 3, 1, 2)[idx].float()
        expected = (images / 255 - data.mean) / data.std
        assert x.dtype == torch.float32 and x.is_contiguous()
        assert torch.equal(x, expected)
        assert torch.equal(y, torch.from_numpy(arrays[f"y_{split}"]).long()[idx])
        assert not torch.equal(x, (images * (1 / 255) - data.mean) / data.std)  # teeth
    assert torch.equal(data.x_train, stored)  # the stored uint8 images are untouched
