"""Comparing models on the same test users: per-user AUC, a bootstrap over users, gains by group.

GAUC (paper section 6.3) is a weighted mean of per-user AUCs, so everything here starts from
:func:`per_user_auc`: one row per user, one column per model. A bootstrap over users redraws
those rows with replacement; because every model is scored on the *same* draw, the interval of
a difference is narrower than the two models' own intervals suggest. :func:`gain_by_group`
breaks a gain down by a user attribute (history length, number of interests, ...) with an
interval per group, and :func:`plot_gain` draws such tables.

Taught in notebooks/06_evaluation.ipynb (sections 6 and 7).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["bootstrap_draws", "bootstrap_gauc", "gain_by_group", "per_user_auc", "plot_gain"]


def per_user_auc(y_true, scores: Mapping[str, object], user_ids) -> tuple[pd.DataFrame, pd.Series]:
    """Each user's AUC under each model, and the user's number of impressions (the GAUC weight).

    Users whose samples are all of one class have no AUC and are left out (as in
    :func:`din_tutorial.metrics.gauc`); ties count half. With one positive and one negative per
    user, a user's AUC is 1 if the positive outscores the negative, 0.5 for a tie, 0 otherwise.

    Args:
        y_true: ``(n,)`` labels 0/1.
        scores: model name -> ``(n,)`` scores, in the order of ``y_true``.
        user_ids: ``(n,)`` the user of each sample.

    Returns:
        ``(aucs, impressions)``: a frame indexed by user with one column per model, and a Series
        with each user's number of samples. ``(aucs * impressions).sum() / impressions.sum()`` is
        each model's GAUC. Taught in notebooks/06_evaluation.ipynb.
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    u = np.asarray(user_ids).ravel()
    if u.shape != y.shape:
        raise ValueError(f"user_ids has {u.size} values but y_true has {y.size}; give one user per sample")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold labels 0 and 1 only")
    if not scores:
        raise ValueError("scores is empty: pass {model name: scores}, e.g. {'DIN': din_scores}")
    frame = pd.DataFrame({"u": u, "y": y})
    counts = frame.groupby("u").agg(n=("y", "size"), n_pos=("y", "sum"))
    n_neg = counts["n"] - counts["n_pos"]
    ok = (counts["n_pos"] > 0) & (n_neg > 0)
    if not ok.any():
        raise ValueError("no user has both a positive and a negative sample: per-user AUC is undefined for all")
    aucs = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=np.float64).ravel()
        if s.shape != y.shape:
            raise ValueError(f"scores[{name!r}] has {s.size} values but y_true has {y.size}; score every sample")
        # within a user: AUC_u = (sum of the positives' ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg)
        rank = frame.assign(s=s).groupby("u")["s"].rank(method="average").to_numpy()
        rank_pos = pd.Series(rank * y).groupby(u).sum()
        aucs[name] = ((rank_pos - counts["n_pos"] * (counts["n_pos"] + 1) / 2) / (counts["n_pos"] * n_neg))[ok]
    return pd.DataFrame(aucs), counts.loc[ok, "n"].astype(np.int64).rename("impressions")


def bootstrap_draws(n_users: int, n_boot: int = 2000, seed: int = 2022) -> np.ndarray:
    """``(n_boot, n_users)``: how many times each user is picked in each bootstrap draw.

    A draw picks ``n_users`` users with replacement; writing it as counts
    (``rng.multinomial``) turns all draws into one matrix product. Taught in notebooks/06_evaluation.ipynb.
    """
    if int(n_users) < 1 or int(n_boot) < 1:
        raise ValueError(f"n_users and n_boot must be positive, got {n_users} and {n_boot}")
    rng = np.random.default_rng(seed)
    return rng.multinomial(int(n_users), np.full(int(n_users), 1.0 / int(n_users)), size=int(n_boot))


def _check_aligned(aucs: pd.DataFrame, impressions: pd.Series | None) -> np.ndarray:
    if not isinstance(aucs, pd.DataFrame) or aucs.empty:
        raise ValueError("aucs must be a non-empty frame of per-user AUCs (users x models), from per_user_auc")
    if impressions is None:
        return np.ones(len(aucs))
    w = pd.Series(impressions).reindex(aucs.index)
    if w.isna().any():
        raise ValueError("impressions lacks some users of aucs: pass the pair that per_user_auc returned")
    return w.to_numpy(np.float64)


def bootstrap_gauc(aucs: pd.DataFrame, impressions: pd.Series | None = None,
                   pairs: Sequence[tuple[str, str]] = (), n_boot: int = 2000, seed: int = 2022,
                   level: float = 0.95, return_draws: bool = False):
    """GAUC of each model and of each difference ``a - b`` in ``pairs``, with a bootstrap interval over users.

    Each draw resamples users with replacement and recomputes every GAUC as the
    impression-weighted mean of the drawn users' AUCs; all models see the same draws.

    Returns:
        A frame indexed by model and ``"a - b"``, with the point estimate (``"GAUC or
        difference"``), the interval's ends (``"95% low"``, ``"95% high"`` for ``level=0.95``) and
        the share of draws at or below 0. With ``return_draws``, also the ``(n_boot, columns)``
        frame of draws. Taught in notebooks/06_evaluation.ipynb.
    """
    w = _check_aligned(aucs, impressions)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    for a, b in pairs:
        for name in (a, b):
            if name not in aucs.columns:
                raise ValueError(f"pairs names {name!r}, which is not a model in aucs ({list(aucs.columns)})")
    values = aucs.to_numpy(np.float64)  # (users, models)
    picks = bootstrap_draws(len(aucs), n_boot, seed) * w  # (draws, users): drawn impressions
    draws = pd.DataFrame(picks @ values / picks.sum(axis=1, keepdims=True), columns=aucs.columns)
    point = pd.Series(w @ values / w.sum(), index=aucs.columns)
    for a, b in pairs:
        draws[f"{a} - {b}"] = draws[a] - draws[b]
        point[f"{a} - {b}"] = point[a] - point[b]
    pct = round(100 * level)
    table = pd.DataFrame({"GAUC or difference": point,
                          f"{pct}% low": draws.quantile((1 - level) / 2),
                          f"{pct}% high": draws.quantile(1 - (1 - level) / 2),
                          "share of draws <= 0": (draws <= 0).mean()})
    return (table, draws) if return_draws else table


def gain_by_group(aucs: pd.DataFrame, groups, model: str, base: str, impressions: pd.Series | None = None,
                  n_boot: int = 1000, seed: int = 2022, level: float = 0.95) -> pd.DataFrame:
    """Per group of users: its size, each model's GAUC, ``model``'s gain over ``base`` and a bootstrap interval.

    Args:
        aucs, impressions: from :func:`per_user_auc`.
        groups: a Series indexed by user (e.g. ``pd.cut`` of the history length); users without a
            group are left out. Its name names the table's index.
        model, base: columns of ``aucs``; the gain is ``GAUC(model) - GAUC(base)`` within the group.

    The bootstrap resamples users within each group. Taught in notebooks/06_evaluation.ipynb.
    """
    w_all = _check_aligned(aucs, impressions)
    for name in (model, base):
        if name not in aucs.columns:
            raise ValueError(f"{name!r} is not a model in aucs ({list(aucs.columns)})")
    if not isinstance(groups, pd.Series):
        raise TypeError("groups must be a pandas Series indexed by user (e.g. pd.cut(users_info['length'], ...))")
    groups = groups.reindex(aucs.index)
    pct = round(100 * level)
    rows = {}
    weights = pd.Series(w_all, index=aucs.index)
    for i, (g, part) in enumerate(aucs.groupby(groups, observed=True)):
        w = weights.loc[part.index].to_numpy()
        gain = (part[model] - part[base]).to_numpy()
        picks = bootstrap_draws(len(part), n_boot, seed + i) * w
        boot_gain = picks @ gain / picks.sum(axis=1)
        rows[g] = {"users": len(part), **{c: float(w @ part[c].to_numpy() / w.sum()) for c in aucs.columns},
                   f"{model} - {base}": float(w @ gain / w.sum()),
                   f"{pct}% low": float(np.quantile(boot_gain, (1 - level) / 2)),
                   f"{pct}% high": float(np.quantile(boot_gain, 1 - (1 - level) / 2))}
    if not rows:
        raise ValueError("no user falls into a group: check that groups is indexed by the users of aucs")
    return pd.DataFrame(rows).T.astype({"users": int}).rename_axis(groups.name)


def plot_gain(tables: Sequence[pd.DataFrame], gain: str | None = None, axes=None):
    """One panel per table of :func:`gain_by_group`: the gain per group with its interval, users under each group.

    ``gain``: the gain column (default: the one column whose name holds ``" - "``). Returns the
    Matplotlib figure. Taught in notebooks/06_evaluation.ipynb.
    """
    import matplotlib.pyplot as plt

    if isinstance(tables, pd.DataFrame):
        tables = [tables]
    if not tables:
        raise ValueError("tables is empty: pass a list of gain_by_group tables")
    if axes is None:
        fig, axes = plt.subplots(1, len(tables), figsize=(5.5 * len(tables), 3.6), sharey=True, squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    for ax, table in zip(axes, tables):
        col = gain or next((c for c in table.columns if " - " in str(c)), None)
        lows = [c for c in table.columns if str(c).endswith("% low")]
        highs = [c for c in table.columns if str(c).endswith("% high")]
        if col not in table.columns or not lows or not highs or "users" not in table.columns:
            raise ValueError(f"table with columns {list(table.columns)} is not from gain_by_group: it needs "
                             f"'users', a gain column 'A - B' and the interval's '% low' / '% high'")
        xs = np.arange(len(table))
        g = table[col].to_numpy(float)
        err = np.vstack([g - table[lows[0]].to_numpy(float), table[highs[0]].to_numpy(float) - g])
        ax.errorbar(xs, g, yerr=err, fmt="o", capsize=4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(xs, [f"{i}\n({n} users)" for i, n in zip(table.index, table["users"])], fontsize=8)
        ax.set(xlabel=table.index.name, title=f"GAUC gain {col}, {lows[0].split('%')[0]}% interval")
    axes[0].set_ylabel("GAUC difference")
    fig.tight_layout()
    return fig
