"""The seed's tuning suggestions as an experiment: one knob at a time, real training on a slice of the sample."""
import tempfile

import matplotlib
import pytest

from din_tutorial.datasets import load_sample
from din_tutorial.tuning import plot_tuning, tuning_grid


@pytest.fixture(scope="module")
def grid():
    data = load_sample()
    small = data[data["user_id"] < 80].reset_index(drop=True)
    return tuning_grid(small, max_lens=(5, 20), attention_dims=((4,), (8, 4)), n_epoch=1, batch_size=256)


def test_one_knob_at_a_time(grid):
    assert list(grid["knob"]) == ["max_len", "max_len", "attention_mlp", "attention_mlp"]
    assert list(grid["value"]) == ["5", "20", "[4]", "[8, 4]"]
    # the base configuration (first max_len, first attention: neither 50 nor [32, 16] is in the grid) is trained once
    base_runs = grid[(grid["value"] == "5") | (grid["value"] == "[4]")]
    assert base_runs["test_gauc"].nunique() == 1 and base_runs["train_seconds"].nunique() == 1
    assert grid["test_gauc"].between(0, 1).all() and grid["val_gauc"].between(0, 1).all()


def test_longer_histories_pad_more_and_bigger_attention_has_more_parameters(grid):
    by_len = grid[grid["knob"] == "max_len"].set_index("value")
    assert by_len.loc["20", "padding_share"] > by_len.loc["5", "padding_share"]
    by_att = grid[grid["knob"] == "attention_mlp"].set_index("value")
    assert by_att.loc["[8, 4]", "params"] > by_att.loc["[4]", "params"]


def test_plot_has_one_panel_per_knob(grid):
    matplotlib.use("Agg", force=False)
    fig = plot_tuning(grid)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["5", "20"]
    with pytest.raises(ValueError, match="metric 'gaucc' is not a column"):
        plot_tuning(grid, metric="gaucc")


@pytest.mark.parametrize("kw,msg", [({"max_lens": []}, "max_lens is empty"),
                                    ({"max_lens": [0]}, "positive history lengths"),
                                    ({"attention_dims": [()]}, "positive layer sizes")])
def test_bad_arguments_are_named(kw, msg):
    with pytest.raises(ValueError, match=msg):
        tuning_grid(load_sample().head(100), **kw)


def test_rows_do_not_depend_on_the_order_of_the_runs_and_val_gauc_is_the_kept_epochs():
    """Each model is seeded (initialisation, dropout, shuffle), so a run gives the same row wherever it stands;
    val_gauc is the validation GAUC of the epoch chosen by validation AUC, the one whose weights are tested."""
    from din_tutorial.config import seed_everything
    from din_tutorial.pipeline import SEED_ATTENTION_MLP, build_model, prepare, train_and_evaluate

    small = load_sample()
    small = small[small["user_id"] < 60].reset_index(drop=True)
    kw = {"attention_dims": ((4,),), "n_epoch": 2, "batch_size": 256}
    a = tuning_grid(small, max_lens=(5, 10), **kw).set_index("value")
    b = tuning_grid(small, max_lens=(10, 5), **kw).set_index("value")
    for col in ("val_gauc", "test_gauc", "test_auc"):
        assert a.loc["10", col] == b.loc["10", col] and a.loc["5", col] == b.loc["5", col]
    seed_everything(2022)
    model = build_model("din", (p := prepare(small, max_len=10, batch_size=256)).vocab,
                        attention_mlp={**SEED_ATTENTION_MLP, "dims": [4]})
    with tempfile.TemporaryDirectory() as scratch:
        trainer, metrics = train_and_evaluate(model, p, n_epoch=2, verbose=False, model_path=scratch)
    assert a.loc["10", "val_gauc"] == trainer.history[trainer.best_epoch]["val_gauc"]
    assert a.loc["10", "test_gauc"] == metrics["gauc"]
