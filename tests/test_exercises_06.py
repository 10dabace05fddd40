"""Exercises of notebooks/06_evaluation.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from exercise_utils import assert_solution_passes, assert_stub_is_todo
from sklearn.metrics import roc_auc_score

from din_tutorial.checks import ExerciseFailed, check_gauc, check_auc_needed, check_reliability_bins


@pytest.mark.parametrize("name", ["06_evaluation_ex1", "06_evaluation_ex2", "06_evaluation_ex3"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 06.1 GAUC
def _gauc(weight="n", skip=True, unweighted=False, tie_break=False):
    def f(y, p, u):
        aucs, weights = [], []
        for user in np.unique(u):
            m = u == user
            has_both = 0 < y[m].sum() < m.sum()
            if not has_both and skip:
                continue
            if tie_break:
                ranks = np.argsort(np.argsort(p[m], kind="stable")) + 1.0  # ordinal ranks: ties not averaged
                n_pos = y[m].sum()
                a = (ranks[y[m] == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (m.sum() - n_pos))
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    a = roc_auc_score(y[m], p[m]) if has_both else np.nan
            aucs.append(a)
            weights.append(y[m].sum() if weight == "pos" else m.sum())
        aucs, weights = np.array(aucs), np.array(weights, dtype=float)
        return aucs.mean() if unweighted else (aucs * weights).sum() / weights.sum()

    return f


def _raises_like_old_sklearn(y, p, u):
    for user in np.unique(u):
        m = u == user
        if y[m].min() == y[m].max():
            raise ValueError("Only one class present in y_true. ROC AUC score is not defined in that case.")
    return 0.5


@pytest.mark.parametrize("wrong, words", [
    (_gauc(weight="pos"), "by their positives"),
    (_gauc(unweighted=True), "plain mean"),
    (_gauc(skip=False), "skip such users"),
    (_raises_like_old_sklearn, "skip them"),
    (_gauc(tie_break=True), "counts as half"),
])
def test_gauc_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_gauc(wrong)


def test_gauc_check_refuses_the_package_function_whose_numbers_it_accepts(monkeypatch):
    """The reference is vectorised and right: with the refusal switched off it passes; as an answer it is refused
    (the notebook calls it just above the exercise)."""
    import din_tutorial.checks.evaluation_checks as ec
    from din_tutorial.metrics import gauc

    with pytest.raises(ExerciseFailed, match="calls gauc: the exercise is to write GAUC from its formula"):
        check_gauc(gauc)
    monkeypatch.setattr(ec, "refuse_calls", lambda *args, **kwargs: None)
    assert check_gauc(gauc)


# ---- 06.2 the AUC a RelaImpr asks for
@pytest.mark.parametrize("wrong, words", [
    (lambda b, r: b * (1 + r / 100), "raw AUC"),
    (lambda b, r: 0.5 + (b - 0.5) * (1 + r), "percent"),
    (lambda b, r: (b - 0.5) * (1 + r / 100), "0.5 plus"),
    (lambda b, r: 0.5 + (b - 0.5) * r / 100, "not RelaImpr"),
    (lambda b, r: b + r / 100, "solve for it"),
    (lambda b, r: None, "one number"),
])
def test_auc_needed_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_auc_needed(wrong)


def test_auc_needed_inverts_the_package_rela_impr():
    from din_tutorial.metrics import rela_impr

    lines = check_auc_needed(lambda b, r: 0.5 + (b - 0.5) * (1 + r / 100))
    assert lines
    assert abs(rela_impr(0.5 + (0.8624 - 0.5) * 1.0535, 0.8624) - 5.35) < 1e-9


# ---- 06.3 reliability bins
def _bins(clip=True, keep_empty=False, centres=False, swap=False, drop_ones=False):
    def f(y, p, n):
        if drop_ones:
            y, p = y[p < 1], p[p < 1]
        idx = (p * n).astype(int)
        if clip:
            idx = np.minimum(idx, n - 1)
        count = np.bincount(idx, minlength=n)
        keep = np.ones_like(count, bool) if keep_empty else count > 0
        with np.errstate(all="ignore"):
            pred = np.bincount(idx, weights=p, minlength=n)[keep] / count[keep]
            obs = np.bincount(idx, weights=y, minlength=n)[keep] / count[keep]
        if centres:
            pred = (np.flatnonzero(keep) + 0.5) / n
        return (obs, pred) if swap else (pred, obs)

    return f


@pytest.mark.parametrize("wrong, words", [
    (_bins(clip=False), "LAST bin"),
    (_bins(drop_ones=True), "LAST bin"),
    (_bins(keep_empty=True), "leave out the bins"),
    (_bins(centres=True), "MEAN of the predicted"),
    (_bins(swap=True), "swapped"),
])
def test_reliability_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_reliability_bins(wrong)


@pytest.mark.parametrize("check", [check_gauc, check_auc_needed, check_reliability_bins])
def test_stub_is_todo(check, capsys):
    assert_stub_is_todo(check, capsys)


def test_wrappers_of_what_the_exercise_asks_for_are_refused():
    """06.1 and 06.3: an answer that calls the package's GAUC or scikit-learn's reliability curve is no answer."""
    from sklearn.calibration import calibration_curve

    from din_tutorial import metrics as M
    from din_tutorial.checks import ExerciseFailed, check_gauc, check_reliability_bins

    def wrapped_gauc(y, p, u):
        return M.gauc(y, p, u)

    def wrapped_bins(y, p, n_bins):
        observed, predicted = calibration_curve(y, p, n_bins=n_bins)
        return predicted, observed

    with pytest.raises(ExerciseFailed, match="calls gauc"):
        check_gauc(wrapped_gauc)
    with pytest.raises(ExerciseFailed, match="calls calibration_curve"):
        check_reliability_bins(wrapped_bins)


def test_gauc_check_refuses_the_per_user_auc_shown_above_the_exercise():
    """06.1: the notebook calls per_user_auc before the exercise; weighting its per-user AUCs is no answer."""
    from din_tutorial.comparison import per_user_auc

    def weighted_per_user_auc(y, p, u):
        aucs, impressions = per_user_auc(y, {"model": p}, u)
        weights = impressions.reindex(aucs.index)
        return float((aucs["model"] * weights).sum() / weights.sum())

    y, p, u = np.tile([1, 0], 30), np.random.default_rng(0).random(60), np.repeat(np.arange(30), 2)
    from din_tutorial.metrics import gauc

    assert abs(weighted_per_user_auc(y, p, u) - gauc(y, p, u)) < 1e-12, "unrefused, the wrapper would pass"
    with pytest.raises(ExerciseFailed, match="calls per_user_auc"):
        check_gauc(weighted_per_user_auc)


# ---- review findings: the package's GAUC and scikit-learn's curve under other names; a float32 answer
from din_tutorial import metrics as M

my_gauc = M.gauc  # what a learner may write right under the notebook's cell that calls M.gauc
_g = M.gauc


def _per_user_alias():
    from din_tutorial.comparison import per_user_auc

    return per_user_auc


pua = _per_user_alias()


def through_the_aliased_per_user_auc(y, p, u):
    aucs, n = pua(y, {"m": p}, u)
    ok = aucs["m"].notna()
    return float((aucs["m"][ok] * n[ok]).sum() / n[ok].sum())


def _closure_over_gauc():
    g = M.gauc
    return lambda y, p, u: g(y, p, u)


def _cc():
    from sklearn.calibration import calibration_curve

    return calibration_curve


cc = _cc()


@pytest.mark.parametrize("shortcut, words", [
    (my_gauc, "calls gauc: the exercise is to write GAUC"),
    (lambda y, p, u: _g(y, p, u), "calls gauc \\(as _g\\): the exercise is to write GAUC"),
    (_closure_over_gauc(), "calls gauc \\(as g\\)"),
    (lambda y, p, u, f=M.gauc: f(y, p, u), "calls gauc"),
    (through_the_aliased_per_user_auc, "calls per_user_auc \\(as pua\\): the exercise is to write each user's AUC"),
])
def test_gauc_check_refuses_the_package_under_any_name(shortcut, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_gauc(shortcut)


def test_reliability_check_refuses_an_alias_of_calibration_curve():
    with pytest.raises(ExerciseFailed, match="calls calibration_curve \\(as cc\\): the exercise is to write the binning"):
        check_reliability_bins(lambda y, p, n_bins: cc(y, p, n_bins=n_bins)[::-1])


def per_user_auc(y, p, u):  # the learner's own helper, named like the package's: fine
    out = []
    for user in np.unique(u):
        m = u == user
        if 0 < y[m].sum() < m.sum():
            out.append((m.sum(), roc_auc_score(y[m], p[m])))
    return np.array(out, dtype=np.float64)


def gauc_in_float32(y, p, u):  # right, returned as float32 (its rounding is a few 1e-8)
    r = per_user_auc(y, p, u)
    return np.float32((r[:, 0] * r[:, 1]).sum() / r[:, 0].sum())


def gauc_off_by_a_little(y, p, u):  # wrong by 3e-6: more than float32 rounding, far less than a wrong rule
    r = per_user_auc(y, p, u)
    return float((r[:, 0] * r[:, 1]).sum() / r[:, 0].sum()) + 3e-6


def test_gauc_check_accepts_float32_and_an_own_helper_and_does_not_blame_ties_for_a_tiny_difference():
    assert check_gauc(gauc_in_float32) is True
    with pytest.raises(ExerciseFailed, match="differs from the reference by 3.0e-06: more than rounding") as err:
        check_gauc(gauc_off_by_a_little)
    assert "tie" not in str(err.value)


class _CallsGauc:  # a callable instance whose __call__ is the package's GAUC
    def __call__(self, y, p, u):
        return M.gauc(y, p, u)


class _KeepsGauc:  # ... or which keeps it on self
    def __init__(self):
        self.f = M.gauc

    def __call__(self, y, p, u):
        return self.f(y, p, u)


_TABLE = {"g": M.gauc}


def _from_a_dict(y, p, u):
    return _TABLE["g"](y, p, u)


def _from_the_trainers_metrics(y, p, u):
    from din_tutorial.training import metrics_of

    return metrics_of({"y_true": y, "y_pred": p, "user_ids": u})["gauc"]


class _OwnClass:  # the learner's own callable class, computing it: fine
    def __call__(self, y, p, u):
        r = per_user_auc(y, p, u)
        return float((r[:, 0] * r[:, 1]).sum() / r[:, 0].sum())


@pytest.mark.parametrize("shortcut, words", [
    (_CallsGauc(), "calls gauc"), (_KeepsGauc(), "calls gauc \\(as f\\)"), (_from_a_dict, "calls gauc \\(as _TABLE\\)"),
    (_from_the_trainers_metrics, "calls metrics_of"),
])
def test_gauc_check_refuses_a_callable_instance_a_container_and_the_trainers_metrics(shortcut, words):
    """The third read's wrappers: a callable class, a dict holding gauc, the trainer's metrics_of."""
    with pytest.raises(ExerciseFailed, match=words):
        check_gauc(shortcut)
    assert check_gauc(_OwnClass()) is True
