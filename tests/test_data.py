"""generate_seq_feature, df_to_dict and DataGenerator: the split, leakage, negatives, padding, loaders."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from din_tutorial import PAD_ID, DataGenerator, TensorBatchLoader, df_to_dict, generate_seq_feature
from din_tutorial.data import DataPreparationWarning, splitmix64, tie_key
from din_tutorial.samples import build_samples


def make_log(n_users=30, n_items=40, n_rows=400, seed=0, distinct_times=True):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_rows)
    items = rng.integers(0, n_items, n_rows)
    times = rng.permutation(n_rows) * 10 if distinct_times else rng.integers(0, 5, n_rows)
    log = pd.DataFrame({"user_id": users, "item_id": items, "timestamp": times})
    log["cate_id"] = log["item_id"] % 7
    log["gender"] = log["user_id"] % 2
    log["age"] = log["user_id"] % 5
    return log


def timelines(log):
    """user -> list of (time, item) sorted by time, computed the slow, obvious way."""
    out = {}
    for row in log.sort_values(["user_id", "timestamp"], kind="stable").itertuples():
        out.setdefault(row.user_id, []).append((row.timestamp, row.item_id))
    return out


def seq(row, col="hist_item_id"):
    h = np.asarray(row[col])
    return [int(v) for v in h if v != PAD_ID]


def test_seed_call_returns_three_frames_with_expected_columns():
    log = make_log()
    train, val, test = generate_seq_feature(
        data=log, user_col="user_id", item_col="item_id", time_col="timestamp",
        item_attribute_cols=["cate_id"], min_item=0, shuffle=True,
    )
    for frame in (train, val, test):
        for col in ["user_id", "item_id", "cate_id", "hist_item_id", "hist_cate_id", "label", "gender", "age"]:
            assert col in frame.columns, col
        assert set(frame["label"].unique()) <= {0, 1}
        assert (frame["label"] == 1).sum() == (frame["label"] == 0).sum()  # neg_ratio=1
    # every kept user with >= 3 behaviours has one validation and one test positive
    counts = log.groupby("user_id").size()
    assert set(test.loc[test.label == 1, "user_id"]) == set(counts[counts >= 2].index)
    assert set(val.loc[val.label == 1, "user_id"]) == set(counts[counts >= 3].index)


def test_histories_are_exactly_the_earlier_behaviours_and_targets_leave_one_out():
    log = make_log(n_users=20, n_rows=300)
    train, val, test = generate_seq_feature(log, item_attribute_cols=["cate_id"], max_len=50, shuffle=False)
    tl = timelines(log)
    for split, frame in (("train", train), ("val", val), ("test", test)):
        for _, row in frame[frame.label == 1].iterrows():
            events = tl[row.user_id]
            t = [e[0] for e in events].index(row.timestamp)
            assert events[t][1] == row.item_id
            assert seq(row) == [e[1] for e in events[:t]][-50:]
            assert row.hist_len == min(t, 50)
            n = len(events)
            expected = "test" if t == n - 1 else "val" if t == n - 2 else "train"
            assert split == expected
            # category history matches the item history item by item
            assert seq(row, "hist_cate_id") == [i % 7 for i in seq(row)]


@settings(max_examples=25, deadline=None)
@given(
    n_users=st.integers(1, 8),
    n_items=st.integers(3, 30),
    n_rows=st.integers(2, 120),
    max_len=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_no_leakage_property(n_users, n_items, n_rows, max_len, seed):
    """Over random logs: a history holds only behaviours strictly before its target."""
    log = make_log(n_users=n_users, n_items=n_items, n_rows=n_rows, seed=seed)
    if log.groupby("user_id").size().max() < 2:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        if (log.groupby("user_id").item_id.nunique() == log.item_id.nunique()).any():
            with pytest.raises(ValueError, match="interacted with every item"):
                generate_seq_feature(log, max_len=max_len, neg_ratio=1, seed=seed)
            frames = generate_seq_feature(log, max_len=max_len, neg_ratio=0, seed=seed)
        else:
            frames = generate_seq_feature(log, max_len=max_len, neg_ratio=1, seed=seed)
    time_of = {(r.user_id, r.item_id, r.timestamp) for r in log.itertuples()}
    user_times = log.groupby("user_id")["timestamp"].apply(sorted).to_dict()
    for frame in frames:
        for row in frame.itertuples():
            earlier = [t for t in user_times[row.user_id] if t < row.timestamp]
            # the most recent behaviours strictly before the target, and only those
            items_before = log[(log.user_id == row.user_id) & (log.timestamp < row.timestamp)]
            expected = items_before.sort_values("timestamp")["item_id"].tolist()[-max_len:]
            assert [int(v) for v in row.hist_item_id if v != PAD_ID] == expected
            assert row.hist_len == min(len(earlier), max_len)
            if row.label == 1:
                assert (row.user_id, row.item_id, row.timestamp) in time_of


def test_negatives_are_never_items_of_the_same_user_and_carry_their_own_attributes():
    log = make_log(n_users=25, n_items=30, n_rows=500)  # dense: many collisions to reject
    for sampling in ("uniform", "popularity"):
        frames = generate_seq_feature(log, item_attribute_cols=["cate_id"], neg_ratio=3, neg_sampling=sampling)
        seen = log.groupby("user_id")["item_id"].apply(set).to_dict()
        for frame in frames:
            neg = frame[frame.label == 0]
            assert len(neg) == 3 * (frame.label == 1).sum()
            assert all(item not in seen[u] for u, item in zip(neg.user_id, neg.item_id))
            assert (neg.cate_id == neg.item_id % 7).all()


def test_negatives_share_the_history_of_their_positive():
    log = make_log()
    train, _, _ = generate_seq_feature(log, shuffle=False, neg_ratio=2)
    h = np.stack(train.hist_item_id.to_numpy())
    assert (h[1::3] == h[0::3]).all() and (h[2::3] == h[0::3]).all()
    assert (train.label.to_numpy()[0::3] == 1).all()


def test_popularity_sampling_prefers_popular_items():
    rng = np.random.default_rng(1)
    items = np.r_[np.zeros(3000, int), rng.integers(1, 200, 3000)]  # item 0 is very popular
    users = rng.integers(0, 500, items.size)
    log = pd.DataFrame({"user_id": users, "item_id": items, "timestamp": rng.permutation(items.size)})
    log = log[~((log.item_id == 0) & (log.user_id < 250))]  # half the users never saw item 0
    uni, _, _ = generate_seq_feature(log, neg_sampling="uniform", seed=3)
    pop, _, _ = generate_seq_feature(log, neg_sampling="popularity", seed=3)
    share = lambda f: (f[f.label == 0].item_id == 0).mean()  # noqa: E731
    assert share(pop) > 10 * share(uni)


def test_padding_truncation_and_long_users_keep_val_and_test():
    # one user with 120 behaviours (more than max_len), one with 4
    log = pd.DataFrame({
        "user_id": [0] * 120 + [1] * 4,
        "item_id": list(range(120)) + [5, 6, 7, 8],
        "timestamp": list(range(120)) + [1, 2, 3, 4],
    })
    train, val, test = generate_seq_feature(log, max_len=50, neg_ratio=0)
    t0 = test[test.user_id == 0].iloc[0]
    assert t0.item_id == 119 and list(t0.hist_item_id) == list(range(69, 119))  # the most recent 50
    v0 = val[val.user_id == 0].iloc[0]
    assert v0.item_id == 118 and v0.hist_len == 50
    t1 = test[test.user_id == 1].iloc[0]
    assert list(t1.hist_item_id) == [5, 6, 7] + [PAD_ID] * 47  # real steps first, then padding
    assert len(train) == 117 + 1  # targets t = 1 .. n-3 of each user


def test_item_zero_is_a_real_item_not_padding():
    log = pd.DataFrame({"user_id": [0, 0, 0, 0], "item_id": [0, 3, 0, 2], "timestamp": [1, 2, 3, 4]})
    _, _, test = generate_seq_feature(log, neg_ratio=0, max_len=5)
    assert list(test.iloc[0].hist_item_id) == [0, 3, 0, PAD_ID, PAD_ID]
    assert test.iloc[0].hist_len == 3


def test_determinism_and_seed():
    log = make_log()
    a = generate_seq_feature(log, item_attribute_cols=["cate_id"], seed=7)
    b = generate_seq_feature(log, item_attribute_cols=["cate_id"], seed=7)
    c = generate_seq_feature(log, item_attribute_cols=["cate_id"], seed=8)
    for fa, fb in zip(a, b):
        pd.testing.assert_frame_equal(fa, fb)
    assert not a[0].item_id.equals(c[0].item_id)


def test_datetime_time_column_and_ties_ordered_by_tie_key():
    log = pd.DataFrame({
        "user_id": [0, 0, 0, 0],
        "item_id": [9, 5, 4, 6],
        "timestamp": pd.to_datetime(["2020-01-02", "2020-01-01", "2020-01-02", "2020-01-03"]),
    })
    # 2020-01-02 holds items 9 and 4: the rule orders them by tie_key(user, item), not by id or row
    first, second = sorted([9, 4], key=lambda i: int(tie_key(0, i)))
    _, val, test = generate_seq_feature(log, neg_ratio=0)
    assert val.iloc[0].item_id == second and seq(val.iloc[0]) == [5, first]
    assert test.iloc[0].item_id == 6 and seq(test.iloc[0]) == [5, first, second]


def test_tie_key_is_splitmix64_of_user_and_item():
    # SplitMix64 from seed 0 outputs 0xE220A8397B1DCDAF first (Steele, Lea and Flood 2014; Vigna's splitmix64.c)
    assert int(splitmix64(0)) == 0xE220A8397B1DCDAF
    users, items = np.array([0, 0, 7, 2**40]), np.array([3, 4, 3, 2**33])
    want = [int(splitmix64(int(splitmix64(int(u))) ^ int(i))) for u, i in zip(users, items)]
    assert tie_key(users, items).tolist() == want and tie_key(users, items).dtype == np.uint64
    # one user's items never share a key (both mixes are bijections), so the order of ties is total
    assert np.unique(tie_key(np.full(100_000, 5), np.arange(100_000))).size == 100_000


def popular_against_rare_ties(n_users=2000, seed=0):
    """Each user: 3 behaviours at distinct times, then two at one time: a popular item and a rare one.

    The popular items have the smallest ids (0 .. 9, each in about 200 users' ties) and the rare
    ones the largest (1000 + user: one user each), as in a catalogue numbered in order of arrival,
    so ordering ties by item id would always make the rare item the last behaviour: the test target.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for t, item in enumerate(rng.choice(np.arange(100, 1000), 3, replace=False)):
            rows.append((u, int(item), t))
        rows.append((u, int(rng.integers(0, 10)), 10))
        rows.append((u, 1000 + u, 10))
    log = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return log.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # row order means nothing


def test_tied_targets_are_not_chosen_by_item_id_so_not_biased_to_rare_items():
    log = popular_against_rare_ties()
    popularity = log.item_id.value_counts()
    _, val, test = generate_seq_feature(log, neg_ratio=0)
    tied = log[log.timestamp == 10]
    more_popular = tied.loc[tied.item_id.map(popularity).groupby(tied.user_id).idxmax(), ["user_id", "item_id"]]
    more_popular = more_popular.set_index("user_id").item_id
    assert (popularity[more_popular] > 100).all() and len(more_popular) == 2000
    test_is_popular = test.set_index("user_id").item_id == more_popular
    share = test_is_popular.mean()
    # The hash picks either item of a tie: the share is Binomial(2000, 1/2) / 2000, whose standard
    # deviation is 0.011, so 0.5 +- 0.1 is nine of them. Ordered by item id it would be exactly 0.
    assert abs(share - 0.5) < 0.1, share
    # ... and the other tied behaviour is the validation target
    val_is_popular = val.set_index("user_id").item_id == more_popular
    assert val_is_popular.index.equals(test_is_popular.index) and (val_is_popular != test_is_popular).all()
    # the same rule for every row order, and on the lean path
    again = generate_seq_feature(log.sample(frac=1.0, random_state=1), neg_ratio=0)[2]
    pd.testing.assert_frame_equal(df_to_frame(test), df_to_frame(again))
    lean = build_samples(log, neg_ratio=0)
    assert (lean.gather("test", slice(0, 2000))["item_id"] == test.item_id.to_numpy()).all()


def tied_log(seed, n_users=12, n_items=15, n_rows=150):
    """A log with many ties: 3 distinct times, repeated (user, item) pairs, a profile column."""
    rng = np.random.default_rng(seed)
    log = pd.DataFrame({
        "user_id": rng.integers(0, n_users, n_rows),
        "item_id": rng.integers(0, n_items, n_rows),
        "timestamp": rng.integers(0, 3, n_rows),
    })
    log["cate_id"] = log.item_id % 4
    log["age"] = log.user_id % 3
    return log


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("neg_ratio", [0, 2])
def test_shuffled_log_gives_the_same_samples(seed, neg_ratio):
    log = tied_log(seed)
    shuffled = log.sample(frac=1.0, random_state=seed + 100).reset_index(drop=True)
    assert not shuffled.equals(log)
    kw = dict(item_attribute_cols=["cate_id"], max_len=4, neg_ratio=neg_ratio, seed=seed, shuffle=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        a = generate_seq_feature(log, **kw)
        b = generate_seq_feature(shuffled, **kw)
    for fa, fb in zip(a, b):
        assert len(fa) > 0
        pd.testing.assert_frame_equal(df_to_frame(fa), df_to_frame(fb))


def df_to_frame(frame):
    """Frames with array cells compared as plain columns (assert_frame_equal compares arrays poorly)."""
    x = df_to_dict(frame)
    return pd.DataFrame({k: list(map(tuple, v)) if v.ndim == 2 else v for k, v in x.items()})


def test_datetime_columns_go_through_df_to_dict_and_the_loaders():
    log = make_log(n_users=10, n_rows=120)
    log["timestamp"] = pd.to_datetime(log.timestamp, unit="s")
    log["signup"] = pd.to_datetime(log.user_id, unit="D", utc=True)  # a user-level, time-zone aware column
    train, val, test = generate_seq_feature(log, item_attribute_cols=["cate_id"])
    x = df_to_dict(train)
    assert x["timestamp"].dtype == np.int64 and x["signup"].dtype == np.int64
    want = train.timestamp.to_numpy().astype("datetime64[ns]").astype(np.int64)
    assert (x["timestamp"] == want).all()
    assert (x["signup"] == train.user_id.to_numpy() * 86_400 * 10**9).all()  # UTC nanoseconds
    train_dl, val_dl, _ = DataGenerator(x, train.label.values).generate_dataloader(
        x_val=df_to_dict(val), y_val=val.label.values, batch_size=32)
    xb, _ = next(iter(val_dl))
    assert (xb["timestamp"].numpy() == df_to_dict(val)["timestamp"][:32]).all()
    # a dict built by hand with a datetime64 array gets the same conversion
    dl = TensorBatchLoader({"t": np.array(["1970-01-02"], dtype="datetime64[s]")}, [1])
    assert next(iter(dl))[0]["t"].tolist() == [86_400 * 10**9]


@pytest.mark.parametrize("labels, count, first", [
    ([0, 1, np.nan, 1, np.nan], 2, r"row 2: nan"),
    ([0, 1, 2, 1], 1, r"row 2: 2"),
    ([-1, 1, 0, 1], 1, r"row 0: -1"),
    ([0.5, 1, 0, 1], 1, r"row 0: 0.5"),
])
def test_labels_outside_0_1_are_rejected_with_count_and_first_row(labels, count, first):
    x = {"item_id": np.arange(len(labels))}
    msg = rf"{count} label\(s\) outside \{{0, 1\}} \(first at {first}"
    with pytest.raises(ValueError, match=msg):
        DataGenerator(x, labels)
    with pytest.raises(ValueError, match=msg):
        TensorBatchLoader(x, labels)
    with pytest.raises(ValueError, match="numeric labels"):
        TensorBatchLoader(x, np.array(["a"] * len(labels)))
    ok = TensorBatchLoader(x, [True, False] * (len(labels) // 2) + [True] * (len(labels) % 2))
    assert ok.y.dtype.is_floating_point


def test_user_level_columns_are_carried_and_varying_ones_are_not():
    log = make_log()
    log["rating"] = np.arange(len(log)) % 5
    train, _, _ = generate_seq_feature(log)
    assert {"gender", "age"} <= set(train.columns) and "rating" not in train.columns
    assert (train.gender == train.user_id % 2).all()


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.drop(columns=["timestamp"]), r"\['timestamp'\] not found"),
        (lambda d: d.assign(item_id=d.item_id.astype(float).where(d.index != 3)), "'item_id' has 1 missing"),
        (lambda d: d.assign(item_id=d.item_id + 0.5), "'item_id' holds non-integer"),
        (lambda d: d.assign(user_id=d.user_id - 5), "'user_id' has negative ids"),
        (lambda d: d.assign(item_id=d.item_id.astype(str)), "'item_id' must hold integer ids"),
        (lambda d: d.assign(timestamp=d.timestamp.astype(str)), "time column 'timestamp' must be numeric"),
        (lambda d: d.iloc[:0], "data is empty"),
        (lambda d: d.assign(cate_id=np.arange(len(d))), "'cate_id' is not a function of 'item_id'"),
    ],
)
def test_bad_input_names_the_column_and_the_fix(mutate, match):
    log = mutate(make_log())
    with pytest.raises((ValueError, KeyError), match=match):
        generate_seq_feature(log, item_attribute_cols=["cate_id"])


def test_bad_arguments():
    log = make_log()
    with pytest.raises(ValueError, match="max_len"):
        generate_seq_feature(log, max_len=0)
    with pytest.raises(ValueError, match="neg_sampling"):
        generate_seq_feature(log, neg_sampling="hard")
    with pytest.raises(TypeError, match="DataFrame"):
        generate_seq_feature(log.to_dict())


def test_small_users_are_dropped_with_a_count():
    log = make_log()
    counts = log.groupby("user_id").size()
    with pytest.warns(DataPreparationWarning, match=rf"{(counts < 15).sum()} user\(s\) with fewer than 15"):
        train, val, test = generate_seq_feature(log, min_item=15)
    assert set(test.user_id) == set(counts[counts >= 15].index)


def test_df_to_dict_and_data_generator_cover_every_sample_once():
    log = make_log()
    train, val, test = generate_seq_feature(log, item_attribute_cols=["cate_id"], max_len=12)
    x = df_to_dict(train)
    assert x["hist_item_id"].shape == (len(train), 12) and x["hist_item_id"].dtype == np.int64
    dg = DataGenerator(x, train["label"].values)
    train_dl, val_dl, test_dl = dg.generate_dataloader(
        x_val=df_to_dict(val), y_val=val["label"].values, x_test=df_to_dict(test), y_test=test["label"].values,
        batch_size=64,
    )
    assert len(train_dl) == -(-len(train) // 64)
    seen = []
    for xb, yb in train_dl:
        assert xb["hist_item_id"].dtype.is_floating_point is False and yb.dtype.is_floating_point
        assert xb["hist_item_id"].shape[1] == 12
        seen.append(xb["user_id"].numpy() * 10**6 + xb["item_id"].numpy() * 10 + yb.numpy().astype(int))
    got = np.sort(np.concatenate(seen))
    want = np.sort(train.user_id.to_numpy() * 10**6 + train.item_id.to_numpy() * 10 + train.label.to_numpy())
    assert (got == want).all()
    first_epoch = next(iter(train_dl))[0]["item_id"]
    assert (next(iter(train_dl))[0]["item_id"] == first_epoch).all()  # no hidden state: same epoch, same order
    train_dl.set_epoch(1)
    second_epoch = next(iter(train_dl))[0]["item_id"]
    assert not (first_epoch == second_epoch).all()  # a new epoch reshuffles
    xb, yb = next(iter(test_dl))
    assert (xb["item_id"].numpy() == test.item_id.to_numpy()[:64]).all()  # evaluation keeps order


def test_data_generator_split_ratio_and_errors():
    x = {"a": np.arange(100), "b": np.arange(100) * 1.5}
    tr, va, te = DataGenerator(x, np.arange(100) % 2).generate_dataloader(split_ratio=(0.8, 0.1), batch_size=32)
    assert (tr.n_samples, va.n_samples, te.n_samples) == (80, 10, 10)
    with pytest.raises(ValueError, match="y has 3 labels but x has 100 rows"):
        DataGenerator(x, [1, 0, 1])
    with pytest.raises(ValueError, match="split_ratio"):
        DataGenerator(x, np.arange(100) % 2).generate_dataloader()
    with pytest.raises(TypeError, match="input 's' has dtype"):
        DataGenerator({"s": np.array(["a", "b"], dtype=object)}, [0, 1]).generate_dataloader(split_ratio=(0.5, 0.5))


def test_df_to_dict_stacks_user_built_sequences_and_names_a_ragged_column():
    # lists of python ints (a frame a learner builds by hand) become one int64 matrix, row order kept
    frame = pd.DataFrame({"user_id": [3, 1], "hist_item_id": [[5, 6, PAD_ID], [7, PAD_ID, PAD_ID]]})
    x = df_to_dict(frame)
    assert x["hist_item_id"].dtype == np.int64
    assert x["hist_item_id"].tolist() == [[5, 6, PAD_ID], [7, PAD_ID, PAD_ID]]
    assert x["user_id"].tolist() == [3, 1]
    ragged = pd.DataFrame({"hist_item_id": [np.array([1, 2, 3]), np.array([4, 5])]})
    with pytest.raises(ValueError, match=r"'hist_item_id' holds sequences of different lengths \[2, 3\].*PAD_ID"):
        df_to_dict(ragged)
