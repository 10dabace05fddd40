"""din_tutorial.widgets: attention for one user and one candidate, its figures, and the Dice sliders."""
import matplotlib

matplotlib.use("Agg")  # unit tests only draw into memory (the notebooks keep the inline backend)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from din_tutorial import PAD_ID  # noqa: E402
from din_tutorial import widgets as W  # noqa: E402
from din_tutorial.datasets import make_synthetic_amazon  # noqa: E402
from din_tutorial.pipeline import build_model, prepare  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here, and the count given back after this module (the modules after it keep theirs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def setup(one_thread):
    log, truth = make_synthetic_amazon(n_users=30, seed=1)
    prepared = prepare(log, max_len=20, batch_size=64)
    torch.manual_seed(0)
    model = build_model("din", prepared.vocab)
    with torch.no_grad():  # spread the weights so that they differ between behaviours
        for p in model.attention.parameters():
            p.mul_(8.0)
    item_cate = log.drop_duplicates("item_id").set_index("item_id")["cate_id"]
    return model, prepared.test, truth.category_theme, item_cate


def positive_row(frame, user):
    return frame[(frame.user_id == user) & (frame.label == 1)].iloc[-1]


def test_attention_for_matches_the_model_on_the_users_row(setup):
    model, test, cate_theme, _ = setup
    user = int(test.user_id.iloc[4])
    att = W.attention_for(model, test, user, cate_theme=cate_theme)
    row = positive_row(test, user)
    n = int(row.hist_len)
    x = W.sample_batch(test, user)
    model.eval()
    want = model.attention_weights({k: x[k] for k in model.input_names})[0]
    assert len(att.weights) == n and np.allclose(att.weights, want[:n].numpy())
    assert (want[n:] == 0).all()
    np.testing.assert_array_equal(att.items, row.hist_item_id[:n])
    np.testing.assert_array_equal(att.cates, row.hist_cate_id[:n])
    assert PAD_ID not in att.items
    assert att.label == 1 and att.candidate_item == int(row.item_id) and att.candidate_cate == int(row.cate_id)
    with torch.no_grad():
        assert att.probability == pytest.approx(float(model(x)[0]), abs=1e-6)


def test_themes_and_share(setup):
    model, test, cate_theme, _ = setup
    user = int(test.user_id.iloc[10])
    att = W.attention_for(model, test, user, cate_theme=cate_theme)
    np.testing.assert_array_equal(att.themes, cate_theme.loc[att.cates].to_numpy())
    assert att.candidate_theme == int(cate_theme.loc[att.candidate_cate])
    np.testing.assert_array_equal(att.same_theme, att.themes == att.candidate_theme)
    w = np.abs(att.weights)
    want = w[att.same_theme].sum() / w.sum()
    assert att.theme_share() == pytest.approx(want)
    frame = att.to_frame()
    assert list(frame.columns) == ["item_id", "cate_id", "weight", "theme", "same_theme"] and len(frame) == len(w)


def test_without_theme_map(setup):
    model, test, _, _ = setup
    att = W.attention_for(model, test, int(test.user_id.iloc[0]))
    assert att.themes is None and att.same_theme is None and np.isnan(att.theme_share())
    assert list(att.to_frame().columns) == ["item_id", "cate_id", "weight"]


def test_another_candidate_keeps_the_history(setup):
    model, test, cate_theme, item_cate = setup
    user = int(test.user_id.iloc[2])
    base = W.attention_for(model, test, user, cate_theme=cate_theme)
    other_item = int(item_cate.index[item_cate.index != base.candidate_item][3])
    att = W.attention_for(model, test, user, candidate_item=other_item, item_cate=item_cate, cate_theme=cate_theme)
    assert att.candidate_item == other_item and att.candidate_cate == int(item_cate.loc[other_item])
    assert att.label is None
    np.testing.assert_array_equal(att.items, base.items)
    assert not np.allclose(att.weights, base.weights)  # the weights depend on the candidate
    # the same as editing the batch by hand
    x = W.sample_batch(test, user)
    x["item_id"] = torch.tensor([other_item])
    x["cate_id"] = torch.tensor([int(item_cate.loc[other_item])])
    want = model.eval().attention_weights({k: x[k] for k in model.input_names})[0, : len(att.weights)]
    assert np.allclose(att.weights, want.numpy())


def test_negative_row_and_mode_restored(setup):
    model, test, cate_theme, _ = setup
    user = int(test.user_id.iloc[6])
    model.train()
    att = W.attention_for(model, test, user, cate_theme=cate_theme, label=0)
    assert model.training, "the model's mode is restored"
    model.eval()
    neg = test[(test.user_id == user) & (test.label == 0)].iloc[-1]
    assert att.label == 0 and att.candidate_item == int(neg.item_id)


def test_lookup_accepts_series_dict_and_array():
    ids = np.array([0, 2, 5])
    assert W._lookup(pd.Series([7, 8, 9], index=[0, 1, 2]), ids).tolist() == [7, 9, -1]
    assert W._lookup({0: 7, 2: 9}, ids).tolist() == [7, 9, -1]
    assert W._lookup(np.array([7, 8, 9]), ids).tolist() == [7, 9, -1]


def test_clear_errors(setup):
    model, test, _, item_cate = setup
    with pytest.raises(ValueError, match="user 987654 has no row"):
        W.attention_for(model, test, 987654)
    with pytest.raises(ValueError, match="item_cate"):
        W.attention_for(model, test, int(test.user_id.iloc[0]), candidate_item=1)
    with pytest.raises(ValueError, match="no category"):
        W.sample_batch(test, int(test.user_id.iloc[0]), candidate_item=10**9, item_cate=item_cate)


def test_figures(setup):
    model, test, cate_theme, _ = setup
    user = int(test.user_id.iloc[8])
    att = W.attention_for(model, test, user, cate_theme=cate_theme)
    fig = W.plot_user_attention(att)
    bars = fig.axes[0].patches
    assert len(bars) == len(att.weights)
    orange = [b for b in bars if matplotlib.colors.to_hex(b.get_facecolor()) == matplotlib.colors.to_hex("tab:orange")]
    assert len(orange) == int(att.same_theme.sum())
    assert f"user {user}" in fig.axes[0].get_title()
    plt.close(fig)
    fig = W.attention_figure(model, test, user, cate_theme=cate_theme)
    assert len(fig.axes) == 2 and "real next item" in fig.axes[0].get_title() and "negative" in fig.axes[1].get_title()
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    plt.close(fig)


def test_user_options(setup):
    _, test, _, _ = setup
    options = W.user_options(test, n=5, min_history=15)
    assert len(options) == 5 and [u for _, u in options] == sorted(u for _, u in options)
    lengths = test[test.label == 1].groupby("user_id").hist_len.max()
    for label, user in options:
        assert lengths[user] >= 15 and label == f"user {user} ({lengths[user]} behaviours)"
    assert W.user_options(test, n=5, min_history=15) == options  # repeatable
    assert len(W.user_options(test, n=1000, min_history=10**6)) == test.user_id.nunique()  # falls back to everyone


def test_user_options_with_themes(setup):
    model, test, cate_theme, _ = setup
    options = W.user_options(test, n=50, min_history=5, cate_theme=cate_theme, min_same=3)
    assert options
    for _, user in options:
        att = W.attention_for(model, test, user, cate_theme=cate_theme)
        assert att.same_theme.sum() >= 3


def test_dice_sliders_and_figure():
    sliders = W.dice_sliders(alpha=0.1, mean=0.5, var=2.0)
    assert list(sliders) == ["alpha", "mean", "var"]
    assert all(not s.continuous_update for s in sliders.values())
    assert [s.value for s in sliders.values()] == [0.1, 0.5, 2.0]
    assert sliders["var"].min == 0.0 and sliders["mean"].min < 0 < sliders["mean"].max
    fig = W.plot_dice(alpha=0.1, mean=0.5, var=2.0)
    line = fig.axes[0].lines[0]
    from din_tutorial.visualize import dice_curve

    np.testing.assert_allclose(line.get_ydata(), dice_curve(line.get_xdata(), 0.1, 0.5, 2.0))
    plt.close(fig)
    with pytest.raises(ValueError, match="negative"):
        W.plot_dice(var=-1.0)


def test_explore_puts_the_first_figure_into_the_output_without_capturing_and_redraws_on_change():
    """explore = interact, except that the first view is appended as a PNG (no ``with output:`` capture:
    headless nbclient hangs on that now and then), and a control's change redraws through the Output."""
    import ipywidgets

    calls = []

    def draw(a):
        calls.append(a)
        fig, ax = plt.subplots()
        ax.plot([0, a])
        return fig

    slider = ipywidgets.IntSlider(value=1, min=0, max=3)
    plt.close("all")  # figures other tests left open
    out = W.explore(draw, a=slider)
    assert calls == [1]
    assert len(out.outputs) == 1 and set(out.outputs[0]["data"]) >= {"image/png"}, out.outputs
    assert out.msg_id == "", "the first view captured no message"
    assert plt.get_fignums() == [], "the first figure is closed: it shows in the Output only"
    slider.value = 3
    assert calls == [1, 3], "a change of the control redraws with its value"
    plt.close("all")
