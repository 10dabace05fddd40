# Exercise 06.1: the paper's user-weighted AUC (GAUC, section 6.3) from its formula.
import numpy as np
from sklearn.metrics import roc_auc_score

from din_tutorial.checks import check_gauc


def my_gauc(y_true, y_pred, user_ids):
    """sum_u n_u * AUC_u / sum_u n_u over the users who have both a positive and a negative sample."""
    ### BEGIN SOLUTION
    weighted, impressions = 0.0, 0
    for user in np.unique(user_ids):
        rows = user_ids == user
        y, p = y_true[rows], y_pred[rows]
        if y.min() == y.max():  # one class only: this user has no AUC
            continue
        weighted += rows.sum() * roc_auc_score(y, p)  # roc_auc_score counts ties as half
        impressions += rows.sum()
    return weighted / impressions
    ### END SOLUTION


check_gauc(my_gauc)
