"""Checks for the exercises of notebooks/07_visualization.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 07.2 ``check_pca_2d(pca_2d)``: PCA to two dimensions by hand, against scikit-learn's ``PCA``.
* 07.1 ``check_theme_rank_auc(theme_rank_auc)``: per history, the probability that a real behaviour
  of the candidate's theme gets a larger ``|w|`` than one of another theme (ties count half; NaN
  where a history lacks one of the two kinds), against :func:`theme_rank_auc_reference`.
"""
from __future__ import annotations

import numpy as np

from ._core import ExerciseFailed, compare, exercise, refuse_calls  # noqa: F401

__all__: list[str] = ["check_pca_2d", "check_theme_rank_auc", "theme_rank_auc_reference"]


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
    from sklearn.decomposition import PCA, TruncatedSVD

    # scikit-learn's PCA, or any fitted estimator in the notebook's scope (such as section 4a's `pca`), refitted
    # or read: its methods and fitted attributes are refused by name, and the estimator itself under any name
    refuse_calls(pca_2d, "pca_2d", {name: "the centring and the SVD" for name in (
        PCA, TruncatedSVD, "fit_transform", "fit", "transform", "components_", "explained_variance_",
        "explained_variance_ratio_", "singular_values_", "mean_")}, reference="scikit-learn's PCA")
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


def theme_rank_auc_reference(weights, mask, same) -> np.ndarray:
    """Per row, the probability that a real step marked ``same`` outweighs (``|w|``) a real step not marked.

    Over every (same, other) pair of real steps (``mask`` True) of the row, a larger ``|w|`` on the
    ``same`` step counts 1 and a tie 1/2; divided by the number of such pairs. NaN where a row has no
    real ``same`` step or no real other one. 0.5 for weights that ignore ``same``, whatever the share
    of ``same`` steps; unchanged when a row's weights are multiplied by a non-zero constant.

    The reference of exercise 07.1 (notebooks/07_visualization.ipynb); the notebook applies it to the
    test split after the check.
    """
    w = np.abs(_np(weights).astype(np.float64))
    m, s = _np(mask).astype(bool), _np(same).astype(bool)
    if not (w.shape == m.shape == s.shape) or w.ndim != 2:
        raise ValueError(f"weights, mask and same must be (rows, seq_len) of one shape, got {w.shape}, {m.shape}, {s.shape}")
    out = np.full(len(w), np.nan)
    for r in range(len(w)):  # row by row: a history's pairs never mix with another's
        hi, lo = w[r, m[r] & s[r]], w[r, m[r] & ~s[r]]
        if len(hi) and len(lo):
            diff = hi[:, None] - lo[None, :]  # (n_same, n_other)
            out[r] = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    return out


def _rank_data(seed: int = 3):
    """Weights of both signs with ties (equal magnitudes), junk on padding, rows lacking one kind of step."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    batch, seq_len = 8, 12
    lengths = torch.tensor([12, 9, 5, 3, 7, 1, 6, 10])
    mask = torch.arange(seq_len)[None, :] < lengths[:, None]
    weights = (torch.randn(batch, seq_len, generator=gen) * 0.5 + 0.1).round(decimals=1)  # rounded: many ties
    weights[0, 1] = -weights[0, 0]  # equal magnitudes, opposite signs: a tie in |w|
    weights[~mask] = torch.randn(int((~mask).sum()), generator=gen) * 5.0  # large junk on padded steps
    same = torch.rand(batch, seq_len, generator=gen) < 0.4
    same[0, :2] = torch.tensor([True, False])
    same[1, :3] = True
    same[:, -1] = True  # padded steps whose junk "theme" happens to match
    same[5, 0] = True  # a one-behaviour history: no pair at all
    same[6, :6] = False  # a history without a single behaviour of the candidate's theme
    same[7, :10] = True  # a history of that theme only
    return weights, mask, same


@exercise("Exercise 07.1: does the attention order the behaviours by theme?")
def check_theme_rank_auc(theme_rank_auc) -> list[str]:
    """``theme_rank_auc(weights, mask, same)`` takes three ``(batch, seq_len)`` tensors (float weights, bool
    mask of real steps, bool "same theme as the candidate") and returns ``(batch,)``: per row, the chance
    that a real same-theme behaviour has a larger ``|w|`` than a real one of another theme (ties half)."""
    refuse_calls(theme_rank_auc, "theme_rank_auc", {theme_rank_auc_reference: "the pairwise comparison"})
    weights, mask, same = _rank_data()
    want = theme_rank_auc_reference(weights, mask, same)
    got = _np(theme_rank_auc(weights.clone(), mask.clone(), same.clone()))
    if got.shape != want.shape:
        raise ExerciseFailed(f"shape {got.shape}, expected {want.shape}. Hint: one number per row (per history), "
                             f"not one for the whole batch; pairs never mix two rows")
    got = got.astype(np.float64)
    defined = ~np.isnan(want)

    def matches(candidate, rows=None) -> bool:
        rows = slice(None) if rows is None else rows
        return np.allclose(got[rows], np.asarray(candidate, dtype=np.float64)[rows], atol=1e-6, equal_nan=True)

    if not matches(want):
        if matches(want, defined) and not np.array_equal(np.isnan(got), np.isnan(want)):
            raise ExerciseFailed("the rows with pairs are right; the others are not. Hint: a history with no behaviour "
                                 "of the candidate's theme, or with nothing else, has no pair to compare: its answer "
                                 "is undefined (NaN), not 0, 0.5 or 1, so that an average can skip it")
        w, m, s = weights.double(), mask, same
        if matches(1 - want, defined):
            raise ExerciseFailed("your numbers run the wrong way. Hint: count the pairs where the same-theme "
                                 "behaviour has the LARGER magnitude")
        signed = _signed_rank(w, m, s)
        if matches(signed, defined):
            raise ExerciseFailed("your answer changes when a row's weights change sign. Hint: without softmax a "
                                 "weight's sign is the model's choice; compare magnitudes")
        if matches(theme_rank_auc_reference(w, _all_real(m), s), defined):
            raise ExerciseFailed("padded steps are counted. Hint: their weights and theme flags are junk here; only "
                                 "pairs of two real behaviours (mask True) may count")
        for value, words in ((0.0, "as a loss (0)"), (1.0, "as a win (1)")):
            if matches(_rank_with_ties(w, m, s, value), defined):
                raise ExerciseFailed(f"ties are counted {words}. Hint: two equal magnitudes say nothing about the "
                                     f"order; such a pair counts one half")
        raise ExerciseFailed("the numbers differ from the reference. Hint: per row, count over every pair (one real "
                             "behaviour of the candidate's theme, one real behaviour of another theme) how often the "
                             "first has the larger magnitude, a tie counting one half, and divide by the number of "
                             "such pairs")
    return [
        f"shape {got.shape}, values {np.round(got, 3).tolist()}",
        "magnitudes compared, padding ignored, ties counted half, NaN where a history has no pair",
    ]


def _all_real(mask) -> np.ndarray:
    """A mask that calls every step real (the typical mistake of counting padding)."""
    return np.ones(_np(mask).shape, dtype=bool)


def _signed_rank(weights, mask, same) -> np.ndarray:
    """The reference on the signed weights (a typical mistake: no magnitudes)."""
    shifted = _np(weights).astype(np.float64)
    shifted = shifted - shifted.min() + 1.0  # positive, same order as the signed weights
    return theme_rank_auc_reference(shifted, mask, same)


def _rank_with_ties(weights, mask, same, tie_value: float) -> np.ndarray:
    """The reference with a tie counted as ``tie_value`` instead of 1/2 (a typical mistake)."""
    w = np.abs(_np(weights).astype(np.float64))
    m, s = _np(mask).astype(bool), _np(same).astype(bool)
    out = np.full(len(w), np.nan)
    for r in range(len(w)):
        hi, lo = w[r, m[r] & s[r]], w[r, m[r] & ~s[r]]
        if len(hi) and len(lo):
            diff = hi[:, None] - lo[None, :]
            out[r] = ((diff > 0).sum() + tie_value * (diff == 0).sum()) / diff.size
    return out
