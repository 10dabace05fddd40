"""Every misconfiguration is caught when the model is built, with a message naming the feature and the fix."""
from __future__ import annotations

import pytest
import torch

from din_tutorial import DIN, BaseModel, DenseFeature, SequenceFeature, SparseFeature
from din_tutorial.layers import FeatureConfigError


def parts(**changes):
    features = [SparseFeature("user_id", 10, 16), SparseFeature("gender", 2, 8)]
    target = [SparseFeature("item_id", 20, 16), SparseFeature("cate_id", 5, 16)]
    history = [
        SequenceFeature("hist_item_id", 20, 16, pooling="concat", shared_with="item_id"),
        SequenceFeature("hist_cate_id", 5, 16, pooling="concat", shared_with="cate_id"),
    ]
    kw = {"features": features, "history_features": history, "target_features": target,
          "mlp_params": {"dims": [8]}, "attention_mlp": {"dims": [4]}}
    kw.update(changes)
    return kw


T = parts()["target_features"]
H = parts()["history_features"]


@pytest.mark.parametrize(
    "changes,pattern",
    [
        ({"history_features": H[:1]},
         (r"pairs history_features with target_features one by one, but got 1 history features \['hist_item_id'\] "
          r"and 2 target features")),
        ({"history_features": [H[0], SequenceFeature("hist_cate_id", 5, 8, pooling="concat")]},
         r"'hist_cate_id' \(embed_dim=8\) is paired with target feature 'cate_id' \(embed_dim=16\)"),
        ({"history_features": [H[0], SequenceFeature("hist_cate_id", 5, 16, pooling="concat", shared_with="cat_id")]},
         r"'hist_cate_id': shared_with='cat_id' names no feature.*add a feature named 'cat_id'"),
        ({"history_features": [SequenceFeature("hist_item_id", 20, 16, pooling="concat", shared_with="user_id"), H[1]]},
         None),  # sharing a table of the same size is allowed (unusual but valid)
        ({"target_features": T[::-1]},
         r"'hist_item_id' shares the embedding of 'item_id' but is paired with target feature 'cate_id'.*in the order of history_features"),
        ({"history_features": [SequenceFeature("hist_item_id", 20, 16, pooling="concat", shared_with="cate_id"), H[1]]},
         r"'hist_item_id' shares the embedding of 'cate_id' but is paired with target feature 'item_id'"),
        ({"features": [SparseFeature("user_id", 10, 8)],
          "history_features": [SequenceFeature("hist_item_id", 20, 16, pooling="concat", shared_with="user_id"), H[1]]},
         r"'hist_item_id' \(embed_dim=16\) shares the table of 'user_id' \(embed_dim=8\).*set embed_dim=8"),
        ({"history_features": [SequenceFeature("hist_item_id", 20, 16, pooling="mean", shared_with="item_id"), H[1]]},
         r"'hist_item_id' has pooling='mean'.*set pooling='concat'"),
        ({"features": [SparseFeature("item_id", 10, 16)]}, r"two features are named 'item_id'"),
        ({"history_features": []}, r"DIN needs at least one history feature"),
        ({"history_features": [T[0], T[1]], "target_features": H},
         r"history feature 'item_id' must be a SequenceFeature"),
        ({"features": [SequenceFeature("tags", 5, 4, pooling="concat")]},
         r"'tags' has pooling='concat' but is in `features`"),
        ({"features": ["user_id"]}, r"expected SparseFeature, SequenceFeature or DenseFeature objects, got 'user_id'"),
        ({"features": SparseFeature("user_id", 10, 16)}, r"features must be a list of features"),
        ({"mlp_params": {"dims": [8], "activaton": "dice"}}, r"mlp_params: unknown key\(s\) \['activaton'\]"),
        ({"mlp_params": {"dims": 256}}, r"mlp_params: dims must be a list of positive integers"),
        ({"mlp_params": {"dims": [8], "activation": "dicee"}}, r"mlp_params: activation 'dicee' is unknown"),
        ({"mlp_params": {"dims": [8], "dropout": 1.5}}, r"mlp_params: dropout must be a number in \[0, 1\)"),
        ({"mlp_params": {"dims": [8], "output_layer": False}}, r"drop output_layer=False"),
        ({"attention_mlp": {"dims": []}}, r"attention_mlp: dims needs at least one hidden layer"),
        ({"attention_mlp_params": {"dims": [4]}}, r"attention_mlp or attention_mlp_params, not both"),
        ({"attention_mode": "both"}, r"attention_mode must be one of \('group', 'per_feature'\)"),
        ({"mba_reg": -1}, r"mba_reg must be a number >= 0"),
    ],
)
def test_din_misconfiguration(changes, pattern):
    if pattern is None:
        DIN(**parts(**changes))
        return
    with pytest.raises(FeatureConfigError, match=pattern):
        DIN(**parts(**changes))


def test_the_same_feature_object_in_two_lists():
    kw = parts()
    kw["features"] = kw["features"] + [kw["target_features"][0]]
    with pytest.raises(FeatureConfigError, match=r"'item_id' is listed twice"):
        DIN(**kw)


def test_errors_are_value_errors():
    assert issubclass(FeatureConfigError, ValueError)


@pytest.mark.parametrize("vocab", [0, -3, 2.5])
def test_vocab_size_below_one_is_refused(vocab):
    with pytest.raises(ValueError, match=r"feature 'user_id': vocab_size must be"):
        SparseFeature("user_id", vocab, 16)
    feature = SparseFeature("user_id", 10, 16)
    feature.vocab_size = vocab  # changed after creation: still caught when the model is built
    with pytest.raises(FeatureConfigError, match=r"feature 'user_id': vocab_size must be a positive integer"):
        DIN(**parts(features=[feature]))


def test_base_model_allows_pooled_histories_but_checks_the_rest():
    history = [SequenceFeature("hist_item_id", 20, 16, pooling="mean", shared_with="item_id"), H[1]]
    BaseModel(**parts(history_features=history))(  # mean pooling for BaseModel is fine
        {"user_id": torch.tensor([1]), "gender": torch.tensor([0]), "item_id": torch.tensor([3]),
         "cate_id": torch.tensor([1]), "hist_item_id": torch.tensor([[2, -1]]), "hist_cate_id": torch.tensor([[1, -1]])}
    )
    with pytest.raises(FeatureConfigError, match="BaseModel pairs history_features with target_features"):
        BaseModel(**parts(history_features=H[:1]))
    with pytest.raises(FeatureConfigError, match="attention_mlp: unknown key"):
        BaseModel(**parts(attention_mlp={"dimz": [3]}))


def test_dense_feature_in_features_is_fine_but_not_as_a_table():
    DIN(**parts(features=[SparseFeature("user_id", 10, 16), DenseFeature("price")]))
    with pytest.raises(FeatureConfigError, match=r"shared_with='price' is a DenseFeature"):
        DIN(**parts(features=[DenseFeature("price")],
                    history_features=[SequenceFeature("hist_item_id", 20, 1, pooling="concat", shared_with="price"), H[1]],
                    target_features=[SparseFeature("item_id", 20, 1), T[1]]))


# ---- the presets are named for where they come from, and every one builds
def test_presets_name_their_source_and_build():
    from din_tutorial import settings as S

    assert S.PAPER_MLP_PARAMS["dims"] == [200, 80]  # the paper's Alibaba network, section 6.1
    assert S.OFFICIAL_CODE_MLP_PARAMS == {"dims": [80, 40], "dropout": 0.0, "activation": "sigmoid"}  # din/model.py
    assert S.OFFICIAL_CODE_DICE_MLP_PARAMS["activation"] == "dice"  # din/model_dice.py: Dice in the head only
    assert S.OFFICIAL_CODE_ATTENTION_MLP["activation"] == "sigmoid" and S.OFFICIAL_CODE_ATTENTION_MLP["use_softmax"]
    assert S.OFFICIAL_MLP_PARAMS is S.PAPER_MLP_PARAMS and S.OFFICIAL_ATTENTION_MLP is S.DEFAULT_ATTENTION_MLP  # old names
    default = DIN(**{**parts(), "mlp_params": None, "attention_mlp": None})
    assert default.mlp_params["dims"] == [200, 80] and default.attention_params["dims"] == [80, 40]
    official = DIN(**{**parts(), "mlp_params": S.OFFICIAL_CODE_MLP_PARAMS, "attention_mlp": S.OFFICIAL_CODE_ATTENTION_MLP})
    assert official.attention[0].use_softmax
    x = {"user_id": torch.tensor([1, 2]), "gender": torch.tensor([0, 1]), "item_id": torch.tensor([3, 4]),
         "cate_id": torch.tensor([1, 2]), "hist_item_id": torch.tensor([[1, 2, -1], [5, -1, -1]]),
         "hist_cate_id": torch.tensor([[1, 1, -1], [2, -1, -1]])}
    assert official.eval()(x).shape == (2,)


def test_every_ablation_variant_builds_a_din():
    from din_tutorial.tuning import ABLATIONS, ablation_settings

    for ablation, variants in ABLATIONS.items():
        for label, overrides in variants.items():
            model = DIN(**{**parts(), **ablation_settings(overrides)})
            assert model.mlp_params["dims"] == [256, 128], (ablation, label)
    assert ablation_settings(ABLATIONS["softmax"]["masked softmax"])["attention_mlp"]["use_softmax"] is True
    assert ablation_settings(ABLATIONS["activation"]["Dice"])["attention_mlp"]["dims"] == [32, 16]  # merged, not replaced
    assert ablation_settings()["attention_mlp"]["use_softmax"] is False  # the base is not modified by a merge


def test_ablation_summary_is_a_paired_t_interval():
    import pandas as pd
    from scipy import stats

    from din_tutorial.tuning import summarize_ablation

    runs = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 3, "seed": [1, 2, 3] * 2,
                         "test_gauc": [0.80, 0.82, 0.81, 0.83, 0.84, 0.85]})
    table = summarize_ablation(runs)
    assert list(table.index) == ["a", "b"] and (table["seeds"] == 3).all()
    diff = [0.03, 0.02, 0.04]
    half = stats.t.ppf(0.975, 2) * pd.Series(diff).std() / 3 ** 0.5
    assert abs(table.loc["b", "diff"] - 0.03) < 1e-12 and abs(table.loc["b", "diff_low"] - (0.03 - half)) < 1e-12
    assert table.loc["a", "diff"] == 0 and table.loc["a", "low"] < 0.81 < table.loc["a", "high"]
