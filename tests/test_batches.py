import torch

from bnpipe.data.batches import derive_seed, probe_indices, train_batch_indices


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
