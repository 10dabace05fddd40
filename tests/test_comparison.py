"""din_tutorial.comparison against independent computations: sklearn per user, metrics.gauc, a resampled log."""
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from din_tutorial import metrics as M
from din_tutorial.comparison import bootstrap_draws, bootstrap_gauc, gain_by_group, per_user_auc, plot_gain


def _log(seed=0, n_users=60):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, n_users)
    u = np.repeat(np.arange(100, 100 + n_users), sizes)
    y = (rng.random(u.size) < 0.4).astype(float)
    a = np.round(rng.random(u.size) + 0.3 * y, 1)  # rounded: many ties
    b = np.round(rng.random(u.size), 1)
    return y, {"A": a, "B": b}, u


def test_per_user_auc_equals_sklearn_per_user_and_weighted_mean_is_gauc():
    y, scores, u = _log()
    aucs, n = per_user_auc(y, scores, u)
    for user in np.unique(u):
        rows = u == user
        if 0 < y[rows].sum() < rows.sum():
            assert n[user] == rows.sum()
            for name, s in scores.items():
                assert aucs.loc[user, name] == pytest.approx(roc_auc_score(y[rows], s[rows]), abs=1e-12)
        else:
            assert user not in aucs.index
    for name, s in scores.items():
        assert (aucs[name] * n).sum() / n.sum() == pytest.approx(M.gauc(y, s, u), abs=1e-12)


def test_one_pair_per_user_gives_the_order():
    u = np.repeat([1, 2, 3], 2)
    y = np.array([1, 0, 1, 0, 0, 1.0])
    aucs, n = per_user_auc(y, {"m": [0.9, 0.1, 0.5, 0.5, 0.8, 0.2]}, u)
    assert aucs["m"].tolist() == [1.0, 0.5, 0.0] and n.tolist() == [2, 2, 2]


def test_bootstrap_draws_equal_gauc_of_the_resampled_log():
    y, scores, u = _log(1, 40)
    aucs, n = per_user_auc(y, scores, u)
    table, draws = bootstrap_gauc(aucs, n, pairs=[("A", "B")], n_boot=30, seed=5, return_draws=True)
    picks = bootstrap_draws(len(aucs), 30, 5)
    for d in range(10):  # the independent way: copy each picked user's rows under a fresh id, then metrics.gauc
        rows, ids = [], []
        for k, user in enumerate(aucs.index):
            for c in range(picks[d, k]):
                idx = np.flatnonzero(u == user)
                rows.append(idx)
                ids.append(np.full(idx.size, f"{user}-{c}"))
        rows, ids = np.concatenate(rows), np.concatenate(ids)
        for name, s in scores.items():
            assert draws.loc[d, name] == pytest.approx(M.gauc(y[rows], s[rows], ids), abs=1e-12)
        assert draws.loc[d, "A - B"] == pytest.approx(draws.loc[d, "A"] - draws.loc[d, "B"])
    assert table.loc["A", "GAUC or difference"] == pytest.approx(M.gauc(y, scores["A"], u))
    assert table.loc["A - B", "95% low"] <= table.loc["A - B", "GAUC or difference"] <= table.loc["A - B", "95% high"]


def test_bootstrap_interval_has_the_width_of_the_standard_error():
    rng = np.random.default_rng(3)
    aucs = pd.DataFrame({"m": (rng.random(2000) < 0.7).astype(float)})
    table = bootstrap_gauc(aucs, n_boot=4000, seed=1)
    se = aucs["m"].std(ddof=0) / np.sqrt(len(aucs))
    width = table.loc["m", "95% high"] - table.loc["m", "95% low"]
    assert width == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_paired_difference_is_narrower_than_either_interval():
    rng = np.random.default_rng(4)
    hard = rng.random(1000)
    aucs = pd.DataFrame({"A": (hard < 0.75).astype(float), "B": (hard < 0.70).astype(float)})
    table = bootstrap_gauc(aucs, pairs=[("A", "B")], n_boot=2000)
    width = table["95% high"] - table["95% low"]
    assert width["A - B"] < 0.5 * width["A"]
    assert table.loc["A - B", "share of draws <= 0"] < 0.01 and table.loc["A - B", "95% low"] > 0


def test_gain_by_group_matches_a_groupby_and_a_sure_gain_has_a_point_interval():
    y, scores, u = _log(2, 80)
    aucs, n = per_user_auc(y, scores, u)
    groups = pd.Series(np.where(aucs.index % 2 == 0, "even", "odd"), index=aucs.index, name="parity")
    table = gain_by_group(aucs, groups, "A", "B", n, n_boot=200)
    assert table.index.name == "parity" and set(table.index) == {"even", "odd"}
    for g, part in aucs.groupby(groups):
        w = n.loc[part.index]
        assert table.loc[g, "users"] == len(part)
        assert table.loc[g, "A"] == pytest.approx((part["A"] * w).sum() / w.sum())
        assert table.loc[g, "A - B"] == pytest.approx(table.loc[g, "A"] - table.loc[g, "B"])
        assert table.loc[g, "95% low"] <= table.loc[g, "A - B"] <= table.loc[g, "95% high"]
    sure = pd.DataFrame({"A": np.ones(50), "B": np.zeros(50)})
    t = gain_by_group(sure, pd.Series(["x"] * 50, name="g"), "A", "B")
    assert t.loc["x", ["A - B", "95% low", "95% high"]].tolist() == [1.0, 1.0, 1.0]


def test_plot_gain_draws_each_table_with_its_interval():
    aucs = pd.DataFrame({"A": np.r_[np.ones(30), np.zeros(30)], "B": np.full(60, 0.5)})
    groups = pd.Series(np.repeat(["first", "second"], 30), name="half")
    table = gain_by_group(aucs, groups, "A", "B")
    fig = plot_gain([table, table])
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["first\n(30 users)", "second\n(30 users)"]
    line = ax.lines[0]
    assert np.allclose(line.get_ydata(), [0.5, -0.5])


@pytest.mark.parametrize("call, words", [
    (lambda: per_user_auc([1, 0], {"m": [0.1]}, [1, 1]), r"scores\['m'\] has 1 values"),
    (lambda: per_user_auc([1, 0], {"m": [0.1, 0.2]}, [1]), "user_ids has 1 values"),
    (lambda: per_user_auc([1, 1], {"m": [0.1, 0.2]}, [1, 2]), "no user has both"),
    (lambda: per_user_auc([2, 0], {"m": [0.1, 0.2]}, [1, 1]), "labels 0 and 1"),
    (lambda: bootstrap_gauc(pd.DataFrame({"A": [1.0]}), pairs=[("A", "C")]), "'C'"),
    (lambda: plot_gain([pd.DataFrame({"x": [1]})]), "not from gain_by_group"),
])
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_groups_must_be_a_series_indexed_by_user():
    with pytest.raises(TypeError, match="pandas Series indexed by user"):
        gain_by_group(pd.DataFrame({"A": [1.0]}), [1], "A", "A")
