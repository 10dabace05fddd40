"""Checks for the exercises of notebooks/07_visualization.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 07.2 ``check_pca_2d(pca_2d)``: PCA to two dimensions by hand, against scikit-learn's ``PCA``.
* 07.1 ``check_attention_share(same_theme_share)``: the share of the attention mass ``|w|`` on
  the behaviours that share the candidate's theme, against
  :func:`din_tutorial.visualize.attention_mass_share`.
"""
from __future__ import annotations

import numpy as np

from ._core import ExerciseFailed, compare, exercise  # noqa: F401

__all__: list[str] = ["check_pca_2d", "check_attention_share"]


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _pca_data(seed: int = 7, n: int = 300, d: int = 16) -> np.ndarray:
    """Correlated points with well separated variances and an offset far from 0 (so centring matters)."""
    rng = np.random.default_rng(seed)
    scales = np.linspace(3.0, 0.2, d)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return rng.normal(size=(n, d)) * scales @ rotation.T + rng.normal(2.0, 1.0, size=d)


def _align_signs(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Flip each of ``got``'s columns to point the way ``want``'s does (a component's sign is arbitrary)."""
    signs = np.sign((got * want).sum(axis=0))
    signs[signs == 0] = 1.0
    return got * signs


def _close_up_to_sign(got: np.ndarray, want: np.ndarray, tol: float) -> bool:
    return got.shape == want.shape and np.allclose(_align_signs(got, want), want, atol=tol, rtol=1e-4)


@exercise("Exercise 07.2: PCA to 2-D from scratch")
def check_pca_2d(pca_2d, X=None) -> list[str]:
    """``pca_2d(X)`` takes an ``(n, d)`` array and returns the ``(n, 2)`` coordinates on the first two
    principal components. Compared with ``sklearn.decomposition.PCA(2).fit_transform(X)`` up to the
    sign of each component; ``X`` defaults to a synthetic cloud (pass the item embeddings to try yours)."""
    from sklearn.decomposition import PCA

    X = _pca_data() if X is None else _np(X).astype(np.float64)
    want = PCA(n_components=2, svd_solver="full").fit_transform(X)
    got = _np(pca_2d(X.copy())).astype(np.float64)
    tol = 1e-6 * max(1.0, float(np.abs(want).max()))
    if got.shape != want.shape:
        hint = "return one row per point and one column per component: shape (n, 2)"
        if got.shape in ((X.shape[1], 2), (2, X.shape[1])):
            hint = ("these look like the two directions themselves (d numbers each); project the centred points "
                    "onto them to get each point's 2 coordinates")
        raise ExerciseFailed(f"shape {got.shape}, expected {want.shape}. Hint: {hint}")
    if np.isnan(got).any():
        raise ExerciseFailed("your coordinates hold NaN. Hint: work on the centred data, and no division is needed")
    if not _close_up_to_sign(got, want, tol):
        means = np.abs(got.mean(axis=0))
        if means.max() > 1e-6 * max(1.0, float(np.abs(got).max())) * 100:
            raise ExerciseFailed(
                "your coordinates do not average to 0 over the points. Hint: centre the data first: subtract each "
                "column's mean (the mean over the points, axis=0), not each row's"
            )
        Xc = X - X.mean(axis=0)
        U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
        if _close_up_to_sign(got, U[:, :2], tol):
            raise ExerciseFailed("your coordinates are scaled wrongly. Hint: U's columns all have length 1, so they "
                                 "lose how far the cloud spreads along each direction; a coordinate is how far a "
                                 "centred point lies along a direction")
        if _close_up_to_sign(got, Xc @ Vt[:, :2], tol):
            raise ExerciseFailed("wrong directions. Hint: NumPy's svd returns V transposed: the principal directions "
                                 "are the ROWS of Vt (the columns of V), not its columns")
        if _close_up_to_sign(got, Xc @ Vt[-2:].T, tol) or _close_up_to_sign(got, Xc @ Vt[-2:][::-1].T, tol):
            raise ExerciseFailed("you kept the two smallest components. Hint: keep the directions with the largest "
                                 "singular values (svd sorts them largest first)")
        raise ExerciseFailed("the coordinates differ from scikit-learn's PCA even up to sign. Hint: PCA describes "
                             "the cloud around its centre, its directions come from the SVD of that centred cloud, "
                             "and each point's coordinates are measured along the first two of them")
    aligned = _align_signs(got, want)
    diff = float(np.abs(aligned - want).max())
    var = got.var(axis=0, ddof=1)
    return [
        f"shape {got.shape}, max |difference| to sklearn's PCA after matching signs = {diff:.1e}",
        f"variance along each component: {var[0]:.3f} >= {var[1]:.3f}, as sklearn's explained_variance_",
    ]


def _share_data(seed: int = 3):
    """Weights with both signs, junk on padded steps, and theme flags that are True on some padding too."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    batch, seq_len = 6, 12
    lengths = torch.tensor([12, 9, 5, 3, 7, 1])
    mask = torch.arange(seq_len)[None, :] < lengths[:, None]
    weights = torch.randn(batch, seq_len, generator=gen) * 0.5 + 0.1
    same = torch.rand(batch, seq_len, generator=gen) < 0.4
    same[:, -1] = True  # padded steps whose junk "theme" happens to match
    same[5, 0] = True  # a one-behaviour history on the candidate's theme
    return weights, mask, same


@exercise("Exercise 07.1: the share of attention mass on the candidate's theme")
def check_attention_share(same_theme_share) -> list[str]:
    """``same_theme_share(weights, mask, same)`` takes three ``(batch, seq_len)`` tensors (float weights,
    bool mask of real steps, bool "same theme") and returns the ``(batch,)`` shares of ``|w|`` mass."""
    from ..visualize import attention_mass_share

    weights, mask, same = _share_data()
    want = attention_mass_share(weights, mask, same)
    got = _np(same_theme_share(weights.clone(), mask.clone(), same.clone()))
    if got.shape != want.shape:
        raise ExerciseFailed(f"shape {got.shape}, expected {want.shape}. Hint: one share per row (sum over the "
                             f"history steps, dim=1), not one number for the whole batch")
    got = got.astype(np.float64)

    def matches(candidate) -> bool:
        return np.allclose(got, _np(candidate).astype(np.float64), atol=1e-6, equal_nan=True)

    w, m, s = weights.double(), mask.double(), same.double()
    if not matches(want):
        if matches((w * m * s).sum(1) / (w * m).sum(1)):
            raise ExerciseFailed("your shares can leave [0, 1]. Hint: without softmax weights can be negative, and "
                                 "negative weight is attention too: measure the mass with magnitudes")
        if matches((w.abs() * s).sum(1) / w.abs().sum(1)) or matches((w.abs() * s).sum(1) / (w.abs() * m).sum(1)):
            raise ExerciseFailed("padded steps are counted. Hint: their weights and theme flags are junk here; "
                                 "only the real behaviours (mask True) may enter both sums")
        if matches((w.abs() * m * s).sum(1) / m.sum(1)) or matches((w.abs() * m * s).sum(1) / s.mul(m).sum(1)):
            raise ExerciseFailed("you divided by a number of steps. Hint: a share of the mass divides by the total "
                                 "mass of the real steps, so that the shares lie in [0, 1]")
        raise ExerciseFailed("the shares differ from the reference. Hint: a share is a part of a whole, per row: "
                             "decide what the part and the whole are, which steps may count, and how a weight of "
                             "either sign counts")
    return [
        f"shape {got.shape}, shares {np.round(got, 3).tolist()}",
        "magnitudes used, padding ignored, divided by the total mass: every share lies in [0, 1]",
    ]
