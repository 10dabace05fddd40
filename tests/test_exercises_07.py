"""Exercises of notebooks/07_visualization.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial.checks import ExerciseFailed, check_attention_share, check_pca_2d


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


# ---- 07.1 the share of attention mass
def no_abs(w, m, s):
    return (w * m * s).sum(1) / (w * m).sum(1)


def no_mask(w, m, s):
    return (w.abs() * s).sum(1) / w.abs().sum(1)


def by_count(w, m, s):
    return (w.abs() * m * s).sum(1) / m.sum(1)


def one_number(w, m, s):
    a = w.abs() * m
    return (a * s).sum() / a.sum()


def positive_only(w, m, s):
    a = w.clamp_min(0) * m  # drops the negative weights instead of counting their size
    return (a * s).sum(1) / a.sum(1)


@pytest.mark.parametrize("wrong, words", [
    (positive_only, "part of a whole"),
    (no_abs, "magnitudes"),
    (no_mask, "padded steps are counted"),
    (by_count, "divided by a number of steps"),
    (one_number, "one share per row"),
])
def test_share_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_attention_share(wrong)


@pytest.mark.parametrize("check", [check_pca_2d, check_attention_share])
def test_stub_is_todo(check, capsys):
    assert_stub_is_todo(check, capsys)
