"""The lean path (din_tutorial.samples): the same samples and batches as generate_seq_feature + df_to_dict.

Compared on random logs with ties, short and long histories, users with 2 and 3 behaviours,
every negative setting; then the folder format (memory maps, manifest, mismatch errors) and
the chunked CSV reader.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from din_tutorial import DataGenerator, TensorBatchLoader, df_to_dict, generate_seq_feature
from din_tutorial.data import DataPreparationWarning
from din_tutorial.samples import (
    FORMAT_VERSION,
    LeanBatchLoader,
    SamplesMismatchError,
    build_samples,
    open_samples,
    prepare_samples,
    prepare_samples_from_csv,
)

SPLITS = ("train", "val", "test")


def random_log(seed, n_users=25, n_items=60, n_rows=400):
    """Many ties (5 distinct times), users with 1, 2 and 3 behaviours, profile columns of several dtypes."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_rows)
    extra = np.array([n_users, n_users + 1, n_users + 1, n_users + 2, n_users + 2, n_users + 2])  # 1, 2, 3 rows
    users = np.r_[users, extra]
    log = pd.DataFrame({
        "user_id": users,
        "item_id": rng.integers(0, n_items, len(users)),
        "timestamp": rng.integers(0, 5, len(users)),
    })
    log["cate_id"] = log.item_id % 9
    log["brand"] = (log.item_id * 7) % 5
    log["gender"] = log.user_id % 2
    log["score"] = (log.user_id % 4) * 0.5  # a float profile column
    log["rating"] = rng.integers(1, 6, len(log))  # varies within a user: not carried
    return log


def frames_and_lean(log, **kw):
    kw = {"item_attribute_cols": ["cate_id", "brand"], **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        frames = generate_seq_feature(log, **kw)
        lean = build_samples(log, **kw)
    return frames, lean


CASES = [
    dict(max_len=3, neg_ratio=0),
    dict(max_len=3, neg_ratio=1, neg_sampling="uniform"),
    dict(max_len=50, neg_ratio=2, neg_sampling="popularity"),
    dict(max_len=1, neg_ratio=1, neg_sampling="popularity", shuffle=False),
    dict(max_len=8, neg_ratio=2, min_item=4),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_same_samples_as_generate_seq_feature(seed, case):
    log = random_log(seed)
    frames, lean = frames_and_lean(log, seed=seed + 10, **case)
    assert lean.keys == [k for k in df_to_dict(frames[0]) if k not in ("timestamp", "label")]
    assert "rating" not in lean.keys and "score" in lean.keys
    for split, frame in zip(SPLITS, frames):
        want = df_to_dict(frame)
        got = lean.gather(split, slice(0, lean.n_samples(split)))
        assert lean.n_samples(split) == len(frame) > 0
        for k, v in got.items():
            assert v.shape == want[k].shape and (v == want[k]).all(), (split, k)
        assert (lean.labels(split) == frame.label.to_numpy()).all()
    assert lean.n_samples("test") == log.user_id.value_counts().ge(max(case.get("min_item", 0), 2)).sum() * (
        1 + case["neg_ratio"])


@pytest.mark.parametrize("world", [1, 3])
def test_batches_equal_tensor_batch_loader_shuffled_and_sharded(world, tmp_path):
    log = random_log(7)
    frames, _ = frames_and_lean(log, max_len=6, neg_ratio=1, seed=3)
    lean = prepare_samples(log, tmp_path / "s", item_attribute_cols=["cate_id", "brand"], max_len=6, seed=3)
    for split, frame in zip(SPLITS, frames):
        x = df_to_dict(frame)
        for rank in range(world):
            kw = dict(batch_size=16, shuffle=split == "train", seed=5, rank=rank, world_size=world)
            a = TensorBatchLoader(x, frame.label.values, **kw)
            b = lean.loader(split, **kw)
            for epoch in (0, 2):
                a.set_epoch(epoch, seed=9)
                b.set_epoch(epoch, seed=9)
                assert (len(a), a.n_samples, a.total_samples) == (len(b), b.n_samples, b.total_samples)
                n = 0
                for (xa, ya), (xb, yb) in zip(a, b):
                    assert (ya == yb).all() and ya.dtype == yb.dtype
                    for k, v in xb.items():
                        assert v.dtype == xa[k].dtype and (v == xa[k]).all(), (split, k)
                    n += 1
                assert n == len(b)


def test_data_generator_loaders_and_lean_loaders_agree(tmp_path):
    log = random_log(3)
    frames, lean = frames_and_lean(log, max_len=4)
    xs = [df_to_dict(f) for f in frames]
    dfl = DataGenerator(xs[0], frames[0].label.values).generate_dataloader(
        xs[1], frames[1].label.values, xs[2], frames[2].label.values, batch_size=32, seed=2022)
    for a, b in zip(dfl, lean.loaders(batch_size=32, seed=2022)):
        assert a.shuffle == b.shuffle
        assert [yb.tolist() for _, yb in a] == [yb.tolist() for _, yb in b]


def test_shuffled_log_gives_the_same_folder_hash_and_samples():
    log = random_log(4)
    shuffled = log.sample(frac=1.0, random_state=0).reset_index(drop=True)
    _, a = frames_and_lean(log, max_len=5)
    _, b = frames_and_lean(shuffled, max_len=5)
    assert a.manifest["log_sha256"] == b.manifest["log_sha256"]
    for k in a.arrays:
        assert (a.arrays[k] == b.arrays[k]).all(), k
    changed = log.assign(item_id=log.item_id.where(log.index != 5, 59))
    _, c = frames_and_lean(changed.assign(cate_id=changed.item_id % 9, brand=(changed.item_id * 7) % 5), max_len=5)
    assert c.manifest["log_sha256"] != a.manifest["log_sha256"]


def test_folder_round_trip_is_memory_mapped_and_compact(tmp_path):
    log = random_log(5)
    _, mem = frames_and_lean(log, max_len=5)
    opened = prepare_samples(log, tmp_path / "s", item_attribute_cols=["cate_id", "brand"], max_len=5)
    assert set(opened.arrays) == set(mem.arrays)
    for k, v in opened.arrays.items():
        assert isinstance(v, np.memmap) and not v.flags.writeable, k
        assert v.dtype == mem.arrays[k].dtype and (v == mem.arrays[k]).all(), k
    assert opened.arrays["log.item_id"].dtype == np.int32 and opened.arrays["train.label"].dtype == np.int8
    assert opened.arrays["train.len"].dtype == np.int16
    max_len = opened.max_len  # the log columns end with max_len PAD_IDs, so every history is one window
    assert len(opened.arrays["log.item_id"]) == len(log) + max_len and (opened.arrays["log.item_id"][-max_len:] == -1).all()
    assert len(opened.arrays["user.gender"]) == log.user_id.nunique()
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert m["format_version"] == FORMAT_VERSION and m["settings"]["max_len"] == 5
    assert m["counts"]["interactions"] == len(log) and m["vocab"]["item_id"] == log.item_id.max() + 1
    again = open_samples(tmp_path / "s", max_len=5, neg_ratio=1, item_attribute_cols=["cate_id", "brand"],
                         log_sha256=m["log_sha256"])
    assert again.n_samples("train") == mem.n_samples("train")


def test_opening_with_other_settings_or_versions_names_what_differs(tmp_path):
    log = random_log(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        prepare_samples(log, tmp_path / "s", max_len=5, neg_ratio=1)
    with pytest.raises(SamplesMismatchError, match=r"max_len: folder 5, asked 20; neg_sampling: folder 'uniform', "
                                                   r"asked 'popularity'.*Prepare it again"):
        open_samples(tmp_path / "s", max_len=20, neg_sampling="popularity", neg_ratio=1)
    with pytest.raises(TypeError, match="unknown setting 'maxlen'"):
        open_samples(tmp_path / "s", maxlen=5)
    path = tmp_path / "s" / "manifest.json"
    m = json.loads(path.read_text())
    path.write_text(json.dumps({**m, "format_version": 99, "package_version": "0.0.1"}))
    with pytest.raises(SamplesMismatchError, match=rf"format_version: folder 99, this package reads {FORMAT_VERSION};"
                                                   r" package_version: folder made by din-tutorial '0.0.1'"):
        open_samples(tmp_path / "s")
    path.write_text(json.dumps(m))
    np.save(tmp_path / "s" / "train.label.npy", np.zeros(3, np.int8))
    with pytest.raises(SamplesMismatchError, match="train.label.npy holds .* the folder is damaged"):
        open_samples(tmp_path / "s")
    with pytest.raises(FileNotFoundError, match="holds no manifest.json: prepare it first"):
        open_samples(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not a prepared-samples folder"):
        prepare_samples(log, tmp_path / "other")


def relabelled(log, shift):
    """The same users, rows and times with other item ids: every array keeps its shape, most values change."""
    items = (log.item_id * 7 + shift) % 60
    return log.assign(item_id=items, cate_id=items % 9, brand=(items * 7) % 5)


def test_re_preparing_never_changes_what_a_reader_has_mapped(tmp_path):
    kw = dict(item_attribute_cols=["cate_id", "brand"], max_len=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        reader = prepare_samples(random_log(11), tmp_path / "s", **kw)  # e.g. another rank, mid-epoch
        before = {k: np.array(v) for k, v in reader.arrays.items()}
        again = prepare_samples(relabelled(random_log(11), 3), tmp_path / "s", **kw)
    assert {k: v.shape for k, v in again.arrays.items()} == {k: v.shape for k, v in before.items()}
    assert not (again.arrays["log.item_id"] == before["log.item_id"]).all()  # the folder holds the new log ...
    for k, v in reader.arrays.items():  # ... and the reader's maps still the old one, not new values under old
        assert (v == before[k]).all(), k
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary folder left beside it


@pytest.mark.parametrize("fail_at", ["third array", "manifest", "rename into place"])
def test_a_failed_re_preparation_leaves_the_old_folder_intact(tmp_path, monkeypatch, fail_at):
    import din_tutorial.samples as S

    kw = dict(item_attribute_cols=["cate_id", "brand"], max_len=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        old = prepare_samples(random_log(12), tmp_path / "s", **kw)
    before = {k: np.array(v) for k, v in old.arrays.items()}
    manifest = (tmp_path / "s" / "manifest.json").read_text()
    del old
    calls = []
    real_save, real_rename, real_write = np.save, S.os.rename, S.Path.write_text

    def save(*a, **k):
        calls.append(1)
        if fail_at == "third array" and len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_save(*a, **k)

    def write_text(self, *a, **k):
        if fail_at == "manifest" and self.name == "manifest.json":
            raise OSError(28, "No space left on device")
        return real_write(self, *a, **k)

    def rename(src, dst):
        if fail_at == "rename into place" and ".new-" in str(src):
            raise OSError(18, "Invalid cross-device link")
        return real_rename(src, dst)

    monkeypatch.setattr(S.np, "save", save)
    monkeypatch.setattr(S.Path, "write_text", write_text)
    monkeypatch.setattr(S.os, "rename", rename)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        with pytest.raises(OSError):
            prepare_samples(relabelled(random_log(12), 5), tmp_path / "s", **kw)
    monkeypatch.undo()
    assert (tmp_path / "s" / "manifest.json").read_text() == manifest
    reopened = open_samples(tmp_path / "s")
    assert set(reopened.arrays) == set(before)
    for k, v in reopened.arrays.items():
        assert (v == before[k]).all(), k
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # the half-written folder was removed


def test_preparing_into_a_file_names_the_path(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        prepare_samples(random_log(13), tmp_path / "f")


def test_target_counts_give_the_popularity_baseline_without_gathering_histories(monkeypatch):
    from din_tutorial.pipeline import _popularity

    log = random_log(14)
    _, lean = frames_and_lean(log, max_len=5, neg_ratio=2)
    n_train, n_test = lean.n_samples("train"), lean.n_samples("test")
    # the main job's former baseline: every training history gathered (in chunks) to read the target ids
    train_items = np.concatenate([lean.gather("train", slice(i, i + 100))["item_id"] for i in range(0, n_train, 100)])
    test_items = lean.gather("test", slice(0, n_test))["item_id"]
    old = _popularity(train_items, np.asarray(lean.labels("train")), test_items)
    gathered = []
    monkeypatch.setattr(type(lean), "gather", lambda self, split, rows: gathered.append(split))
    counts = lean.target_counts("train", block=7)  # several blocks
    assert gathered == [] and counts.dtype == np.int64 and len(counts) == log.item_id.max() + 1
    assert (counts[test_items].astype(np.float64) == old).all()
    assert counts.sum() == (lean.labels("train") == 1).sum()
    assert (lean.target_counts("val", label=0) == np.bincount(
        np.asarray(lean.arrays["val.target"])[lean.labels("val") == 0], minlength=len(counts))).all()


def test_lean_loader_rejects_bad_labels_and_shards():
    log = random_log(8)
    _, lean = frames_and_lean(log, max_len=4)
    lean.arrays["val.label"] = lean.arrays["val.label"].copy()
    lean.arrays["val.label"][3] = 2
    with pytest.raises(ValueError, match=r"1 label\(s\) outside \{0, 1\} \(first at row 3: 2\)"):
        lean.loader("val")
    n = lean.n_samples("test")
    with pytest.raises(ValueError, match=rf"test split has {n} sample\(s\), fewer than world_size={n + 1}"):
        lean.loader("test", rank=0, world_size=n + 1)
    with pytest.raises(ValueError, match="split must be one of"):
        lean.loader("valid")
    assert isinstance(lean.loader("train"), LeanBatchLoader) and lean.loader("train").shuffle


def test_non_numeric_profile_columns_are_left_out_with_a_warning():
    log = random_log(9).assign(city=lambda d: (d.user_id % 3).map({0: "a", 1: "b", 2: "c"}))
    with pytest.warns(DataPreparationWarning, match=r"\['city'\] are not numeric"):
        lean = build_samples(log, max_len=4)
    assert "city" not in lean.keys and "gender" in lean.keys
    with pytest.raises(ValueError, match=r"user_columns \['rating'\] vary within a user"):
        build_samples(log, max_len=4, user_columns=["gender", "rating"])


@pytest.mark.parametrize("time_kind", ["int", "datetime"])
def test_csv_in_chunks_gives_the_same_samples(tmp_path, time_kind):
    log = random_log(10).drop(columns=["rating", "score"])
    if time_kind == "datetime":
        log["timestamp"] = pd.to_datetime(log.timestamp, unit="D")
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    kw = dict(item_attribute_cols=["cate_id", "brand"], max_len=4, neg_ratio=2, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        from_csv = prepare_samples_from_csv(path, tmp_path / "s", user_columns=["gender"], chunksize=37, **kw)
        from_frame = build_samples(log, **kw)
    assert from_csv.keys == from_frame.keys
    for k, v in from_frame.arrays.items():
        assert (from_csv.arrays[k] == v).all(), k
    assert from_csv.manifest["log_sha256"] == from_frame.manifest["log_sha256"]
    with pytest.raises(KeyError, match=r"\['age'\] not found in"):
        prepare_samples_from_csv(path, tmp_path / "t", user_columns=["age"])
