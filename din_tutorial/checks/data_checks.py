"""Checks for the exercises of notebooks/01_data_preparation.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 01.1 ``check_leave_one_out``: one user's leave-one-out split by time, against
  :func:`din_tutorial.generate_seq_feature` on several timelines.
* 01.2 ``check_pad_history``: keep the most recent ``max_len`` behaviours, pad at the end
  with ``PAD_ID``, against the histories ``generate_seq_feature`` writes.
* 01.3 (optional) ``check_sample_negative``: a uniform negative the user never touched.
"""
from __future__ import annotations

import random

import numpy as np
import pandas as pd

from ..data import generate_seq_feature
from ..features import PAD_ID
from ._core import ExerciseFailed, compare, exercise, refuse_calls

__all__: list[str] = ["check_leave_one_out", "check_pad_history", "check_sample_negative"]

#: One user's item ids, oldest first: short ones (2 and 3 behaviours), a repeated item, item 0.
TIMELINES: tuple[tuple[int, ...], ...] = (
    (11, 4),
    (7, 3, 9),
    (5, 8, 2, 6),
    (42, 0, 17, 3, 25, 8),
    (1, 2, 3, 2, 5, 6, 7),  # item 2 twice: positions, not item values, decide the history
    (30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41),
)

#: (history, max_len) cases for 01.2: shorter than, equal to and longer than max_len; item 0 is real.
PAD_CASES: tuple[tuple[tuple[int, ...], int], ...] = (
    ((12, 0, 7), 5),
    ((3, 4, 5, 6, 7), 5),
    ((9, 8, 0, 6, 5, 4, 3, 2), 5),
    ((21,), 4),
    ((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), 3),
)


def _log_of(items) -> pd.DataFrame:
    """A one-user log whose behaviours happen in the given order."""
    return pd.DataFrame({"user_id": 0, "item_id": list(items), "timestamp": np.arange(len(items)) * 10})


def _pairs(frame: pd.DataFrame) -> list[tuple[list[int], int]]:
    return [([int(v) for v in h if v != PAD_ID], int(t)) for h, t in zip(frame["hist_item_id"], frame["item_id"])]


def reference_split(items) -> tuple[list, list, list]:
    """``generate_seq_feature``'s (train, val, test) for one timeline, as lists of (history, target)."""
    frames = generate_seq_feature(_log_of(items), max_len=len(items) + 1, neg_ratio=0, shuffle=False)
    return tuple(_pairs(f) for f in frames)  # type: ignore[return-value]


def _refuse_the_package(fn, exercise_name: str, what: str) -> None:
    """An answer that calls the function the exercise asks the learner to write is no answer."""
    from ..data import draw_samples, history_window, sort_log

    refuse_calls(fn, exercise_name, {generate_seq_feature: what, draw_samples: what, sort_log: what,
                                     history_window: what}, reference="generate_seq_feature")


def _normalise_split(out, items) -> tuple[list, list, list]:
    shape_hint = ("return three lists (train, val, test), each a list of (history, target) pairs, "
                  "where history is a list of item ids, oldest first")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise ExerciseFailed(f"timeline {list(items)}: got {type(out).__name__}. Hint: {shape_hint}")
    parts = []
    for part in out:
        try:
            parts.append([([int(v) for v in h], int(t)) for h, t in part])
        except (TypeError, ValueError):
            raise ExerciseFailed(f"timeline {list(items)}: could not read {part!r}. Hint: {shape_hint}") from None
    return tuple(parts)  # type: ignore[return-value]


def _split_hint(items, got, want) -> str:
    items = list(items)
    g_train, g_val, g_test = got
    w_train, w_val, w_test = want
    everything = g_train + g_val + g_test
    if (g_val, g_test) == (w_test, w_val) and g_val != g_test:
        return ("validation and test are swapped: the test target is the LAST behaviour in time, "
                "the validation target the one before it")
    for hist, target in everything:
        if hist and hist[-1] == target and hist == items[: len(hist)]:
            return ("a history holds its own target (the last item leaks into the history): a target's history "
                    "is only the behaviours BEFORE it")
    for hist, _ in everything:
        if hist != items[: len(hist)]:
            if hist[::-1] == items[: len(hist)]:
                return "keep each history in time order, oldest first (as the log)"
            return ("a history must be the behaviours before the target, in time order: a slice of the timeline "
                    "from its start (use positions, not item values: an item can occur twice)")
    if any(not hist for hist, _ in everything):
        return "the first behaviour has no history, so it is never a target (and never a sample)"
    extra = [s for s in g_train if s not in w_train]  # training samples the reference does not have
    has_val, has_test = any(s in w_val for s in extra), any(s in w_test for s in extra)
    if has_val or has_test:
        which = " and ".join(w for w, h in (("validation", has_val), ("test", has_test)) if h)
        rule = ("the validation target must not be a training target" + (", nor the test target" if has_test else "")
                if has_val else "the test target must not be a training target, nor the validation target")
        paper = (" (the paper's training set, k = 1 .. n-2, holds the validation sample because the paper keeps "
                 "none)" if not has_test else "")
        samples = "samples" if has_val and has_test else "sample"
        return (f"your training samples include the {which} {samples}: {rule}. Training targets stop before the "
                f"validation target, so the samples that choose epochs and settings, and that test the model, are "
                f"ones it never trained on{paper}")
    if len(items) <= 3:
        return (f"short timelines: with {len(items)} behaviours, count which positions can be a target at all "
                f"(each needs at least one earlier behaviour); the test sample comes first, then validation")
    counts = f"{len(g_train)} / {len(g_val)} / {len(g_test)} train / val / test samples"
    if (len(g_train), len(g_val), len(g_test)) == (len(w_train), len(w_val), len(w_test)):
        return (f"you returned the right number of samples ({counts}), but not the right ones: check which "
                f"behaviour is each split's target, and that each history is every behaviour before its target")
    return f"for this timeline you returned {counts}; expected {len(w_train)} / {len(w_val)} / {len(w_test)}"


def _same_split(got, want) -> bool:
    """The task asks for three lists of samples, not for an order within a list: compare each as a multiset."""
    return all(sorted(g) == sorted(w) for g, w in zip(got, want))


@exercise("Exercise 01.1: leave-one-out split by time")
def check_leave_one_out(leave_one_out) -> list[str]:
    """Compare ``leave_one_out(items) -> (train, val, test)`` with ``generate_seq_feature`` on several timelines."""
    _refuse_the_package(leave_one_out, "leave_one_out", "the split")
    n_samples = 0
    for items in TIMELINES:
        want = reference_split(items)
        got = _normalise_split(leave_one_out(list(items)), items)
        if not _same_split(got, want):
            raise ExerciseFailed(f"timeline {list(items)}: your split differs from generate_seq_feature's. "
                                 f"Hint: {_split_hint(items, got, want)}")
        n_samples += sum(len(p) for p in got)
    lengths = sorted({len(t) for t in TIMELINES})
    return [
        (f"{len(TIMELINES)} timelines of {lengths[0]} to {lengths[-1]} behaviours: the same {n_samples} "
         f"(history, target) samples as generate_seq_feature, in the same splits (in any order within a split)"),
        "every history holds only earlier behaviours; the test target is each user's last behaviour",
    ]


def reference_history(history, max_len: int) -> np.ndarray:
    """The ``hist_item_id`` row ``generate_seq_feature`` writes for a target after ``history``."""
    target = max(history) + 1  # any id: the target is not part of its history
    _, _, test = generate_seq_feature(_log_of([*history, target]), max_len=max_len, neg_ratio=0, shuffle=False)
    return np.asarray(test["hist_item_id"].iloc[0], dtype=np.int64)


def _pad_hint(history, max_len, got: np.ndarray, want: np.ndarray) -> str:
    h = list(history)
    if got.shape != want.shape:
        return f"the result must always have max_len = {max_len} entries, whatever the history's length"
    n_real = min(len(h), max_len)
    n_pad = max_len - n_real
    if n_pad and np.array_equal(got[n_pad:], want[:n_real]):
        return "the padding goes at the END, after the real behaviours, not at the front"
    if n_pad and np.array_equal(got, np.where(want == PAD_ID, 0, want)):
        return f"pad with PAD_ID ({PAD_ID}), not 0: id 0 is a real item, and the model masks only PAD_ID"
    if len(h) > max_len and np.array_equal(got, np.asarray(h[:max_len])):
        return "you kept the OLDEST behaviours; keep the most recent ones: they tell most about what comes next"
    if n_real > 1 and np.array_equal(got[:n_real], want[:n_real][::-1]):
        return "keep the behaviours in time order, oldest first"
    return "keep the last max_len behaviours in their order, then fill the rest with PAD_ID"


@exercise("Exercise 01.2: truncate and pad a history")
def check_pad_history(pad_history) -> list[str]:
    """Compare ``pad_history(history, max_len)`` with the history rows ``generate_seq_feature`` writes."""
    _refuse_the_package(pad_history, "pad_history", "the truncation and padding")
    lines = []
    for history, max_len in PAD_CASES:
        want = reference_history(history, max_len)
        out = pad_history(list(history), max_len)
        try:
            got = np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out).astype(np.int64)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"history {list(history)}: got {out!r}. Hint: return a list (or array) of "
                                 f"max_len item ids") from None
        if got.shape != want.shape or not np.array_equal(got, want):
            raise ExerciseFailed(f"history {list(history)}, max_len={max_len}: your row differs from "
                                 f"generate_seq_feature's. Hint: {_pad_hint(history, max_len, got, want)}")
        kind = "shorter than" if len(history) < max_len else "as long as" if len(history) == max_len else "longer than"
        lines.append(compare(got, want, f"history of {len(history):2d}, max_len={max_len} ({kind} max_len)",
                             hint="keep the most recent behaviours, pad at the end with PAD_ID", atol=0, rtol=0))
    return lines


@exercise("Exercise 01.3 (optional): sample a negative the user never touched")
def check_sample_negative(sample_negative, n_draws: int = 4000) -> list[str]:
    """Draw many negatives with ``sample_negative(user_items, n_items, rng)``; check support and uniformity."""
    cases = [
        ({1, 2, 3, 5, 8}, 10),  # unseen: 0, 4, 6, 7, 9 (item 0 is a real item)
        (set(range(1, 50)), 50),  # only item 0 is left
    ]
    lines = []
    for user_items, n_items in cases:
        rng = np.random.default_rng(0)
        draws = []
        for _ in range(n_draws if len(user_items) < n_items - 1 else 50):
            v = sample_negative(set(user_items), n_items, rng)
            try:
                draws.append(int(v))
            except (TypeError, ValueError):
                raise ExerciseFailed(f"got {v!r}. Hint: return one item id (an int)") from None
        draws = np.asarray(draws)
        if draws.min() < 0 or draws.max() >= n_items:
            raise ExerciseFailed(f"drew id {draws.min() if draws.min() < 0 else draws.max()} with n_items={n_items}. "
                                 f"Hint: item ids run from 0 to n_items - 1")
        seen = np.isin(draws, sorted(user_items))
        if seen.any():
            raise ExerciseFailed(f"{int(seen.sum())} of {len(draws)} draws were items the user already has "
                                 f"(e.g. {int(draws[seen][0])}). Hint: draw again when the draw is one of the user's "
                                 f"items (or draw among the items not in user_items)")
        unseen = sorted(set(range(n_items)) - set(user_items))
        counts = np.bincount(draws, minlength=n_items)[unseen]
        never = [i for i, c in zip(unseen, counts) if c == 0]
        if never:
            raise ExerciseFailed(f"item(s) {never} were never drawn although the user never touched them. Hint: every "
                                 f"unseen item is a candidate, item 0 included (0 is a real item, not padding)")
        expected = len(draws) / len(unseen)
        worst = float(np.max(np.abs(counts - expected)) / expected)
        if worst > 0.25:
            raise ExerciseFailed(f"the unseen items were drawn {counts.tolist()} times in {len(draws)} draws. Hint: "
                                 f"draw uniformly (the paper's code), every unseen item equally likely; use rng")
        lines.append(f"n_items={n_items}, user has {len(user_items)}: {len(draws)} draws, all among the "
                     f"{len(unseen)} unseen items, largest deviation from uniform {worst:.0%}")
    lines.append(_check_draws_come_from_rng(sample_negative, *cases[0]))
    return lines


def _check_draws_come_from_rng(sample_negative, user_items: set, n_items: int, n: int = 200) -> str:
    """The draws are a function of ``rng`` alone: the same seed repeats them, another seed changes them."""
    def draws(seed: int, global_seed: int) -> list[int]:
        np.random.seed(global_seed)  # a sampler that draws from numpy's or Python's global state sees
        random.seed(global_seed)     # different states here, and its draws change with them
        rng = np.random.default_rng(seed)
        return [int(sample_negative(set(user_items), n_items, rng)) for _ in range(n)]

    state = np.random.get_state(), random.getstate()
    try:
        first, again, other = draws(0, 1), draws(0, 2), draws(1, 1)
    finally:
        np.random.set_state(state[0])
        random.setstate(state[1])
    if first != again:
        raise ExerciseFailed("the same rng seed gave different draws. Hint: draw only with rng (e.g. rng.integers or "
                             "rng.choice), not with np.random.* or the random module, so a seed repeats the sampling")
    if first == other:
        raise ExerciseFailed("two different rng seeds gave the same draws. Hint: draw with the rng you are given")
    return f"the same seed repeats the {n} draws, another seed changes them: they come from rng"
