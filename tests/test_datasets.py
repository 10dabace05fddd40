"""The synthetic generator's story and contract, and the committed sample's bytes."""
from __future__ import annotations

import re
from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest

from din_tutorial.datasets import (
    SCHEMA,
    category_theme,
    interest_diversity,
    load_dataset,
    load_sample,
    load_sample_truth,
    make_synthetic_amazon,
)
from din_tutorial.datasets import sample as sample_mod
from din_tutorial.datasets.synthetic import DEFAULT_N_USERS, DEFAULT_SEED

SMALL = 1500  # users: enough for the story's statistics, fast


@pytest.fixture(scope="module")
def small():
    return make_synthetic_amazon(n_users=SMALL, seed=7)


# ---- contract ------------------------------------------------------------------------------------


def test_deterministic_for_a_seed():
    a, ta = make_synthetic_amazon(n_users=200, seed=3)
    b, tb = make_synthetic_amazon(n_users=200, seed=3)
    c, _ = make_synthetic_amazon(n_users=200, seed=4)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(ta.behaviours, tb.behaviours)
    assert not a.equals(c)


def test_schema_and_dtypes(small):
    frame, truth = small
    assert list(frame.columns) == list(SCHEMA)
    assert all(frame[c].dtype == np.int64 for c in SCHEMA)
    assert (frame.to_numpy() >= 0).all()
    # ids are dense codes from 0: every code below max()+1 occurs, item 0 is a real item
    for col in ("user_id", "item_id", "cate_id", "zip", "gender", "age", "occupation"):
        assert frame[col].min() == 0
        assert frame[col].nunique() == frame[col].max() + 1, col
    assert frame["user_id"].nunique() == SMALL
    assert len(truth.behaviours) == len(frame)
    assert (truth.behaviours.index == frame.index).all()


def test_sorted_by_user_then_strictly_increasing_time(small):
    frame, _ = small
    assert frame["user_id"].is_monotonic_increasing
    same_user = frame["user_id"].diff().eq(0)
    assert (frame["timestamp"].diff()[same_user] > 0).all()
    assert not frame.duplicated(["user_id", "timestamp"]).any()


def test_profile_columns_constant_per_user(small):
    frame, _ = small
    assert (frame.groupby("user_id")[["gender", "age", "occupation", "zip"]].nunique() == 1).all().all()


def test_history_lengths_in_range(small):
    lengths = small[0].groupby("user_id").size()
    assert lengths.min() >= 8 and lengths.max() <= 150
    assert 38 <= lengths.mean() <= 52  # log-normal around 45


def test_item_has_one_category_and_categories_nest_in_themes(small):
    frame, truth = small
    assert (frame.groupby("item_id")["cate_id"].nunique() == 1).all()
    assert (truth.behaviours.groupby(frame["cate_id"])["interest"].nunique() == 1).all()
    assert (truth.interest_of(frame["cate_id"]) == truth.behaviours["interest"]).all()
    cats_per_theme = truth.category_theme.value_counts()
    assert cats_per_theme.max() <= 5


def test_a_user_rarely_reviews_an_item_twice(small):
    frame, _ = small
    assert frame.duplicated(["user_id", "item_id"]).mean() < 0.001


# ---- the story -----------------------------------------------------------------------------------


def test_item_popularity_is_long_tailed(small):
    counts = np.sort(small[0]["item_id"].value_counts().to_numpy())[::-1]
    top_decile_share = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_decile_share > 0.25  # uniform would be 0.10
    assert counts[0] > 20 * np.median(counts)


def test_triggers_point_back_within_the_window_and_keep_the_theme(small):
    frame, truth = small
    b = truth.behaviours
    trig = b[b["fresh"] == 0]
    rows = trig["trigger_row"].to_numpy()
    assert (rows < trig.index.to_numpy()).all()
    assert (frame["user_id"].to_numpy()[rows] == trig["user_id"].to_numpy()).all()
    position = frame.groupby("user_id").cumcount().to_numpy()
    assert (position[trig.index] - trig["trigger_pos"].to_numpy() <= 50).all()
    assert (position[rows] == trig["trigger_pos"].to_numpy()).all()
    assert (b["interest"].to_numpy()[rows] == trig["interest"].to_numpy()).all()
    same_cat = frame["cate_id"].to_numpy()[rows] == frame["cate_id"].to_numpy()[trig.index]
    assert 0.5 < same_cat.mean() < 0.7  # same_category_rate 0.6
    # recency: the trigger is usually recent (weight exp(-d/15))
    assert np.median(position[trig.index] - trig["trigger_pos"].to_numpy()) <= 15
    fresh = b[b["fresh"] == 1]
    assert (fresh["trigger_row"] == -1).all() and (fresh["trigger_pos"] == -1).all()
    assert 0.3 < b["fresh"].mean() < 0.45  # fresh_rate 0.35 (+ the first behaviour)


def test_users_hold_several_interleaving_interests(small):
    _, truth = small
    b = truth.behaviours
    assert b.groupby("user_id")["interest"].nunique().mean() >= 4
    # interleaving: a theme comes back after another theme interrupted it
    theme = b["interest"].to_numpy()
    user = b["user_id"].to_numpy()
    new_run = np.r_[True, (theme[1:] != theme[:-1]) | (user[1:] != user[:-1])]
    runs = pd.DataFrame({"user": user[new_run], "theme": theme[new_run]})
    returns = runs.duplicated(["user", "theme"]).groupby(runs["user"]).any()
    assert returns.mean() > 0.9


def test_fewer_themes_per_user_means_less_diverse_histories():
    _, many = make_synthetic_amazon(n_users=600, seed=1)
    _, fewer = make_synthetic_amazon(n_users=600, seed=1, themes_per_user=(1, 2))
    _, fewest = make_synthetic_amazon(n_users=600, seed=1, themes_per_user=(1, 2), new_interest_rate=0.0)
    assert interest_diversity(fewest) < interest_diversity(fewer) < interest_diversity(many)
    assert interest_diversity(fewest) < 0.6 * interest_diversity(many)


def test_profile_carries_some_signal_and_no_more():
    def gender_gap(tilt):
        frame, truth = make_synthetic_amazon(n_users=3000, seed=5, profile_tilt=tilt)
        dist = pd.crosstab(frame["gender"], truth.behaviours["interest"], normalize="index")
        return 0.5 * (dist.iloc[0] - dist.iloc[1]).abs().sum()  # total variation distance

    with_tilt, without = gender_gap(0.4), gender_gap(0.0)
    assert with_tilt > without + 0.03
    assert with_tilt < 0.5  # a tilt, not a partition of the catalogue by gender


def test_bad_knobs_are_named():
    with pytest.raises(ValueError, match="fresh_rate"):
        make_synthetic_amazon(n_users=10, fresh_rate=1.5)
    with pytest.raises(ValueError, match="themes_per_user"):
        make_synthetic_amazon(n_users=10, themes_per_user=(0, 2))
    with pytest.raises(ValueError, match="n_users"):
        make_synthetic_amazon(n_users=0)


def test_load_dataset_synthetic_passes_knobs():
    frame = load_dataset("synthetic", n_users=50, seed=2)
    assert frame["user_id"].nunique() == 50 and list(frame.columns) == list(SCHEMA)


def test_category_theme_helper(small):
    frame, truth = small
    pd.testing.assert_series_equal(category_theme(frame, truth.behaviours), truth.category_theme)


# ---- the committed sample ------------------------------------------------------------------------

NUMPY_NOTE = (
    "Regenerating data/{name} with this NumPy ({version}) gives different bytes from the committed file. "
    "NumPy does not guarantee the same random streams across versions, so this can happen after a NumPy "
    "upgrade without any code change; the committed CSV stays the reference. If the generator was changed on "
    "purpose, regenerate with `python -m din_tutorial.datasets` and update the sha256 in data/README.md."
)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    return sample_mod.write_sample(out, n_users=DEFAULT_N_USERS, seed=DEFAULT_SEED)


def test_committed_sample_regenerates_byte_for_byte(regenerated):
    data_dir = sample_mod.repo_data_dir()
    for path in regenerated:
        committed = data_dir / path.name
        assert committed.is_file(), f"{committed} is missing; run python -m din_tutorial.datasets"
        assert sample_mod.sha256(path) == sample_mod.sha256(committed), NUMPY_NOTE.format(
            name=path.name, version=np.__version__
        )


def test_readme_states_the_committed_sha256():
    data_dir = sample_mod.repo_data_dir()
    readme = (data_dir / "README.md").read_text()
    for name in (sample_mod.SAMPLE_FILE, sample_mod.TRUTH_FILE):
        digest = sample_mod.sha256(data_dir / name)
        assert re.search(rf"{digest}\s+{re.escape(name)}", readme), f"data/README.md should list {digest}  {name}"


def test_load_sample_and_truth_are_row_aligned():
    frame, truth = load_sample(), load_sample_truth()
    assert list(frame.columns) == list(SCHEMA)
    assert len(frame) == len(truth)
    assert (frame["user_id"].to_numpy() == truth["user_id"].to_numpy()).all()
    assert (frame["timestamp"].to_numpy() == truth["timestamp"].to_numpy()).all()
    trig = truth[truth["fresh"] == 0]
    assert (truth["interest"].to_numpy()[trig["trigger_row"]] == trig["interest"].to_numpy()).all()
    assert "interest" not in frame.columns  # the model never sees the truth
    pd.testing.assert_frame_equal(load_dataset("sample"), frame)


def test_missing_sample_is_generated_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(sample_mod, "repo_data_dir", lambda: tmp_path / "no-repo" / "data")
    monkeypatch.setenv("DIN_TUTORIAL_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(
        sample_mod, "make_synthetic_amazon", lambda n_users, seed: make_synthetic_amazon(n_users=40, seed=seed)
    )
    path = sample_mod.sample_path()
    assert path == tmp_path / "cache" / "sample" / sample_mod.SAMPLE_FILE
    assert load_sample()["user_id"].nunique() == 40
    assert len(load_sample_truth()) == len(load_sample())


def test_spread_ids_makes_sparse_distinct_raw_ids_in_the_codes_order(small):
    from din_tutorial.data import DataPreparationWarning
    from din_tutorial.datasets import spread_ids
    from din_tutorial.samples import build_samples

    small = small[0]  # (frame, truth)
    spread = spread_ids(small, factor=10, seed=1)
    for col in ("user_id", "item_id"):
        codes, raw = small[col].to_numpy(), spread[col].to_numpy()
        pairs = np.unique(np.c_[codes, raw], axis=0)
        assert len(pairs) == small[col].nunique() == spread[col].nunique()  # one raw id per code, and back
        assert (np.diff(pairs[:, 1]) > 0).all() and raw.max() < 10 * (codes.max() + 1)  # in the codes' order
        assert raw.max() + 1 > 2 * spread[col].nunique()  # sparse: a table by raw id would be mostly unused
    assert (spread.drop(columns=["user_id", "item_id"]) == small.drop(columns=["user_id", "item_id"])).all().all()
    with pytest.warns(DataPreparationWarning) if small.user_id.value_counts().min() < 2 else nullcontext():
        lean = build_samples(spread, item_attribute_cols=["cate_id"], max_len=5)
    assert lean.vocab["user_id"] == small.user_id.nunique() and lean.vocab["item_id"] == small.item_id.nunique()
    with pytest.raises(KeyError, match="'nope'"):
        spread_ids(small, ["nope"])
    with pytest.raises(ValueError, match="factor"):
        spread_ids(small, factor=0)
