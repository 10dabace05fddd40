"""Exercises of notebooks/10_real_data.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import numpy as np
import pytest
from scipy import stats

from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial.checks import ExerciseFailed
from din_tutorial.checks.real_data_checks import check_seed_interval, check_user_sample


@pytest.mark.parametrize("name", ["10_real_data_ex1", "10_real_data_ex2"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 10.1 a subsample of users
def sample_rows(log, n_users, seed):
    return log.sample(n=min(n_users, len(log)), random_state=seed)


def first_users(log, n_users, seed):
    return log[log["user_id"].isin(np.sort(log["user_id"].unique())[:n_users])]


def global_rng(log, n_users, seed):
    users = log["user_id"].unique()
    return log[log["user_id"].isin(np.random.choice(users, size=min(n_users, len(users)), replace=False))]


def users_of_sampled_rows(log, n_users, seed):  # users drawn in proportion to their rows
    rng = np.random.default_rng(seed)
    order = log["user_id"].to_numpy()[rng.permutation(len(log))]
    kept = list(dict.fromkeys(order))[:n_users]
    return log[log["user_id"].isin(kept)]


def truncated_histories(log, n_users, seed):
    users = np.random.default_rng(seed).choice(log["user_id"].unique(), size=min(n_users, log["user_id"].nunique()),
                                               replace=False)
    return log[log["user_id"].isin(users)].groupby("user_id").head(5)


@pytest.mark.parametrize("wrong, words", [
    (sample_rows, "n_users counts users, not rows|users kept"),
    (first_users, "DRAWN|busiest"),
    (global_rng, "different users"),
    (users_of_sampled_rows, "not rows: a row sample favours busy users"),
    (truncated_histories, "lost behaviours"),
])
def test_user_sample_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_user_sample(wrong)


# ---- 10.2 the mean of a few seeds and its interval
def normal_quantile(values):
    v = np.asarray(values)
    return v.mean(), 1.96 * v.std(ddof=1) / np.sqrt(len(v))


def population_std(values):
    v = np.asarray(values)
    return v.mean(), stats.t.ppf(0.975, len(v) - 1) * v.std() / np.sqrt(len(v))


def spread_not_mean(values):
    v = np.asarray(values)
    return v.mean(), stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1)


def one_tailed(values):
    v = np.asarray(values)
    return v.mean(), stats.t.ppf(0.95, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))


def the_interval_itself(values):
    m, h = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    return m, h


@pytest.mark.parametrize("wrong, words", [
    (normal_quantile, "Student's t"),
    (population_std, "n - 1"),
    (spread_not_mean, "sqrt\\(n\\)"),
    (one_tailed, "EACH tail"),
    (the_interval_itself, "mean"),
])
def test_interval_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_seed_interval(wrong)


@pytest.mark.parametrize("check", [check_user_sample, check_seed_interval])
def test_stub_is_todo(check, capsys):
    assert_stub_is_todo(check, capsys)
