"""The loader protocol distributed training builds on: rank / world_size shards, set_epoch, lengths.

Every test runs on each loader that implements the protocol (``LOADERS``): the DataFrame
path's ``TensorBatchLoader`` and the lean path's loader (``din_tutorial.samples``).
"""
from __future__ import annotations

import numpy as np
import pytest

from din_tutorial import TensorBatchLoader
from din_tutorial.data import shard_indices


def tensor_loader(n, **kw):
    """A loader over n samples whose 'sample' input is the sample's index."""
    x = {"sample": np.arange(n), "item_id": np.arange(n) % 7}
    return TensorBatchLoader(x, np.arange(n) % 2, **kw)


def lean_loader(n, **kw):
    """The lean loader over n samples: user profile column 'sample' holds each sample's index."""
    from din_tutorial.samples import SPLITS, LeanSamples

    arrays = {"log.item_id": np.arange(3, dtype=np.int32), "user.user_id": np.arange(n, dtype=np.int32),
              "user.sample": np.arange(n)}
    for split in SPLITS:
        arrays.update({f"{split}.user": np.arange(n, dtype=np.int32), f"{split}.target": np.arange(n) % 7,
                       f"{split}.label": (np.arange(n) % 2).astype(np.int8), f"{split}.start": np.zeros(n, np.int64),
                       f"{split}.len": np.zeros(n, np.int16)})
    manifest = {"columns": {"user": "user_id", "item": "item_id", "time": "timestamp", "item_attributes": [],
                            "user_level": ["sample"]}, "settings": {"max_len": 2}}
    return LeanSamples(arrays, manifest).loader("train", **kw)


LOADERS = {"tensor": tensor_loader, "lean": lean_loader}


def epoch_samples(dl):
    return np.concatenate([xb["sample"].numpy() for xb, _ in dl]) if len(dl) else np.array([], int)


@pytest.fixture(params=sorted(LOADERS))
def make(request):
    return LOADERS[request.param]


@pytest.mark.parametrize("n, world", [(10, 1), (10, 3), (11, 4), (7, 7), (1000, 8), (5, 2)])
@pytest.mark.parametrize("epoch", [0, 3])
def test_shuffled_shards_are_disjoint_cover_everything_and_have_equal_lengths(make, n, world, epoch):
    loaders = [make(n, batch_size=3, shuffle=True, seed=5, rank=r, world_size=world) for r in range(world)]
    for dl in loaders:
        dl.set_epoch(epoch)
    shards = [epoch_samples(dl) for dl in loaders]
    per_rank = -(-n // world)
    assert all(len(s) == per_rank for s in shards) and all(dl.n_samples == per_rank for dl in loaders)
    assert len({len(dl) for dl in loaders}) == 1  # the same number of steps on every rank
    assert all(dl.total_samples == n for dl in loaders)
    allv = np.concatenate(shards)
    assert set(allv.tolist()) == set(range(n))  # coverage
    assert len(allv) - len(set(allv.tolist())) == per_rank * world - n  # only the wrap-around padding repeats
    # the same as DistributedSampler's arithmetic on one shared permutation
    perm = np.concatenate([shards[r][None] for r in range(world)]).T.reshape(-1)
    assert sorted(perm[:n].tolist()) == list(range(n))


@pytest.mark.parametrize("n, world", [(10, 1), (10, 3), (11, 4), (3, 3), (1001, 8)])
def test_unshuffled_shards_are_contiguous_blocks_in_rank_order(make, n, world):
    loaders = [make(n, batch_size=4, shuffle=False, rank=r, world_size=world) for r in range(world)]
    shards = [epoch_samples(dl) for dl in loaders]
    assert np.concatenate(shards).tolist() == list(range(n))  # rank order gives the original order
    assert [len(s) for s in shards] == [len(b) for b in np.array_split(np.arange(n), world)]
    assert [dl.n_samples for dl in loaders] == [len(s) for s in shards]
    for s in shards:
        assert (np.diff(s) == 1).all()


def test_set_epoch_alone_decides_the_order(make):
    a = make(50, batch_size=8, shuffle=True, seed=3)
    b = make(50, batch_size=8, shuffle=True, seed=3)
    first = epoch_samples(a)
    assert (epoch_samples(a) == first).all()  # no hidden generator state: the same epoch repeats
    for _ in range(3):  # another loader iterated several times first gives no different order
        epoch_samples(b)
    assert (epoch_samples(b) == first).all()
    a.set_epoch(1)
    e1 = epoch_samples(a)
    assert not (e1 == first).all() and sorted(e1) == list(range(50))
    b.set_epoch(1)
    assert (epoch_samples(b) == e1).all()
    a.set_epoch(0)
    assert (epoch_samples(a) == first).all()
    # the trainer's seed overrides the loader's own
    c = make(50, batch_size=8, shuffle=True, seed=99)
    c.set_epoch(1, seed=3)
    assert (epoch_samples(c) == e1).all()
    c.set_epoch(1)  # without a seed: the loader's own again
    assert not (epoch_samples(c) == e1).all()


def test_order_does_not_depend_on_what_trained_before(make):
    """Issue 12 item 3: two models' loaders see the same batches in any order of training."""
    def run(dl, epochs):
        out = []
        for e in range(epochs):
            dl.set_epoch(e, seed=11)
            out.append([xb["sample"].tolist() for xb, _ in dl])
        return out
    a, b = make(40, batch_size=16, shuffle=True), make(40, batch_size=16, shuffle=True)
    first_a = run(a, 2)
    run(b, 5)  # b trains longer first
    assert run(a, 2) == first_a and run(b, 2) == first_a


def test_batches_hold_whole_rows_and_labels(make):
    dl = make(23, batch_size=5, shuffle=True, seed=1, rank=1, world_size=2)
    for xb, yb in dl:
        s = xb["sample"].numpy()
        assert (xb["item_id"].numpy() == s % 7).all() and (yb.numpy() == s % 2).all()
    assert set(dl.keys) >= {"sample", "item_id"}


def test_drop_last_keeps_equal_step_counts(make):
    loaders = [make(23, batch_size=4, shuffle=True, drop_last=True, rank=r, world_size=3) for r in range(3)]
    assert [len(dl) for dl in loaders] == [2, 2, 2]
    assert all(sum(1 for _ in dl) == 2 for dl in loaders)


@pytest.mark.parametrize("kw, match", [
    ({"rank": 2, "world_size": 2}, r"rank must be in 0 \.\. world_size - 1 = 1, got rank=2"),
    ({"rank": -1, "world_size": 2}, "rank must be an integer >= 0"),
    ({"world_size": 0}, "world_size must be an integer >= 1"),
    ({"world_size": 8, "rank": 0}, r"has 5 sample\(s\), fewer than world_size=8.*nproc_per_node"),
])
def test_bad_shard_arguments(make, kw, match):
    with pytest.raises(ValueError, match=match):
        make(5, batch_size=2, **kw)


def test_shard_indices_matches_distributed_sampler():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler

    n, world = 13, 4
    ours = [shard_indices(n, r, world, shuffle=True, seed=0, epoch=2) for r in range(world)]
    theirs = [list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False)) for r in range(world)]
    # same padding and striding rule: applied to the identity permutation they agree exactly
    identity = np.arange(n)
    padded = np.concatenate([identity, identity[: -n % world]])
    assert [padded[r::world].tolist() for r in range(world)] == theirs
    perm = np.random.default_rng(np.random.SeedSequence([0, 2])).permutation(n)
    padded = np.concatenate([perm, perm[: -n % world]])
    assert [o.tolist() for o in ours] == [padded[r::world].tolist() for r in range(world)]
    assert shard_indices(n, 1, world) == slice(4, 7)  # blocks 4, 3, 3, 3
    assert torch is not None


# ---------------------------------------------------------------- standard PyTorch parts (issue 18 item 4)
def test_loaders_are_dataloaders_whose_datasets_batch_by_index(make, monkeypatch):
    import torch
    from torch.utils.data import DataLoader, DistributedSampler

    dl = make(23, batch_size=5, shuffle=True, seed=1, rank=1, world_size=2)
    assert isinstance(dl, DataLoader) and isinstance(dl.sampler, DistributedSampler)
    assert (dl.sampler.rank, dl.sampler.num_replicas, dl.batch_size) == (1, 2, 5)
    calls = []
    getitems = type(dl.dataset).__getitems__
    monkeypatch.setattr(type(dl.dataset), "__getitems__", lambda self, idx: calls.append(list(idx)) or getitems(self, idx))
    batches = [xb["sample"].tolist() for xb, _ in dl]
    assert calls == batches  # one call per batch, with the batch's indices, as the DataLoader's fetcher makes it
    one, label = dl.dataset[4]  # map-style: one sample is a batch of one
    assert one["sample"].tolist() == [4] and label.tolist() == [0.0]
    assert len(dl.dataset) == 23 and isinstance(label, torch.Tensor)


def test_a_users_own_dataloader_with_distributed_sampler(make):
    """The dataset under torch's own DistributedSampler: shards cover the split, set_epoch reshuffles."""
    from torch.utils.data import DataLoader, DistributedSampler

    dataset = make(31, batch_size=4).dataset
    loaders = [DataLoader(dataset, batch_size=4, collate_fn=lambda b: b,
                          sampler=DistributedSampler(dataset, num_replicas=2, rank=r, shuffle=True, seed=7))
               for r in range(2)]
    first = [epoch_samples(dl) for dl in loaders]
    assert set(np.concatenate(first).tolist()) == set(range(31)) and len(first[0]) == len(first[1]) == 16
    for dl in loaders:
        dl.sampler.set_epoch(1)
    assert not all((a == b).all() for a, b in zip(first, (epoch_samples(dl) for dl in loaders)))


def test_worker_processes_give_the_same_batches(make):
    a = make(40, batch_size=6, shuffle=True, seed=2)
    b = make(40, batch_size=6, shuffle=True, seed=2, num_workers=2)
    for dl in (a, b):
        dl.set_epoch(3)
    assert [xb["sample"].tolist() for xb, _ in a] == [xb["sample"].tolist() for xb, _ in b]


def test_iterating_leaves_torchs_global_generator_alone(make):
    """A DataLoader draws its workers' base seed on every iter(); from its own generator, not torch's global one."""
    import torch

    torch.manual_seed(0)
    want = torch.rand(3)
    torch.manual_seed(0)
    for _ in make(20, batch_size=4, shuffle=True):
        pass
    assert torch.equal(torch.rand(3), want)  # dropout masks and initialisations after an epoch are unchanged
