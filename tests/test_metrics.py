"""Metrics against hand computations and scikit-learn."""
import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from din_tutorial import auc, gauc, logloss, rela_impr


def test_auc_matches_sklearn_and_hand_value():
    y = [1, 0, 1, 0]
    p = [0.9, 0.1, 0.4, 0.6]
    assert auc(y, p) == pytest.approx(0.75)  # 3 of 4 positive-negative pairs ordered right
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 500), rng.random(500)
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p))


def test_gauc_by_hand():
    # user 1: AUC 1 over 3 impressions; user 2: AUC 0 over 2; user 3: one class only -> skipped
    y = [1, 0, 0, 1, 0, 1, 1]
    p = [0.9, 0.2, 0.1, 0.3, 0.8, 0.5, 0.4]
    u = [1, 1, 1, 2, 2, 3, 3]
    assert gauc(y, p, u) == pytest.approx((3 * 1.0 + 2 * 0.0) / 5)


def test_gauc_matches_a_loop_over_users_with_ties():
    rng = np.random.default_rng(1)
    u = rng.integers(0, 40, 2000)
    y = rng.integers(0, 2, 2000)
    p = np.round(rng.random(2000), 1)  # many ties
    num = den = 0.0
    for user in np.unique(u):
        m = u == user
        if len(set(y[m])) == 2:
            num += m.sum() * roc_auc_score(y[m], p[m])
            den += m.sum()
    assert gauc(y, p, u) == pytest.approx(num / den)


def test_gauc_one_pos_one_neg_is_share_of_users_ordered_right():
    y = [1, 0] * 4
    p = [0.9, 0.1, 0.2, 0.8, 0.7, 0.6, 0.5, 0.5]
    u = [0, 0, 1, 1, 2, 2, 3, 3]
    assert gauc(y, p, u) == pytest.approx((1 + 0 + 1 + 0.5) / 4)


def test_logloss_and_rela_impr():
    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 2, 300), rng.uniform(0.01, 0.99, 300)
    assert logloss(y, p) == pytest.approx(log_loss(y, p))
    assert logloss([1], [0.0]) == pytest.approx(-np.log(1e-7))  # clipped, not infinite
    # the paper's Table 3: DIN with Dice (0.8871) over BaseModel (0.8624) on Amazon
    assert rela_impr(0.8871, 0.8624) == pytest.approx(((0.3871 / 0.3624) - 1) * 100)
    with pytest.raises(ValueError, match="base AUC above 0.5"):
        rela_impr(0.7, 0.5)


def test_metric_errors():
    with pytest.raises(ValueError, match="one class only"):
        auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="must match"):
        auc([1, 0], [0.2])
    with pytest.raises(ValueError, match="NaN"):
        logloss([1, 0], [np.nan, 0.1])
    with pytest.raises(ValueError, match="both a positive and a negative"):
        gauc([1, 1], [0.2, 0.3], [0, 1])
