"""CTR metrics: AUC, the paper's user-weighted AUC (GAUC), log loss and RelaImpr.

GAUC (paper section 6.3, Eq. 10; the paper's tables still call it "AUC") averages each user's AUC weighted by the user's number of
impressions, so that it measures how well the model orders candidates *for one user*,
which is what ranking serves. A user whose samples are all of one class has no AUC and is
left out of both sums (with one positive and one negative per user, GAUC is the share of
users whose positive outscores their negative).

Defined where first printed in notebooks/05_training.ipynb; taught in notebooks/06_evaluation.ipynb.
"""
from __future__ import annotations

import numpy as np

__all__ = ["auc", "gauc", "logloss", "rela_impr"]


def _arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values but y_pred has {p.size}; they must match")
    if y.size == 0:
        raise ValueError("no samples to score (empty y_true)")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold 0/1 labels")
    if np.isnan(p).any():
        raise ValueError("y_pred holds NaN: the model diverged (lower the learning rate) or an input was invalid")
    return y, p


def auc(y_true, y_pred) -> float:
    """Area under the ROC curve over all samples (scikit-learn's ``roc_auc_score``)."""
    from sklearn.metrics import roc_auc_score

    y, p = _arrays(y_true, y_pred)
    if y.min() == y.max():
        raise ValueError("AUC needs both positive and negative samples; y_true holds one class only")
    return float(roc_auc_score(y, p))


def gauc(y_true, y_pred, user_ids) -> float:
    """User-weighted AUC: ``sum_u n_u * AUC_u / sum_u n_u`` over users with both classes.

    Vectorised with ranks: within a user, AUC_u = (sum of the positives' ranks
    - n_pos (n_pos + 1) / 2) / (n_pos * n_neg), ties counted half, as ``roc_auc_score``.
    """
    import pandas as pd

    y, p = _arrays(y_true, y_pred)
    u = np.asarray(user_ids).ravel()
    if u.shape != y.shape:
        raise ValueError(f"user_ids has {u.size} values but y_true has {y.size}; they must match")
    frame = pd.DataFrame({"u": u, "y": y, "p": p})
    frame["rank"] = frame.groupby("u", sort=False)["p"].rank(method="average")
    per_user = frame.assign(rank_pos=frame["rank"] * frame["y"]).groupby("u", sort=False).agg(
        n=("y", "size"), n_pos=("y", "sum"), rank_pos=("rank_pos", "sum")
    )
    n_neg = per_user["n"] - per_user["n_pos"]
    ok = (per_user["n_pos"] > 0) & (n_neg > 0)
    if not ok.any():
        raise ValueError("GAUC needs at least one user with both a positive and a negative sample")
    per_user = per_user[ok]
    n_neg = n_neg[ok]
    user_auc = (per_user["rank_pos"] - per_user["n_pos"] * (per_user["n_pos"] + 1) / 2) / (per_user["n_pos"] * n_neg)
    return float((user_auc * per_user["n"]).sum() / per_user["n"].sum())


def logloss(y_true, y_pred, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy; probabilities are clipped to ``[eps, 1 - eps]``."""
    y, p = _arrays(y_true, y_pred)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def rela_impr(model_auc: float, base_auc: float) -> float:
    """The paper's relative improvement in percent (section 6.3, Eq. 11):
    ``((AUC_model - 0.5) / (AUC_base - 0.5) - 1) * 100``.

    It measures the gain over the part of AUC above random guessing (0.5). The paper applies it to its
    user-weighted AUC (GAUC). Taught in notebooks/06_evaluation.ipynb (exercise 06.2 reads it backwards).
    """
    if not base_auc > 0.5:
        raise ValueError(f"RelaImpr needs a base AUC above 0.5 (random guessing), got {base_auc}")
    return float(((model_auc - 0.5) / (base_auc - 0.5) - 1.0) * 100.0)
