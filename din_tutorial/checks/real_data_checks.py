"""Checks for the exercises of notebooks/10_real_data.ipynb.

Each ``check_*`` runs the learner's answer against an independent reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 10.1 ``check_user_sample(sample_users)``: a subsample of a behaviour log by USER (every kept
  user keeps every behaviour, so histories, validation and test targets stay whole), of the size
  asked, reproducible from its seed, and spread over the whole user population.
* 10.2 ``check_seed_interval(seed_interval)``: the mean of a few runs (one per seed) and the
  half-width of its 95% confidence interval, against Student's t from SciPy.
"""
from __future__ import annotations

import numpy as np

from ._core import ExerciseFailed, exercise, refuse_calls

__all__: list[str] = ["check_user_sample", "check_seed_interval"]


# ---------------------------------------------------------------------------- 10.1
def _log(n_users: int = 400, seed: int = 0):
    """A behaviour log in the package's schema; users are sorted by activity (the busiest first), as a
    careless 'first n users' would never notice, and user ids are not 0..n-1."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    counts = np.sort(rng.integers(3, 30, size=n_users))[::-1]
    counts[: n_users // 10] *= 5  # a busy tenth, as in real logs: a draw of rows (not users) favours them
    users = np.repeat(np.arange(n_users) * 7 + 11, counts)
    n = len(users)
    log = pd.DataFrame({"user_id": users, "item_id": rng.integers(0, 500, n), "cate_id": rng.integers(0, 20, n),
                        "timestamp": rng.integers(0, 10_000, n)})
    return log.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # rows in no particular order


def _frame_hint(got, log, n_users) -> str | None:
    import pandas as pd

    if not isinstance(got, pd.DataFrame):
        return f"got a {type(got).__name__}. Hint: return a DataFrame: the rows of the kept users"
    if list(got.columns) != list(log.columns):
        return "the columns changed. Hint: keep the log's columns as they are; select rows only"
    users = got["user_id"].unique()
    if len(users) != min(n_users, log["user_id"].nunique()):
        if len(got) == n_users:
            return (f"{len(users)} users in {len(got)} rows. Hint: n_users counts users, not rows: a row sample cuts "
                    f"every history")
        return f"{len(users)} users kept, expected {n_users}. Hint: draw n_users distinct users"
    full = log[log["user_id"].isin(users)]
    if len(got) != len(full) or not (got.groupby("user_id").size().sort_index()
                                     .equals(full.groupby("user_id").size().sort_index())):
        return ("some kept users lost behaviours. Hint: keep EVERY row of each kept user: their history, their "
                "validation and their test targets come from those rows")
    merged = got.merge(log.drop_duplicates(), how="left", indicator=True)
    if (merged["_merge"] != "both").any():
        return "some rows are not rows of the log. Hint: select rows of the log, do not build new ones"
    return None


@exercise("Exercise 10.1: a subsample of users, each with the whole history")
def check_user_sample(sample_users) -> list[str]:
    """``sample_users(log, n_users, seed)`` returns the rows of ``n_users`` users drawn at random (all of them
    when the log has fewer), every row of each; the same seed gives the same users, another seed others.

    Tried on logs whose users are sorted by activity and whose ids are not 0..n-1, at several sizes."""
    lines = []
    for n_users, seed in ((25, 1), (100, 2), (400, 3), (1000, 4)):
        log = _log(400, seed)
        original = log.copy()
        got = sample_users(log, n_users, seed)
        if not log.equals(original):
            raise ExerciseFailed("your function changed the log it was given. Hint: return a new frame; leave the "
                                 "input as it is")
        hint = _frame_hint(got, log, n_users)
        if hint:
            raise ExerciseFailed(f"n_users={n_users}, seed={seed}: {hint}")
        again = sample_users(log.copy(), n_users, seed)
        if set(again["user_id"]) != set(got["user_id"]):
            raise ExerciseFailed(f"n_users={n_users}: two calls with seed {seed} kept different users. Hint: draw "
                                 f"from a random generator seeded with `seed`, not from the global one")
        lines.append(f"n_users={n_users}, seed={seed}: {got['user_id'].nunique()} users, {len(got):,} rows, every "
                     f"history whole, the same users again with the same seed")
    log = _log(400, 5)
    kept = [frozenset(sample_users(log, 40, s)["user_id"]) for s in range(8)]
    if len(set(kept)) == 1:
        raise ExerciseFailed("eight seeds kept the same 40 users. Hint: the users must be DRAWN (at random, from "
                             "the seed), not taken in the log's order")
    busiest = frozenset(log.groupby("user_id").size().sort_values(ascending=False).index[:40])
    first = frozenset(np.sort(log["user_id"].unique())[:40])
    if any(k in (busiest, first) for k in kept):
        raise ExerciseFailed("a seed kept the 40 busiest (or lowest-numbered) users. Hint: draw users uniformly, "
                             "whatever their activity or id")
    share = np.mean([len(k & busiest) / 40 for k in kept])
    if not 0.02 <= share <= 0.2:
        raise ExerciseFailed(f"on average {share:.0%} of the kept users are among the 10% busiest. Hint: draw "
                             f"USERS uniformly (each user once), not rows: a row sample favours busy users")
    lines.append(f"8 seeds, 40 of 400 users: 8 different draws; {share:.0%} of the kept users are among the 10% "
                 f"busiest (uniform: 10%)")
    return lines


# ---------------------------------------------------------------------------- 10.2
def _t_interval(values, level: float = 0.95) -> tuple[float, float]:
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    sem = v.std(ddof=1) / np.sqrt(n)
    return float(v.mean()), float(stats.t.ppf(0.5 + level / 2, df=n - 1) * sem)


def _interval_hint(values, got_half: float) -> str:
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    sd1, sd0 = v.std(ddof=1), v.std(ddof=0)
    t = stats.t.ppf(0.975, df=n - 1)
    candidates = {
        "1.96 (the normal quantile) is too small for a few runs: the spread itself is estimated from them, "
        "so the quantile comes from Student's t with n - 1 degrees of freedom": [1.96 * sd1 / np.sqrt(n),
                                                                                  1.96 * sd0 / np.sqrt(n)],
        "the standard deviation of a sample divides by n - 1 (ddof=1), not n": [t * sd0 / np.sqrt(n)],
        "an interval for the MEAN of n runs is narrower than their spread: divide the standard deviation by "
        "sqrt(n)": [t * sd1, 1.96 * sd1],
        "the t distribution of a mean of n values has n - 1 degrees of freedom": [
            stats.t.ppf(0.975, df=n) * sd1 / np.sqrt(n), stats.t.ppf(0.975, df=max(n - 2, 1)) * sd1 / np.sqrt(n)],
        "a 95% interval leaves 2.5% in EACH tail: the quantile is at 0.975": [
            stats.t.ppf(0.95, df=n - 1) * sd1 / np.sqrt(n)],
    }
    for hint, wrong in candidates.items():
        if any(np.isclose(got_half, w, rtol=1e-6, atol=0) for w in wrong):
            return hint
    return "mean +- t(0.975, n - 1) x (sample standard deviation) / sqrt(n): return the mean and the +- part"


@exercise("Exercise 10.2: the mean of a few seeds and its 95% interval")
def check_seed_interval(seed_interval) -> list[str]:
    """``seed_interval(values)`` returns ``(mean, half_width)``: the mean of the values (one per seed) and the
    half-width of its two-sided 95% confidence interval, from Student's t with n - 1 degrees of freedom.

    Tried on 2, 3, 5 and 10 values, against SciPy's t quantile."""
    from ..tuning import summarize_ablation  # notebooks 03 and 04 show it: it computes this interval

    refuse_calls(seed_interval, "seed_interval", {summarize_ablation: "the t interval"},
                 reference="SciPy's t quantile")
    cases = [[0.861, 0.874], [0.8712, 0.8690, 0.8731], [0.70, 0.72, 0.69, 0.75, 0.71],
             list(np.linspace(0.80, 0.83, 10))]
    lines = []
    for values in cases:
        out = seed_interval(list(values))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseFailed(f"{len(values)} values: got {type(out).__name__}. Hint: return a pair (mean, "
                                 f"half_width)")
        mean, half = (float(v) for v in out)
        want_mean, want_half = _t_interval(values)
        if not np.isclose(mean, want_mean, rtol=0, atol=1e-12):
            raise ExerciseFailed(f"{len(values)} values: mean {mean:.6f}, expected {want_mean:.6f}. Hint: the first "
                                 f"item is the plain mean of the values")
        if not np.isclose(half, want_half, rtol=1e-6, atol=0):
            raise ExerciseFailed(f"{len(values)} values: half-width {half:.6f}, expected {want_half:.6f}. Hint: "
                                 f"{_interval_hint(values, half)}")
        lines.append(f"{len(values)} values: mean {mean:.4f} +- {half:.4f}")
    return lines
