"""Checks for the exercises of notebooks/06_evaluation.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 06.1 ``check_gauc(my_gauc)``: the paper's user-weighted AUC (section 6.3) from the formula,
  against :func:`din_tutorial.metrics.gauc` on random cases with ties and single-class users.
* 06.2 ``check_auc_needed(auc_needed)``: RelaImpr read backwards, the AUC a model must reach for a
  given RelaImpr over a base model, checked by :func:`din_tutorial.metrics.rela_impr` on the paper's
  own pairs (Tables 3 and 5).
* 06.3 (optional) ``check_reliability_bins(my_bins)``: the points of a reliability curve, against
  scikit-learn's ``calibration_curve``.
"""
from __future__ import annotations

import math

import numpy as np

from ._core import ExerciseFailed, compare, exercise, refuse_calls  # noqa: F401

__all__: list[str] = ["check_gauc", "check_auc_needed", "check_reliability_bins"]


# ---------------------------------------------------------------------------- 06.1 GAUC
def _gauc_cases():
    """Random logs: users with 1 to 12 impressions, some with one class only, scores with many ties."""
    rng = np.random.default_rng(6)
    cases = []
    for k, (n_users, tie_digits) in enumerate([(8, 1), (40, 2), (25, None), (60, 1)]):
        sizes = rng.integers(1, 13, size=n_users)
        users = np.repeat(rng.permutation(1000)[:n_users], sizes)  # ids not sorted, not 0..n-1
        y = (rng.random(users.size) < 0.4).astype(np.int64)
        y[: sizes[0]] = 1  # the first user: positives only
        score = rng.random(users.size) + 0.3 * y
        if tie_digits is not None:
            score = np.round(score, tie_digits)  # ties within a user
        order = rng.permutation(users.size)  # rows of one user are not contiguous
        cases.append((y[order], score[order], users[order]))
    # the paper's protocol: one positive and one negative per user, so GAUC = share of users ordered right
    users = np.repeat(np.arange(30), 2)
    y = np.tile([1, 0], 30)
    score = rng.random(60) + 0.2 * y
    cases.append((y, score, users))
    return cases


def _per_user(y, p, u):
    from sklearn.metrics import roc_auc_score

    rows = []
    for user in np.unique(u):
        m = u == user
        n_pos = int(y[m].sum())
        rows.append((int(m.sum()), n_pos, roc_auc_score(y[m], p[m]) if 0 < n_pos < m.sum() else math.nan))
    return np.array(rows, dtype=np.float64)  # (users, 3): n, n_pos, auc


#: How close a GAUC must be to the reference: float32 rounding (a few 1e-8 on a number below 1) stays far below
#: it; the typical mistakes (ties, weights, skipped users) move the cases' GAUC by 1e-3 or more.
GAUC_TOL = 1e-6


def _gauc_variants(y, p, u) -> dict[str, float]:
    """What typical mistakes compute (their values tell the check which hint to give)."""
    r = _per_user(y, p, u)
    ok = ~np.isnan(r[:, 2])
    n, n_pos, a = r[ok, 0], r[ok, 1], r[ok, 2]
    return {
        "positives": float((n_pos * a).sum() / n_pos.sum()),
        "unweighted": float(a.mean()),
        "half": float((np.where(ok, r[:, 2], 0.5) * r[:, 0]).sum() / r[:, 0].sum()),
        "denominator": float((n * a).sum() / r[:, 0].sum()),
    }


_GAUC_HINTS = {
    "positives": "you weighted each user by their positives; the paper weights by impressions (all of the "
                 "user's samples, clicks and non-clicks)",
    "unweighted": "you took the plain mean of the users' AUCs; weight each user's AUC by their number of "
                  "impressions",
    "half": "users with one class only have no AUC: skip them entirely (do not count them as 0.5)",
    "denominator": "users with one class only were skipped in the numerator but their impressions still count "
                   "in the denominator: skip them in both sums",
}


@exercise("Exercise 06.1: GAUC from the paper's formula")
def check_gauc(my_gauc) -> list[str]:
    """``my_gauc(y_true, y_pred, user_ids)`` takes three 1-D NumPy arrays and returns a float.
    Compared with :func:`din_tutorial.metrics.gauc` on five random cases."""
    from ..comparison import per_user_auc
    from ..metrics import gauc
    from ..training import CTRTrainer, metrics_of

    # per_user_auc runs in the notebook just above the exercise: its per-user AUCs are the step to write;
    # metrics_of (the trainer's metrics) computes the same GAUC
    refuse_calls(my_gauc, "my_gauc", {gauc: "GAUC from its formula", per_user_auc: "each user's AUC",
                                      metrics_of: "GAUC from its formula", CTRTrainer: "GAUC from its formula"},
                 reference="din_tutorial.metrics.gauc")
    lines = []
    for i, (y, p, u) in enumerate(_gauc_cases()):
        want = gauc(y, p, u)
        try:
            got = my_gauc(y.copy(), p.copy(), u.copy())
        except ValueError as e:
            if "one class" in str(e) or "Only one class" in str(e):
                raise ExerciseFailed(f"case {i}: {e}. Hint: some users have only positives (or only negatives); "
                                     f"their AUC is undefined, so skip them") from None
            raise
        got = float(got)
        if math.isnan(got):
            raise ExerciseFailed(f"case {i}: your GAUC is NaN. Hint: a user with one class only has no AUC (NaN); "
                                 f"skip such users instead of averaging NaN in")
        if math.isclose(got, want, abs_tol=GAUC_TOL):
            n_users = len(np.unique(u))
            lines.append(f"case {i}: {y.size} impressions, {n_users} users: GAUC {got:.6f} = din_tutorial's")
            continue
        for name, value in _gauc_variants(y, p, u).items():
            if math.isclose(got, value, abs_tol=GAUC_TOL):
                raise ExerciseFailed(f"case {i}: you returned {got:.6f}, the reference is {want:.6f}. "
                                     f"Hint: {_GAUC_HINTS[name]}")
        digits = 6
        while f"{got:.{digits}f}" == f"{want:.{digits}f}" and digits < 17:  # enough digits to show the difference
            digits += 2
        if abs(got - want) < 1e-4:  # a rule's mistake moves these cases' GAUC by 1e-3 or more: lost precision
            hint = (f"your value differs from the reference by {abs(got - want):.1e}: more than rounding to float32 "
                    f"explains, less than a wrong rule gives. Compute the sums in float64 (NumPy's default) and "
                    f"look for an approximation")
        elif i in (0, 1, 3):
            hint = ("inside a user, a tie between a positive and a negative counts as half a correct pair "
                    "(rank the scores with ties averaged, or use sklearn's roc_auc_score per user)")
        else:
            hint = ("per user, AUC = share of (positive, negative) pairs ordered right; "
                    "GAUC = sum_u n_u AUC_u / sum_u n_u over users with both classes")
        raise ExerciseFailed(f"case {i}: you returned {got:.{digits}f}, the reference is {want:.{digits}f}. Hint: {hint}")
    lines.append("single-class users skipped, ties counted half, users weighted by impressions")
    return lines


# ---------------------------------------------------------------------------- 06.2 RelaImpr backwards
_NEEDED_CASES = [
    (0.8624, 5.35),  # paper Table 3, Amazon: DIN's RelaImpr over the BaseModel (DIN 0.8818)
    (0.8624, 6.82),  # DIN with Dice (0.8871)
    (0.7300, 2.09),  # MovieLens, DIN with Dice (0.7348)
    (0.5970, 11.65),  # Alibaba, Table 5: DIN with MBA Reg. and Dice (0.6083)
    (0.85, -10.0),  # a negative RelaImpr: a model worse than its base
    (0.70, 0.0),  # no gain: the base's own AUC
]


@exercise("Exercise 06.2: the AUC a RelaImpr asks for")
def check_auc_needed(auc_needed) -> list[str]:
    """``auc_needed(base_auc, rela_impr_pct)`` returns the AUC a model must reach to be ``rela_impr_pct``
    percent better than a base model with ``base_auc``, in the sense of the paper's RelaImpr (Eq. 11).
    Checked by putting the answer back into :func:`din_tutorial.metrics.rela_impr`."""
    from ..metrics import rela_impr

    lines = []
    for base_auc, pct in _NEEDED_CASES:
        want = 0.5 + (base_auc - 0.5) * (1.0 + pct / 100.0)
        got = auc_needed(base_auc, pct)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"auc_needed({base_auc}, {pct}) returned {got!r}. Hint: return one number, "
                                 f"an AUC") from None
        if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            back = rela_impr(got, base_auc)
            lines.append(f"base AUC {base_auc}, RelaImpr {pct:+.2f}% -> AUC {got:.4f} "
                         f"(and rela_impr({got:.4f}, {base_auc}) = {back:+.2f}%)")
            continue
        case = f"auc_needed({base_auc}, {pct}) returned {got:.6f}"
        if math.isclose(got, base_auc * (1 + pct / 100), rel_tol=1e-9):
            raise ExerciseFailed(f"{case}. Hint: that is a gain of {pct}% on the raw AUC; RelaImpr measures the gain "
                                 f"on the part of AUC ABOVE random guessing (0.5)")
        if math.isclose(got, 0.5 + (base_auc - 0.5) * (1 + pct), rel_tol=1e-9):
            raise ExerciseFailed(f"{case}. Hint: the RelaImpr is given in percent; turn it into a fraction first")
        if math.isclose(got, (base_auc - 0.5) * (1 + pct / 100), rel_tol=1e-9):
            raise ExerciseFailed(f"{case}. Hint: you computed the model's distance from 0.5; the AUC itself is "
                                 f"0.5 plus that distance")
        if math.isclose(got, 0.5 + (base_auc - 0.5) * (pct / 100), rel_tol=1e-9, abs_tol=1e-12):
            raise ExerciseFailed(f"{case}. Hint: a RelaImpr of 0% must give back the base model's AUC: the ratio "
                                 f"of the two distances from 0.5 is 1 + RelaImpr, not RelaImpr")
        raise ExerciseFailed(f"{case}; putting it into rela_impr gives {rela_impr(got, base_auc):+.4f}%, not "
                             f"{pct:+.2f}%. Hint: write RelaImpr's formula with the model's AUC as the unknown, "
                             f"and solve for it")
    lines.append("each answer, put back into rela_impr, gives the RelaImpr asked for")
    return lines


# ---------------------------------------------------------------------------- 06.3 reliability curve
def _calibration_cases():
    rng = np.random.default_rng(63)
    p = rng.beta(0.8, 1.5, size=2000)
    y = (rng.random(p.size) < p ** 1.3).astype(np.int64)  # a slightly over-confident model
    p2 = np.concatenate([rng.uniform(0.0, 0.38, 300), rng.uniform(0.62, 1.0, 300), [1.0, 1.0, 0.0]])
    y2 = (rng.random(p2.size) < p2).astype(np.int64)  # empty middle bins; scores of exactly 0 and 1
    return [(y, p, 10), (y2, p2, 10), (y, p, 7)]


@exercise("Exercise 06.3 (optional): the points of a reliability curve")
def check_reliability_bins(my_bins) -> list[str]:
    """``my_bins(y_true, y_prob, n_bins)`` returns ``(mean_predicted, observed_rate)``: for each non-empty
    bin of ``n_bins`` equal-width bins over [0, 1], the mean predicted probability and the share of
    positives. Compared with ``sklearn.calibration.calibration_curve(..., strategy="uniform")``."""
    from sklearn.calibration import CalibrationDisplay, calibration_curve

    refuse_calls(my_bins, "my_bins", {calibration_curve: "the binning", CalibrationDisplay: "the binning"},
                 reference="calibration_curve")
    lines = []
    for i, (y, p, n_bins) in enumerate(_calibration_cases()):
        observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
        out = my_bins(y.copy(), p.copy(), n_bins)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseFailed(f"case {i}: you returned {type(out).__name__}. Hint: return two arrays, "
                                 f"(mean_predicted, observed_rate)")
        got_pred, got_obs = (np.asarray(a, dtype=np.float64) for a in out)
        if got_pred.shape != predicted.shape:
            if got_pred.size == n_bins > predicted.size:
                raise ExerciseFailed(f"case {i}: {got_pred.size} points, expected {predicted.size}. Hint: leave out "
                                     f"the bins that hold no prediction (their mean is undefined)")
            if abs(got_pred.size - predicted.size) == 1 and (p == 1.0).any():
                raise ExerciseFailed(f"case {i}: {got_pred.size} points, expected {predicted.size}. Hint: a score of "
                                     f"exactly 1.0 belongs to the LAST bin (the bins are closed at 1)")
            raise ExerciseFailed(f"case {i}: {got_pred.size} points, expected {predicted.size}. Hint: {n_bins} bins of "
                                 f"equal width 1/{n_bins} over [0, 1]; one point per non-empty bin, in order")
        if np.allclose(got_pred, observed) and np.allclose(got_obs, predicted) and not np.allclose(got_pred, predicted):
            raise ExerciseFailed(f"case {i}: Hint: the two arrays are swapped; return (mean_predicted, observed_rate)")
        if (p == 1.0).any():
            _, pred_without_ones = calibration_curve(y[p < 1], p[p < 1], n_bins=n_bins, strategy="uniform")
            if pred_without_ones.shape == got_pred.shape and np.allclose(got_pred, pred_without_ones):
                raise ExerciseFailed(f"case {i}: the scores equal to 1.0 are missing. Hint: a score of exactly 1.0 "
                                     f"belongs to the LAST bin (the bins are closed at 1)")
        compare(got_pred, predicted, f"case {i}: mean predicted probability per bin",
                "the x of each point is the MEAN of the predicted probabilities in the bin (not the bin's centre); "
                "bins are equal-width over [0, 1], not quantiles", atol=1e-9)
        compare(got_obs, observed, f"case {i}: observed rate per bin",
                "the y of each point is the share of positives (y_true == 1) among the bin's samples", atol=1e-9)
        lines.append(f"case {i}: {predicted.size} non-empty bins of {n_bins}, equal to sklearn's calibration_curve")
    return lines
