"""Exercises of notebooks/01_data_preparation.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import random

import numpy as np
import pytest
from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial import PAD_ID
from din_tutorial.checks import ExerciseFailed, check_leave_one_out, check_pad_history, check_sample_negative


@pytest.mark.parametrize("name", ["01_data_preparation_ex1", "01_data_preparation_ex2", "01_data_preparation_ex3"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 01.1 the split
def _samples(items):
    return [(list(items[:t]), items[t]) for t in range(1, len(items))]


def leaky_split(items):  # each history includes its own target
    s = [(list(items[: t + 1]), items[t]) for t in range(1, len(items))]
    return s[:-2], s[-2:-1], s[-1:]


def swapped_split(items):
    s = _samples(items)
    return s[:-2], s[-1:], s[-2:-1]


def train_keeps_everything(items):
    s = _samples(items)
    return s, s[-2:-1], s[-1:]


def starts_at_zero(items):
    s = [(list(items[:t]), items[t]) for t in range(len(items))]
    return s[:-2], s[-2:-1], s[-1:]


def reversed_histories(items):
    s = [(list(items[:t])[::-1], items[t]) for t in range(1, len(items))]
    return s[:-2], s[-2:-1], s[-1:]


@pytest.mark.parametrize("wrong, words", [
    (leaky_split, "leaks into the history"),
    (swapped_split, "swapped"),
    (train_keeps_everything, "include the test sample: the test target must not be a training target"),
    (starts_at_zero, "first behaviour has no history"),
    (reversed_histories, "oldest first"),
])
def test_split_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_leave_one_out(wrong)


def calls_the_package(items):  # right, but only a wrapper of what the exercise asks to write
    import din_tutorial

    frames = din_tutorial.generate_seq_feature(_log(items), max_len=len(items) + 1, neg_ratio=0, shuffle=False)
    return tuple([(list(h[h != PAD_ID]), t) for h, t in zip(f.hist_item_id, f.item_id)] for f in frames)


def _log(items):
    import pandas as pd

    return pd.DataFrame({"user_id": 0, "item_id": list(items), "timestamp": range(len(items))})


def paper_training_set(items):  # the paper's training set k = 1 .. n-2 kept whole, and a validation sample too
    s = _samples(items)
    return s[:-1], s[-2:-1], s[-1:]


def test_split_check_rejects_a_wrapper_of_generate_seq_feature_and_the_papers_training_set():
    with pytest.raises(ExerciseFailed, match="calls generate_seq_feature: the exercise is to write the split"):
        check_leave_one_out(calls_the_package)
    with pytest.raises(ExerciseFailed, match="include the validation sample: the validation target must not be a training"):
        check_leave_one_out(paper_training_set)


# ---- 01.2 padding and truncation
def keeps_oldest(history, max_len):
    kept = list(history)[:max_len]
    return kept + [PAD_ID] * (max_len - len(kept))


def pads_front(history, max_len):
    kept = list(history)[-max_len:]
    return [PAD_ID] * (max_len - len(kept)) + kept


def pads_with_zero(history, max_len):
    kept = list(history)[-max_len:]
    return kept + [0] * (max_len - len(kept))


def no_padding(history, max_len):
    return list(history)[-max_len:]


@pytest.mark.parametrize("wrong, words", [
    (keeps_oldest, "OLDEST"),
    (pads_front, "at the END"),
    (pads_with_zero, "not 0"),
    (no_padding, "max_len = "),
])
def test_pad_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_pad_history(wrong)


def test_pad_check_accepts_numpy_and_torch_answers():
    import torch

    def as_array(history, max_len):
        kept = np.asarray(history[-max_len:], dtype=np.int64)
        return np.concatenate([kept, np.full(max_len - len(kept), PAD_ID)])

    assert check_pad_history(as_array) is True
    assert check_pad_history(lambda h, m: torch.as_tensor(as_array(h, m))) is True


# ---- 01.3 negatives
def may_return_seen(user_items, n_items, rng):
    return int(rng.integers(0, n_items))


def skips_item_zero(user_items, n_items, rng):
    while True:
        item = int(rng.integers(1, n_items))
        if item not in user_items:
            return item


def first_free(user_items, n_items, rng):
    return min(set(range(n_items)) - set(user_items))


def favours_large_ids(user_items, n_items, rng):
    free = sorted(set(range(n_items)) - set(user_items))
    p = np.arange(1, len(free) + 1, dtype=float)
    return int(rng.choice(free, p=p / p.sum()))


def ignores_rng_uses_numpy_global(user_items, n_items, rng):
    free = sorted(set(range(n_items)) - set(user_items))
    return int(np.random.choice(free))


def ignores_rng_uses_random_module(user_items, n_items, rng):
    return random.choice(sorted(set(range(n_items)) - set(user_items)))


@pytest.mark.parametrize("wrong, words", [
    (ignores_rng_uses_numpy_global, "same rng seed gave different draws"),
    (ignores_rng_uses_random_module, "same rng seed gave different draws"),
    (may_return_seen, "already has"),
    (skips_item_zero, "item 0 included"),
    (first_free, "never drawn"),
    (favours_large_ids, "uniformly"),
])
def test_negative_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_sample_negative(wrong)


@pytest.mark.parametrize("check", [check_leave_one_out, check_pad_history, check_sample_negative])
def test_stub_is_todo_and_returns_false(check, capsys):
    assert_stub_is_todo(check, capsys)


# ---- review findings: aliases of generate_seq_feature, an order the task never asks for
import din_tutorial as _dt

gsf = _dt.generate_seq_feature  # a module-level alias, as a notebook cell could leave one


def split_through_an_alias(items):
    frames = gsf(_log(items), max_len=len(items) + 1, neg_ratio=0, shuffle=False)
    return tuple([(list(h[h != PAD_ID]), t) for h, t in zip(f.hist_item_id, f.item_id)] for f in frames)


def pad_through_an_alias(history, max_len):
    _, _, test = gsf(_log([*history, max(history) + 1]), max_len=max_len, neg_ratio=0, shuffle=False)
    return list(test["hist_item_id"].iloc[0])


def newest_first_training_list(items):  # right: the task asks for three lists, not an order within one
    s = _samples(items)
    return s[:-2][::-1], s[-2:-1], s[-1:]


def training_targets_one_step_late(items):  # right counts, wrong samples: each target skips one behaviour
    s = [(list(items[:t]), items[t + 1]) for t in range(1, len(items) - 2)]
    return s, _samples(items)[-2:-1], _samples(items)[-1:]


def test_split_and_pad_checks_refuse_an_alias_of_generate_seq_feature():
    with pytest.raises(ExerciseFailed, match="calls generate_seq_feature \\(as gsf\\): the exercise is to write the split"):
        check_leave_one_out(split_through_an_alias)
    with pytest.raises(ExerciseFailed, match="calls generate_seq_feature \\(as gsf\\): the exercise is to write the trunc"):
        check_pad_history(pad_through_an_alias)


def test_split_check_accepts_any_order_within_a_split_and_its_count_hint_does_not_contradict_itself():
    assert check_leave_one_out(newest_first_training_list) is True
    with pytest.raises(ExerciseFailed, match="the right number of samples \\(1 / 1 / 1 train / val / test samples\\), "
                                             "but not the right ones") as err:
        check_leave_one_out(training_targets_one_step_late)
    assert "expected" not in str(err.value)
