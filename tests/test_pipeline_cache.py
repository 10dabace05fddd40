"""pipeline.load_or_train's cache: the same data and settings load, any change that alters the result trains again."""
import pytest
import torch

from din_tutorial import pipeline
from din_tutorial.datasets import make_synthetic_amazon


@pytest.fixture(scope="module")
def data():
    log, _ = make_synthetic_amazon(n_users=40, seed=3, history_length_mean=12.0, history_length_range=(6, 20))
    return log


@pytest.fixture
def counted(monkeypatch):
    """Count the trainings load_or_train starts (the real ones: a tiny DIN, one epoch)."""
    calls = []
    real = pipeline.train_and_evaluate

    def train(*args, **kw):
        calls.append(kw.get("model_path"))
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "train_and_evaluate", train)
    return calls


SMALL = {"mlp_params": {"dims": [8], "dropout": 0.0, "activation": "relu"},
         "attention_mlp": {"dims": [4], "dropout": 0.0, "activation": "relu"}}


def _load(prepared, tmp_path, kind="din", **kw):
    settings = {"n_epoch": 1, "seed": 0, **SMALL, **kw}
    return pipeline.load_or_train(kind, prepared, cache_dir=tmp_path, **settings)


def test_same_data_and_settings_load_the_cached_model(data, tmp_path, counted):
    prepared = pipeline.prepare(data, max_len=10, batch_size=64, seed=1)
    model, history = _load(prepared, tmp_path)
    assert len(counted) == 1
    again, history_again = _load(pipeline.prepare(data.copy(), max_len=10, batch_size=64, seed=1), tmp_path)
    assert len(counted) == 1, "an equal frame and equal settings must load, not train"
    assert history_again == history
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("change", [
    "neg_sampling", "max_len", "batch_size", "split_seed", "data_value", "n_epoch", "trainer_seed", "model_option",
    "id_counts", "kind",
])
def test_a_changed_setting_or_data_value_trains_again(data, tmp_path, counted, change):
    prep_kw = {"max_len": 10, "batch_size": 64, "seed": 1}
    _load(pipeline.prepare(data, **prep_kw), tmp_path)
    assert len(counted) == 1
    frame, kw, kind = data, {}, "din"
    if change == "neg_sampling":
        prep_kw["neg_sampling"] = "popularity"
    elif change == "max_len":
        prep_kw["max_len"] = 8
    elif change == "batch_size":
        prep_kw["batch_size"] = 32
    elif change == "split_seed":
        prep_kw["seed"] = 2
    elif change == "data_value":  # one behaviour moved to another category: same size, other content
        frame = data.copy()
        frame.loc[frame.index[5], "cate_id"] = (frame["cate_id"].iloc[5] + 1) % (frame["cate_id"].max() + 1)
    elif change == "n_epoch":
        kw["n_epoch"] = 2
    elif change == "trainer_seed":
        kw["seed"] = 1
    elif change == "model_option":
        kw["mlp_params"] = {**SMALL["mlp_params"], "dropout": 0.1}
    elif change == "id_counts":  # tensors in the options count by their content, not by their (truncated) repr
        prepared = pipeline.prepare(frame, **prep_kw)
        counts = torch.ones(prepared.vocab["item_id"], dtype=torch.long)
        _load(prepared, tmp_path, mba_reg=0.01, id_counts={"item_id": counts})
        assert len(counted) == 2
        counts[-1] = 2
        _load(prepared, tmp_path, mba_reg=0.01, id_counts={"item_id": counts})
        assert len(counted) == 3, "other id counts must train again"
        return
    elif change == "kind":
        kind = "basemodel"
    _load(pipeline.prepare(frame, **prep_kw), tmp_path, kind=kind, **kw)
    assert len(counted) == 2, f"a changed {change} must train again, not load the cached model"
    assert counted[0] != counted[1]
    assert len(list(tmp_path.iterdir())) == 2
