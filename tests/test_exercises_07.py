"""Exercises of notebooks/07_visualization.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial.checks import ExerciseFailed, check_pca_2d, check_theme_rank_auc, theme_rank_auc_reference


@pytest.mark.parametrize("name", ["07_visualization_ex2", "07_visualization_ex1"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 07.2 PCA by hand
def _svd(X):
    return np.linalg.svd(X, full_matrices=False)


def not_centred(X):
    _, _, Vt = _svd(X)
    return X @ Vt[:2].T


def centred_by_row(X):
    Xc = X - X.mean(axis=1, keepdims=True)
    _, _, Vt = _svd(Xc)
    return Xc @ Vt[:2].T


def columns_of_vt(X):
    Xc = X - X.mean(axis=0)
    _, _, Vt = _svd(Xc)
    return Xc @ Vt[:, :2]


def u_only(X):
    U, _, _ = _svd(X - X.mean(axis=0))
    return U[:, :2]


def smallest(X):
    Xc = X - X.mean(axis=0)
    _, _, Vt = _svd(Xc)
    return Xc @ Vt[-2:].T


def transposed(X):
    Xc = X - X.mean(axis=0)
    _, _, Vt = _svd(Xc)
    return (Xc @ Vt[:2].T).T


@pytest.mark.parametrize("wrong, words", [
    (not_centred, "centre the data first"),
    (centred_by_row, "not each row's"),
    (columns_of_vt, "ROWS of Vt"),
    (u_only, "scaled wrongly"),
    (smallest, "two smallest"),
    (transposed, "one row per point"),
])
def test_pca_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_pca_2d(wrong)


def test_pca_check_accepts_flipped_signs_and_torch():
    import torch

    def flipped(X):
        Xc = torch.as_tensor(X) - torch.as_tensor(X).mean(0)
        _, _, V = torch.linalg.svd(Xc, full_matrices=False)
        return -(Xc @ V[:2].T)

    assert check_pca_2d(flipped)


# ---- 07.1 does the attention order the behaviours by theme?
def _pairs(m, s):
    return ((m & s).unsqueeze(2) & (m & ~s).unsqueeze(1)).float()


def _auc(a, m, s, tie=0.5, undefined=None):
    first, second = a.unsqueeze(2), a.unsqueeze(1)
    score = (first > second).float() + tie * (first == second).float()
    p = _pairs(m, s)
    out = (score * p).sum((1, 2)) / p.sum((1, 2))
    return out if undefined is None else torch.nan_to_num(out, nan=undefined)


def right(w, m, s):
    return _auc(w.abs(), m, s)


def signed(w, m, s):
    return _auc(w, m, s)


def with_padding(w, m, s):
    return _auc(w.abs(), torch.ones_like(m), s)


def ties_lose(w, m, s):
    return _auc(w.abs(), m, s, tie=0.0)


def ties_win(w, m, s):
    return _auc(w.abs(), m, s, tie=1.0)


def undefined_as_half(w, m, s):
    return _auc(w.abs(), m, s, undefined=0.5)


def reversed_order(w, m, s):
    return 1 - _auc(w.abs(), m, s)


def one_number(w, m, s):
    a, p = w.abs(), _pairs(m, s)
    score = (a.unsqueeze(2) > a.unsqueeze(1)).float() + 0.5 * (a.unsqueeze(2) == a.unsqueeze(1)).float()
    return (score * p).sum() / p.sum()


def by_all_pairs(w, m, s):  # divides by every pair of the row, not by the (same, other) pairs
    a, p = w.abs(), _pairs(m, s)
    score = (a.unsqueeze(2) > a.unsqueeze(1)).float() + 0.5 * (a.unsqueeze(2) == a.unsqueeze(1)).float()
    return (score * p).sum((1, 2)) / (m.sum(1) ** 2)



@pytest.mark.parametrize("wrong, words", [
    (signed, "change sign"),
    (with_padding, "padded steps are counted"),
    (ties_lose, "as a loss"),
    (ties_win, "as a win"),
    (undefined_as_half, "undefined"),
    (reversed_order, "wrong way"),
    (one_number, "one number per row"),
    (by_all_pairs, "differ from the reference"),
])
def test_rank_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_theme_rank_auc(wrong)


def test_rank_check_accepts_a_vectorised_torch_answer():
    assert check_theme_rank_auc(right)


def test_reference_against_sklearn_and_its_invariances():
    from sklearn.metrics import roc_auc_score

    gen = torch.Generator().manual_seed(0)
    w = torch.randn(5, 9, generator=gen)
    m = torch.arange(9)[None, :] < torch.tensor([9, 7, 4, 9, 2])[:, None]
    s = torch.rand(5, 9, generator=gen) < 0.5
    s[:, 0], s[:, 1] = True, False  # every row has both kinds
    got = theme_rank_auc_reference(w, m, s)
    for r in range(5):
        real = m[r].numpy()
        assert abs(got[r] - roc_auc_score(s[r].numpy()[real], w[r].abs().numpy()[real])) < 1e-12
    assert np.allclose(theme_rank_auc_reference(-3.0 * w, m, s), got)  # a negative common factor changes nothing
    flat = theme_rank_auc_reference(torch.ones(5, 9), m, s)
    assert np.allclose(flat, 0.5)  # weights that ignore the theme: 0.5, whatever the mix


@pytest.mark.parametrize("check", [check_pca_2d, check_theme_rank_auc])
def test_stub_is_todo(check, capsys):
    assert_stub_is_todo(check, capsys)


def test_wrappers_of_what_the_exercise_asks_for_are_refused():
    """07.1 and 07.2: an answer that calls the check's reference or scikit-learn's PCA is no answer."""
    from sklearn.decomposition import PCA

    from din_tutorial.checks import ExerciseFailed, check_pca_2d, check_theme_rank_auc
    from din_tutorial.checks.visualization_checks import theme_rank_auc_reference

    def wrapped_rank(weights, mask, same):
        return theme_rank_auc_reference(weights, mask, same)

    def wrapped_pca(X):
        return PCA(n_components=2).fit_transform(X)

    with pytest.raises(ExerciseFailed, match="calls theme_rank_auc_reference"):
        check_theme_rank_auc(wrapped_rank)
    with pytest.raises(ExerciseFailed, match="calls PCA"):
        check_pca_2d(wrapped_pca)


def _a_fitted_pca():
    from sklearn.decomposition import PCA

    return PCA(n_components=2).fit(np.random.default_rng(0).normal(size=(50, 16)))


pca = _a_fitted_pca()  # as section 4a of the notebook leaves one in scope


def refit_the_notebooks_pca(X):
    return pca.fit(X).transform(X)


def read_the_refitted_components(X):
    pca.fit(X)
    return (X - X.mean(axis=0)) @ pca.components_.T


def project_with_the_fitted_mean(X):  # fitted elsewhere, read here
    return (X - pca.mean_) @ pca.components_.T


@pytest.mark.parametrize("shortcut, name", [
    (refit_the_notebooks_pca, "fit"),
    (read_the_refitted_components, "fit"),
    (project_with_the_fitted_mean, "components_"),
])
def test_a_fitted_estimator_in_scope_is_refused(shortcut, name):
    """07.2: section 4a leaves a fitted PCA in the notebook's scope; refitting it, or reading it, is no answer."""
    with pytest.raises(ExerciseFailed, match=f"calls {name}: the exercise is to write the centring and the SVD"):
        check_pca_2d(shortcut)


def test_the_refit_shortcut_would_pass_without_the_refusal(monkeypatch):
    import din_tutorial.checks.visualization_checks as vc

    monkeypatch.setattr(vc, "refuse_calls", lambda *args, **kwargs: None)
    assert check_pca_2d(refit_the_notebooks_pca) is True


# ---- review findings: the reference, imported in the notebook's first cell, under another name
theme_rank_auc = theme_rank_auc_reference  # what a learner may write: the reference itself as the answer
ref = theme_rank_auc_reference


@pytest.mark.parametrize("shortcut, words", [
    (theme_rank_auc, "calls theme_rank_auc_reference, which the checks define"),
    (lambda w, m, s: ref(w, m, s), "calls theme_rank_auc_reference \\(as ref\\), which the checks define"),
])
def test_rank_check_refuses_its_reference_under_any_name(shortcut, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_theme_rank_auc(shortcut)


class Projector:  # the learner's own class with a method named like an estimator's: fine
    def fit(self, X):
        Xc = X - X.mean(axis=0)
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
        return Xc @ vt[:2].T


projector = Projector()


def test_pca_check_accepts_an_own_class_and_refuses_an_alias_of_pca():
    from sklearn.decomposition import PCA

    assert check_pca_2d(lambda X: projector.fit(X)) is True
    P = PCA
    with pytest.raises(ExerciseFailed, match="calls PCA \\(as P\\): the exercise is to write the centring"):
        check_pca_2d(lambda X: P(2).fit_transform(X))
