"""A synthetic Amazon-Electronics-like behaviour log whose users have diverse, interleaving interests.

The generative story ("triggered themes") mirrors the DIN paper's hypothesis: what a user does
next depends on *part* of the history, not on its average.

* **Catalogue.** Themes (hobbies: photography, gaming, ...), each with 2 to 5 categories;
  category sizes are long-tailed; within a category, items are Zipf-popular over a random order.
* **Users.** Each user holds 3 to 7 themes with Dirichlet weights. Theme popularity is
  long-tailed and mildly tilted by gender, age and occupation, so the profile columns carry
  some signal and no more; ``zip`` carries none.
* **Behaviours.** The first behaviour, and with probability ``fresh_rate`` any later one, is
  *fresh*: a theme from the user's weights or, with probability ``new_interest_rate``, a theme
  new to the user drawn from the (tilted) population; then a category and an item by
  popularity. Every other behaviour is *triggered* by ONE earlier behaviour among the last
  ``trigger_window``, chosen with weight ``exp(-distance / trigger_recency_scale)``: it stays in
  that behaviour's theme, in the same category with probability ``same_category_rate``.
  After each behaviour, with probability ``theme_drift_rate``, one of the user's themes is
  replaced by a new one. A user never reviews the same item twice (as in Amazon's 5-core
  data). Timestamps increase strictly per user.
* **Ground truth.** Each behaviour's theme (its *interest*), whether it was fresh, and which
  earlier behaviour triggered it, are returned apart from the log, so a notebook can measure how
  much attention falls on the behaviours that share the target's theme. The model never sees them.

Generation is vectorised over users: the only Python loop runs over history positions
(at most 150), so the default log takes seconds.

Taught in notebooks/01_data_preparation.ipynb (the story and its ground truth); the one-knob
experiment on ``themes_per_user`` is in the notebook that compares DIN with the BaseModel.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .schema import SCHEMA

#: Users in the bundled sample (the one size knob the lead may tune: rows grow ~45 per user).
DEFAULT_N_USERS = 5000
#: Seed of the bundled sample.
DEFAULT_SEED = 2022

# Profile vocabularies, shaped like MovieLens-1M's (the only public log with these columns).
_N_GENDERS = 2
_AGE_SHARES = np.array([0.04, 0.18, 0.35, 0.20, 0.09, 0.08, 0.06])  # MovieLens-1M's 7 age groups
_N_OCCUPATIONS = 21
_N_ZIP_POOL = 3000  # zip codes drawn from this pool (Zipf), then re-encoded to those that occur
_ITEM_RETRIES = 40  # redraws of an item the user already has (see the loop over positions)
_TWO_YEARS = 2 * 365 * 86400


@dataclass
class SyntheticTruth:
    """What the generator knows and the model never sees.

    Attributes
    ----------
    behaviours:
        One row per row of the log, in the same order (same index): ``user_id``, ``timestamp``
        (to join on, if the log was re-sorted), ``interest`` (the behaviour's theme id),
        ``fresh`` (1 if not triggered), ``new_interest`` (1 if a fresh behaviour opened a theme
        the user did not hold), ``trigger_pos`` (the triggering behaviour's 0-based position in
        the user's time-ordered history, -1 if fresh) and ``trigger_row`` (its row in the log,
        -1 if fresh).
    category_theme:
        ``cate_id -> interest``: every category belongs to exactly one theme.
    user_themes:
        Each user's themes at the start of the log and their Dirichlet weights
        (``user_id, interest, weight``); drift and new interests come on top.
    params:
        The knobs the log was generated with (``make_synthetic_amazon``'s arguments).
    """

    behaviours: pd.DataFrame
    category_theme: pd.Series
    user_themes: pd.DataFrame
    params: dict = field(default_factory=dict)

    def interest_of(self, cate_id) -> np.ndarray:
        """The theme of each category id (works for targets and negatives alike)."""
        return self.category_theme.to_numpy()[np.asarray(cate_id)]


def _segment_draw(cum: np.ndarray, start: np.ndarray, end: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draw one index per row from ``[start, end)`` with probability proportional to the weights.

    ``cum`` is the weights' cumulative sum with a leading 0 (``cum[i]`` = weight before index i),
    so one ``searchsorted`` serves every segment at once: the vectorised form of
    ``rng.choice(range(start, end), p=w[start:end] / w[start:end].sum())`` row by row.
    """
    x = cum[start] + u * (cum[end] - cum[start])
    idx = np.searchsorted(cum, x, side="right") - 1
    return np.clip(idx, start, end - 1)  # float round-off at the segment's edges


def _segment_draw_excluding(cum, start, end, exclude, u) -> np.ndarray:
    """Like :func:`_segment_draw`, but never returns ``exclude`` (which lies in the segment)."""
    w_ex = cum[exclude + 1] - cum[exclude]
    x = cum[start] + u * (cum[end] - cum[start] - w_ex)
    x = np.where(x >= cum[exclude], x + w_ex, x)  # skip the excluded index's slice of the line
    idx = np.searchsorted(cum, x, side="right") - 1
    idx = np.clip(idx, start, end - 1)
    # round-off can land exactly on the excluded index; step to a neighbour inside the segment
    clash = idx == exclude
    idx[clash] = np.where(exclude[clash] + 1 < end[clash], exclude[clash] + 1, exclude[clash] - 1)
    return idx


def _row_draw(cum_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One column index per row of a matrix of row-wise cumulative weights."""
    x = u * cum_rows[:, -1]
    return np.minimum((cum_rows <= x[:, None]).sum(axis=1), cum_rows.shape[1] - 1)


def make_synthetic_amazon(
    n_users: int = DEFAULT_N_USERS,
    seed: int = DEFAULT_SEED,
    *,
    n_themes: int = 150,
    categories_per_theme: tuple[int, int] = (2, 5),
    items_per_category_median: float = 10.0,
    items_per_category_sigma: float = 0.8,
    item_popularity_exponent: float = 0.7,
    theme_popularity_exponent: float = 0.4,
    themes_per_user: tuple[int, int] = (3, 7),
    theme_weight_concentration: float = 1.0,
    profile_tilt: float = 0.4,
    fresh_rate: float = 0.35,
    new_interest_rate: float = 0.4,
    trigger_window: int = 50,
    trigger_recency_scale: float = 15.0,
    same_category_rate: float = 0.6,
    theme_drift_rate: float = 0.01,
    history_length_mean: float = 45.0,
    history_length_sigma: float = 0.5,
    history_length_range: tuple[int, int] = (8, 150),
    start_time: int = 1_325_376_000,
) -> tuple[pd.DataFrame, SyntheticTruth]:
    """Generate a behaviour log in the seed's schema, and its ground truth, by the "triggered themes" story.

    Parameters (every knob of the story; ranges are inclusive)
    ----------
    n_users: users in the log (rows grow by about ``history_length_mean`` per user).
    seed: seed of ``numpy.random.default_rng``; the same seed and NumPy version give the same log.
    n_themes: themes (hobbies) in the catalogue.
    categories_per_theme: ``(low, high)`` categories per theme, uniform.
    items_per_category_median, items_per_category_sigma: category sizes are log-normal
        (a long tail of large categories), at least 2 items.
    item_popularity_exponent: Zipf exponent of item popularity within a category
        (0 = uniform; larger makes "recommend the popular item" stronger).
    theme_popularity_exponent: Zipf exponent of theme popularity in the population.
    themes_per_user: ``(low, high)`` distinct themes a user holds: the one-knob experiment's
        knob (fewer themes, less diverse histories, see :func:`interest_diversity`). New
        interests, drift, and users who run out of unreviewed items in a small theme add
        themes on top; set ``new_interest_rate=0`` too for the starkest contrast.
    theme_weight_concentration: Dirichlet concentration of a user's theme weights
        (small = one dominant theme, large = even weights).
    profile_tilt: standard deviation of the log-multiplier that each gender, age and occupation
        value puts on each theme's popularity (0 = profile carries no signal).
    fresh_rate: probability that a behaviour after the first is fresh (not triggered).
    new_interest_rate: probability that a fresh behaviour opens a theme the user does not hold.
    trigger_window: a triggered behaviour picks its trigger among this many previous behaviours.
    trigger_recency_scale: the trigger at distance d is chosen with weight ``exp(-d / scale)``.
    same_category_rate: probability that a triggered behaviour stays in the trigger's category
        (otherwise another category of the same theme).
    theme_drift_rate: per-behaviour probability that one of the user's themes is replaced.
    history_length_mean, history_length_sigma: history lengths are log-normal with this mean
        and log-scale sigma, rounded and clipped to ``history_length_range``.
    start_time: unix time before which no user starts (users start within two years after it).

    Returns
    -------
    (frame, truth):
        ``frame`` has exactly the columns ``user_id, item_id, cate_id, timestamp, gender, age,
        occupation, zip`` (int64), sorted by user then time, with timestamps strictly increasing
        per user; every id column is dense (all codes ``0..max`` occur). ``truth`` is a
        :class:`SyntheticTruth` aligned with ``frame``'s rows.

    Taught in notebooks/01_data_preparation.ipynb.
    """
    params = {k: v for k, v in locals().items()}
    _check_knobs(params)
    rng = np.random.default_rng(seed)

    # ---- catalogue: themes -> categories -> items, stored contiguously so that one
    # cumulative-weight array per level serves every segment (see _segment_draw)
    lo, hi = categories_per_theme
    cats_per_theme = rng.integers(lo, hi + 1, size=n_themes)
    theme_cat_start = np.concatenate([[0], np.cumsum(cats_per_theme)])
    n_cats = int(theme_cat_start[-1])
    cat_size = rng.lognormal(np.log(items_per_category_median), items_per_category_sigma, n_cats)
    cat_size = np.maximum(2, np.round(cat_size)).astype(np.int64)
    cat_item_start = np.concatenate([[0], np.cumsum(cat_size)])
    n_items = int(cat_item_start[-1])
    item_cat = np.repeat(np.arange(n_cats), cat_size)
    # Zipf within category over a random order: rank r (1-based) has weight r^-exponent
    rank_in_cat = np.arange(n_items) - cat_item_start[item_cat] + 1
    rank_in_cat = _shuffle_within(rank_in_cat, item_cat, rng)
    item_w = rank_in_cat.astype(float) ** -item_popularity_exponent
    item_cum = np.concatenate([[0.0], np.cumsum(item_w)])
    uniform_cum = np.arange(n_items + 1, dtype=float)
    # a category's share of its theme's traffic grows with its size: big categories are big
    # because people buy there
    cat_w = cat_size.astype(float)
    cat_cum = np.concatenate([[0.0], np.cumsum(cat_w)])

    # ---- users: profile, then themes tilted by the profile
    gender = rng.integers(0, _N_GENDERS, size=n_users)
    age = rng.choice(len(_AGE_SHARES), size=n_users, p=_AGE_SHARES)
    occ_shares = rng.dirichlet(np.full(_N_OCCUPATIONS, 3.0))
    occupation = rng.choice(_N_OCCUPATIONS, size=n_users, p=occ_shares)
    zip_w = np.arange(1, _N_ZIP_POOL + 1, dtype=float) ** -1.0
    zip_raw = rng.choice(_N_ZIP_POOL, size=n_users, p=zip_w / zip_w.sum())  # no link to anything else

    theme_rank = rng.permutation(n_themes) + 1
    base_logw = -theme_popularity_exponent * np.log(theme_rank)
    tilt_gender = rng.normal(0.0, profile_tilt, size=(_N_GENDERS, n_themes))
    tilt_age = rng.normal(0.0, profile_tilt, size=(len(_AGE_SHARES), n_themes))
    tilt_occ = rng.normal(0.0, profile_tilt, size=(_N_OCCUPATIONS, n_themes))
    pop_logw = base_logw[None, :] + tilt_gender[gender] + tilt_age[age] + tilt_occ[occupation]
    pop_w = np.exp(pop_logw - pop_logw.max(axis=1, keepdims=True))  # (n_users, n_themes)

    t_lo, t_hi = themes_per_user
    k_user = rng.integers(t_lo, t_hi + 1, size=n_users)
    # k themes without replacement, proportional to pop_w: Gumbel top-k, all users at once
    keys = np.log(pop_w) + rng.gumbel(size=pop_w.shape)
    by_key = np.argsort(-keys, axis=1)[:, :t_hi]
    slot_used = np.arange(t_hi)[None, :] < k_user[:, None]
    user_theme = np.where(slot_used, by_key, -1)  # (n_users, t_hi), -1 = empty slot
    gam = rng.gamma(theme_weight_concentration, size=(n_users, t_hi)) * slot_used
    user_theme_w = gam / gam.sum(axis=1, keepdims=True)
    start_themes = user_theme.copy()
    start_weights = user_theme_w.copy()

    # ---- history lengths: log-normal with the requested mean
    mu = np.log(history_length_mean) - history_length_sigma**2 / 2
    l_lo, l_hi = history_length_range
    length = np.clip(np.round(rng.lognormal(mu, history_length_sigma, n_users)), l_lo, l_hi).astype(np.int64)
    max_len = int(length.max())

    item = np.full((n_users, max_len), -1, dtype=np.int64)
    cat = np.full((n_users, max_len), -1, dtype=np.int64)
    theme = np.full((n_users, max_len), -1, dtype=np.int64)
    fresh = np.zeros((n_users, max_len), dtype=np.int64)
    new_interest = np.zeros((n_users, max_len), dtype=np.int64)
    trigger = np.full((n_users, max_len), -1, dtype=np.int64)

    def unheld_theme_weights(users: np.ndarray) -> np.ndarray:
        # population weights with the themes each user holds zeroed: "a theme new to the user"
        w = pop_w[users].copy()
        held = user_theme[users]
        w[np.repeat(np.arange(len(users)), t_hi)[held.ravel() >= 0], held[held >= 0]] = 0.0
        return w

    def draw_unreviewed(users: np.ndarray, t: int, ct: np.ndarray, th: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # An item of category ct that the user has not reviewed (Amazon's users review an item
        # once). Repeats are redrawn in the same category, then anywhere in the theme by
        # popularity, then uniformly; -1 where the user has exhausted the theme. Returns the
        # items and their categories (an item may come from another category of the theme).
        ct = ct.copy()
        it = _segment_draw(item_cum, cat_item_start[ct], cat_item_start[ct + 1], rng.random(len(users)))
        if t == 0:
            return it, ct
        seen = item[users, :t]  # (n, t)
        for attempt in range(_ITEM_RETRIES + 1):
            rep = np.flatnonzero((seen == it[:, None]).any(axis=1))
            if len(rep) == 0 or attempt == _ITEM_RETRIES:
                break
            ur = rng.random(len(rep))
            if attempt < _ITEM_RETRIES // 4:
                it[rep] = _segment_draw(item_cum, cat_item_start[ct[rep]], cat_item_start[ct[rep] + 1], ur)
            else:
                first, last = cat_item_start[theme_cat_start[th[rep]]], cat_item_start[theme_cat_start[th[rep] + 1]]
                cum = item_cum if attempt < _ITEM_RETRIES // 2 else uniform_cum
                it[rep] = _segment_draw(cum, first, last, ur)
                ct[rep] = item_cat[it[rep]]
        it[rep] = -1
        return it, ct

    r_decay = np.exp(-1.0 / trigger_recency_scale)
    user_rows = np.arange(n_users)
    for t in range(max_len):
        a = user_rows[length > t]  # users still active at position t
        n_a = len(a)
        is_fresh = np.ones(n_a, bool) if t == 0 else rng.random(n_a) < fresh_rate
        is_new = np.zeros(n_a, bool)
        th = np.empty(n_a, np.int64)
        ct = np.empty(n_a, np.int64)
        pos = np.full(n_a, -1, np.int64)

        # fresh: a theme from the user's weights, or (new_interest_rate) a theme new to the user
        f = np.flatnonzero(is_fresh)
        fu = a[f]
        is_new[f] = rng.random(len(f)) < new_interest_rate
        own = user_theme[fu, _row_draw(np.cumsum(user_theme_w[fu], axis=1), rng.random(len(f)))]
        new = _row_draw(np.cumsum(unheld_theme_weights(fu), axis=1), rng.random(len(f)))
        th[f] = np.where(is_new[f], new, own)
        ct[f] = _segment_draw(cat_cum, theme_cat_start[th[f]], theme_cat_start[th[f] + 1], rng.random(len(f)))

        # triggered: one earlier behaviour, recent ones more likely (truncated geometric distance)
        g = np.flatnonzero(~is_fresh)
        if len(g):
            gu = a[g]
            window = min(t, trigger_window)
            u = rng.random(len(g))
            dist = np.ceil(np.log1p(-u * (1 - r_decay**window)) / np.log(r_decay)).astype(np.int64)
            pos[g] = t - np.clip(dist, 1, window)
            th[g] = theme[gu, pos[g]]
            trig_cat = cat[gu, pos[g]]
            same = rng.random(len(g)) < same_category_rate
            other = _segment_draw_excluding(
                cat_cum, theme_cat_start[th[g]], theme_cat_start[th[g] + 1], trig_cat, rng.random(len(g))
            )
            ct[g] = np.where(same, trig_cat, other)

        it, ct = draw_unreviewed(a, t, ct, th)
        # a user who has reviewed every item of the theme moves on: the behaviour becomes a
        # fresh one in another theme from the population (recorded as such in the truth)
        x = np.flatnonzero(it < 0)
        if len(x):
            xu = a[x]
            w = pop_w[xu].copy()
            w[np.arange(len(x)), th[x]] = 0.0
            th[x] = _row_draw(np.cumsum(w, axis=1), rng.random(len(x)))
            is_new[x] = ~(user_theme[xu] == th[x][:, None]).any(axis=1)
            is_fresh[x], pos[x] = True, -1
            ct[x] = _segment_draw(cat_cum, theme_cat_start[th[x]], theme_cat_start[th[x] + 1], rng.random(len(x)))
            it[x], ct[x] = draw_unreviewed(xu, t, ct[x], th[x])
            # exhausted again (a handful of rows in the default log): accept a repeat
            x = x[it[x] < 0]
            it[x] = _segment_draw(item_cum, cat_item_start[ct[x]], cat_item_start[ct[x] + 1], rng.random(len(x)))

        item[a, t], cat[a, t], theme[a, t] = it, ct, th
        fresh[a, t], new_interest[a, t], trigger[a, t] = is_fresh, is_new, pos

        # drift: one held theme is replaced by a theme the user does not hold
        d = a[rng.random(n_a) < theme_drift_rate]
        if len(d):
            slot = np.floor(rng.random(len(d)) * k_user[d]).astype(np.int64)
            user_theme[d, slot] = _row_draw(np.cumsum(unheld_theme_weights(d), axis=1), rng.random(len(d)))

    # ---- timestamps: a start per user, then positive gaps (median ~2 days, heavy tail)
    start = start_time + rng.integers(0, _TWO_YEARS, size=n_users)
    gaps = 1 + np.floor(rng.lognormal(np.log(2 * 86400), 1.2, size=(n_users, max_len))).astype(np.int64)
    gaps[:, 0] = 0
    stamp = start[:, None] + np.cumsum(gaps, axis=1)

    # ---- flatten (user, position) to rows: sorted by user, then time
    mask = np.arange(max_len)[None, :] < length[:, None]
    row_user = np.repeat(user_rows, length)
    row_offset = np.concatenate([[0], np.cumsum(length)[:-1]])

    # shuffle then re-encode ids so that (a) ids reveal nothing about the catalogue's
    # structure and (b) every code 0..max occurs (item 0 is a real, reviewed item)
    item_ids = _dense_shuffled(item[mask], rng)
    cate_codes = rng.permutation(n_cats)[cat[mask]]
    cate_ids = _dense_shuffled(cate_codes, rng, already_shuffled=True)
    zip_ids = _dense_shuffled(zip_raw, rng)

    frame = pd.DataFrame(
        {
            "user_id": row_user,
            "item_id": item_ids,
            "cate_id": cate_ids,
            "timestamp": stamp[mask],
            "gender": gender[row_user],
            "age": age[row_user],
            "occupation": occupation[row_user],
            "zip": zip_ids[row_user],
        },
        columns=list(SCHEMA),
    ).astype(np.int64)

    trig_pos = trigger[mask]
    behaviours = pd.DataFrame(
        {
            "user_id": row_user,
            "timestamp": stamp[mask],
            "interest": theme[mask],
            "fresh": fresh[mask],
            "new_interest": new_interest[mask],
            "trigger_pos": trig_pos,
            "trigger_row": np.where(trig_pos >= 0, row_offset[row_user] + trig_pos, -1),
        }
    ).astype(np.int64)

    slots = start_themes >= 0
    user_themes = pd.DataFrame(
        {
            "user_id": np.repeat(user_rows, slots.sum(axis=1)),
            "interest": start_themes[slots],
            "weight": start_weights[slots],
        }
    )
    return frame, SyntheticTruth(behaviours, category_theme(frame, behaviours), user_themes, params)


def category_theme(frame: pd.DataFrame, behaviours: pd.DataFrame) -> pd.Series:
    """``cate_id -> interest`` from a log and its row-aligned truth (each category has one theme)."""
    pairs = pd.Series(behaviours["interest"].to_numpy(), index=frame["cate_id"].to_numpy())
    out = pairs.groupby(level=0).first().sort_index().rename("interest")
    out.index.name = "cate_id"
    return out


def interest_diversity(truth: SyntheticTruth | pd.DataFrame) -> float:
    """Mean over users of the effective number of interests in their history, ``exp(entropy)``.

    A user whose behaviours split evenly over 4 themes scores 4; one with 90% in one theme and
    the rest spread thinly scores little above 1. The one-knob experiment reads this number.
    """
    b = truth.behaviours if isinstance(truth, SyntheticTruth) else truth
    counts = b.groupby(["user_id", "interest"]).size()
    p = counts / counts.groupby(level=0).transform("sum")
    entropy = -(p * np.log(p)).groupby(level=0).sum()
    return float(np.exp(entropy).mean())


def _shuffle_within(values: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Permute ``values`` within each run of equal, contiguous ``groups``."""
    order = np.lexsort((rng.random(len(values)), groups))
    return values[order]


def _dense_shuffled(codes: np.ndarray, rng: np.random.Generator, already_shuffled: bool = False) -> np.ndarray:
    """Re-encode ``codes`` to ``0..n-1`` over the values that occur, in a random order."""
    if not already_shuffled:
        codes = rng.permutation(int(codes.max()) + 1)[codes]
    _, dense = np.unique(codes, return_inverse=True)
    return dense.astype(np.int64)


def _check_knobs(p: dict) -> None:
    def rate(name):
        if not 0.0 <= p[name] <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p[name]!r}")

    for name in ("fresh_rate", "new_interest_rate", "same_category_rate", "theme_drift_rate"):
        rate(name)
    if int(p["n_users"]) < 1:
        raise ValueError(f"n_users must be at least 1, got {p['n_users']!r}")
    lo, hi = p["categories_per_theme"]
    if not 2 <= lo <= hi:
        raise ValueError(f"categories_per_theme must be (low, high) with 2 <= low <= high, got {(lo, hi)!r}")
    lo, hi = p["themes_per_user"]
    if not 1 <= lo <= hi:
        raise ValueError(f"themes_per_user must be (low, high) with 1 <= low <= high, got {(lo, hi)!r}")
    if hi >= p["n_themes"]:
        raise ValueError(f"themes_per_user's high ({hi}) must be below n_themes ({p['n_themes']})")
    lo, hi = p["history_length_range"]
    if not 2 <= lo <= hi:
        raise ValueError(f"history_length_range must be (low, high) with 2 <= low <= high, got {(lo, hi)!r}")
    if p["trigger_window"] < 1 or p["trigger_recency_scale"] <= 0:
        raise ValueError("trigger_window must be >= 1 and trigger_recency_scale > 0")


def describe(frame: pd.DataFrame, truth: SyntheticTruth | None = None) -> dict:
    """Headline figures of a log: rows, users, items, categories, history lengths (and truth shares)."""
    per_user = frame.groupby("user_id").size()
    out = {
        "rows": len(frame),
        "users": int(frame["user_id"].nunique()),
        "items": int(frame["item_id"].nunique()),
        "categories": int(frame["cate_id"].nunique()),
        "history_length_median": float(per_user.median()),
        "history_length_mean": round(float(per_user.mean()), 2),
    }
    if truth is not None:
        b = truth.behaviours
        out.update(
            themes=int(b["interest"].nunique()),
            fresh_share=round(float(b["fresh"].mean()), 4),
            new_interest_share=round(float(b["new_interest"].mean()), 4),
            distinct_themes_per_user_mean=round(float(b.groupby("user_id")["interest"].nunique().mean()), 2),
            effective_themes_per_user=round(interest_diversity(b), 2),
        )
    return out

