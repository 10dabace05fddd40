"""EmbeddingLayer (shared tables, padding row, batch checks), MLP, PReLU and Dropout."""
from __future__ import annotations

import pytest
import torch

from din_tutorial import PAD_ID, DenseFeature, SequenceFeature, SparseFeature
from din_tutorial.layers import MLP, ActivationUnit, Dice, Dropout, EmbeddingLayer, FeatureConfigError, InputError, MissingInputError, PReLU
from din_tutorial.layers.mlp import make_activation


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def features():
    return [
        SparseFeature("user_id", 10, 4),
        SparseFeature("item_id", 20, 6),
        SequenceFeature("hist_item_id", 20, 6, pooling="concat", shared_with="item_id"),
        SequenceFeature("tags", 5, 3, pooling="mean"),
        DenseFeature("price"),
    ]


def batch():
    return {
        "user_id": torch.tensor([0, 9, 3]),
        "item_id": torch.tensor([1, 19, 0]),
        "hist_item_id": torch.tensor([[3, 4, PAD_ID], [0, PAD_ID, PAD_ID], [PAD_ID, PAD_ID, PAD_ID]]),
        "tags": torch.tensor([[1, 2], [4, PAD_ID], [PAD_ID, PAD_ID]]),
        "price": torch.tensor([1.0, 2.5, 0.0]),
    }


def test_shared_table_is_the_same_parameter_with_a_zero_padding_row():
    emb = EmbeddingLayer(features())
    assert emb.table("hist_item_id") is emb.table("item_id")
    assert emb.table("hist_item_id").weight is emb.table("item_id").weight
    assert set(emb.tables) == {"user_id", "item_id", "tags"}
    table = emb.table("item_id")
    assert table.num_embeddings == 21 and table.padding_idx == 20  # ids 0..19 are real, row 20 is padding
    assert torch.all(table.weight[20] == 0)


def test_lookup_shapes_padding_and_pooling():
    emb = EmbeddingLayer(features())
    out = emb(batch())
    assert out["user_id"].shape == (3, 4)
    assert out["hist_item_id"].shape == (3, 3, 6)
    assert torch.all(out["hist_item_id"][0, 2] == 0) and torch.all(out["hist_item_id"][2] == 0)
    assert out["price"].shape == (3, 1)
    w = emb.table("tags").weight
    torch.testing.assert_close(out["tags"][0], (w[1] + w[2]) / 2)
    torch.testing.assert_close(out["tags"][1], w[4])
    assert torch.all(out["tags"][2] == 0)  # no tag at all: zero vector, no division by zero
    torch.testing.assert_close(emb.pool("tags", batch()["tags"], "sum")[0], w[1] + w[2])


def test_gradient_reaches_the_shared_table_from_both_uses_and_never_the_padding_row():
    emb = EmbeddingLayer(features())
    out = emb(batch(), ["item_id", "hist_item_id"])
    (out["item_id"].sum() + out["hist_item_id"].sum()).backward()
    grad = emb.table("item_id").weight.grad
    assert torch.all(grad[19] != 0)  # only a target id
    assert torch.all(grad[3] != 0)  # only a history id
    assert torch.all(grad[20] == 0)  # padding row


def test_ids_are_used_as_given():
    emb = EmbeddingLayer(features())
    ids = torch.tensor([0, 5, 19])
    torch.testing.assert_close(emb.lookup("item_id", ids), emb.table("item_id").weight[ids])


def test_padding_belongs_to_histories_only():
    """PAD_ID in a single-id feature is an input error naming the feature and the row, not a silent zero row."""
    from din_tutorial import DIN

    emb = EmbeddingLayer(features())
    x = batch()
    emb.check_batch(x, [f.name for f in features()])  # histories may hold PAD_ID
    for name in ("item_id", "user_id"):
        bad = batch()
        bad[name] = torch.tensor([1, 2, PAD_ID])
        with pytest.raises(InputError, match=rf"feature '{name}': row 2 holds -1 \(PAD_ID\).*history sequences only"):
            emb.check_batch(bad, [f.name for f in features()])
    model = DIN([SparseFeature("user_id", 10, 4)], [features()[2]], [features()[1]],
                mlp_params={"dims": [8]}, attention_mlp={"dims": [4]})
    bad = {"user_id": torch.tensor([PAD_ID, 9, 3]), "item_id": torch.tensor([1, 2, 0]), "hist_item_id": x["hist_item_id"]}
    with pytest.raises(InputError, match=r"feature 'user_id': row 0 holds -1"):
        model(bad)


def test_the_embedding_layer_owns_the_padding_mask_and_row():
    emb = EmbeddingLayer(features())
    ids = batch()["hist_item_id"]
    assert torch.equal(emb.padding_mask(ids), ids != PAD_ID)
    out = emb.lookup("hist_item_id", ids)
    assert torch.all(out[~emb.padding_mask(ids)] == 0)
    torch.testing.assert_close(out[0, :2], emb.table("item_id").weight[[3, 4]])


@pytest.mark.parametrize(
    "change,error,pattern",
    [
        (lambda x: x.pop("hist_item_id"), MissingInputError, r"no input 'hist_item_id'.*the batch has"),
        (lambda x: x.__setitem__("item_id", torch.tensor([1, 20, 0])), InputError, r"'item_id': id 20 is outside \[0, 20\)"),
        (lambda x: x.__setitem__("user_id", torch.tensor([1, -3, 0])), InputError, r"'user_id': id -3 is outside"),
        (lambda x: x.__setitem__("item_id", torch.tensor([1.0, 2.0, 0.0])), InputError, r"'item_id' must hold integer ids"),
        (lambda x: x.__setitem__("hist_item_id", torch.tensor([1, 2, 3])), InputError, r"'hist_item_id'.*\(batch, seq_len\)"),
        (lambda x: x.__setitem__("user_id", torch.tensor([1, 2])), InputError, r"'item_id' has batch size 3 but 'user_id' has 2"),
        (lambda x: x.__setitem__("price", [1.0, 2.0, 3.0]), InputError, r"'price' must be a torch.Tensor"),
    ],
)
def test_batch_checks_name_the_feature(change, error, pattern):
    emb = EmbeddingLayer(features())
    x = batch()
    change(x)
    with pytest.raises(error, match=pattern):
        emb.check_batch(x, [f.name for f in features()])


def test_missing_input_is_a_key_error_with_a_readable_message():
    emb = EmbeddingLayer(features())
    with pytest.raises(KeyError) as info:
        emb.check_batch({}, ["user_id"])
    assert str(info.value).startswith("the batch has no input 'user_id'")


@pytest.mark.parametrize(
    "feats,pattern",
    [
        ([SparseFeature("a", 5, 4), SparseFeature("a", 5, 4)], r"two features are named 'a'"),
        ([SequenceFeature("h", 5, 4, shared_with="missing")], r"'h': shared_with='missing' names no feature"),
        ([SparseFeature("a", 5, 8), SequenceFeature("h", 5, 4, shared_with="a")], r"'h' \(embed_dim=4\) shares the table of 'a' \(embed_dim=8\)"),
        ([SequenceFeature("h", 5, 4, shared_with="h")], r"shared_with names the feature itself"),
        ([SparseFeature("a", 5, 4), SequenceFeature("b", 5, 4, shared_with="a"), SequenceFeature("c", 5, 4, shared_with="b")],
         r"'c': shared_with='b', but 'b' itself shares the table of 'a'; name the table's owner directly: shared_with='a'"),
        ([SparseFeature("a.b", 5, 4)], r"may not contain '\.'"),
        (["user_id"], r"expected SparseFeature, SequenceFeature or DenseFeature"),
    ],
)
def test_embedding_configuration_errors(feats, pattern):
    with pytest.raises(FeatureConfigError, match=pattern):
        EmbeddingLayer(feats)


def test_shared_tables_of_different_vocab_sizes_use_the_largest():
    emb = EmbeddingLayer([SparseFeature("item_id", 30, 4), SequenceFeature("hist_item_id", 20, 4, shared_with="item_id")])
    assert emb.table("hist_item_id").num_embeddings == 31


def test_unknown_ids_read_the_zero_row_never_another_items_row():
    """The serving rule (layers/embedding.py): an id outside [0, vocab_size) of its own feature reads the zero row.

    -2 would wrap to a real row in ONNX, 20..29 of the smaller feature are real rows of the bigger
    one it shares, and huge ids are past the table: each gives zeros, and valid ids are unchanged.
    """
    emb = EmbeddingLayer([SparseFeature("item_id", 30, 4), SequenceFeature("hist_item_id", 20, 4, shared_with="item_id"),
                          SparseFeature("user_id", 10, 4)])
    w = emb.table("item_id").weight
    hist = torch.tensor([[3, PAD_ID, -2, 20, 29, 2**62, 19]])
    out = emb.lookup("hist_item_id", hist)
    assert torch.all(out[0, [1, 2, 3, 4, 5]] == 0)
    torch.testing.assert_close(out[0, [0, 6]], w[[3, 19]])
    torch.testing.assert_close(emb.lookup("item_id", torch.tensor([20, 29])), w[[20, 29]])  # real rows of item_id
    users = emb.lookup("user_id", torch.tensor([PAD_ID, -2, 10, -(2**62), 9]))
    assert torch.all(users[:4] == 0)
    torch.testing.assert_close(users[4], emb.table("user_id").weight[9])
    assert torch.equal(emb.known("hist_item_id", hist), torch.tensor([[True, False, False, False, False, False, True]]))


def test_mlp_shapes_and_activations():
    x = torch.randn(8, 5)
    assert MLP(5, [7, 3], activation="dice")(x).shape == (8, 1)
    assert MLP(5, [7, 3], output_layer=False)(x).shape == (8, 3)
    assert MLP(5, [])(x).shape == (8, 1)
    assert isinstance(MLP(5, [4], activation="PReLU").layers[0][1], PReLU)
    assert isinstance(MLP(5, [4], activation="dice").layers[0][1], Dice)
    assert MLP(5, [4], activation="dice")(torch.randn(2, 3, 5), torch.ones(2, 3, dtype=torch.bool)).shape == (2, 3, 1)
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        make_activation("swishy", 4)


def test_prelu_has_one_slope_per_channel_of_the_last_dim():
    act = PReLU(3, init=0.1)
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([0.1, 0.2, 0.3]))
    x = -torch.ones(2, 4, 3)
    torch.testing.assert_close(act(x), -torch.tensor([0.1, 0.2, 0.3]).expand(2, 4, 3))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.04, 0.71])
def test_dropout_keeps_scales_and_passes_gradients_as_nn_dropout(p):
    x = torch.randn(1000, 2000, requires_grad=True)
    torch.manual_seed(0)
    out = Dropout(p).train()(x)
    kept = out != 0
    # nn.Dropout's kept value of 1.0 is its scale 1 / (1 - p) in float32, and every kept value is x times it
    ref_scale = torch.nn.Dropout(p).train()(torch.ones(10_000)).max()
    assert torch.equal(out[kept], x.detach()[kept] * ref_scale)
    rate = kept.double().mean().item()  # 2e6 draws: the standard error of the rate is at most 3.6e-4
    assert abs(rate - (1 - p)) < 0.003, rate
    g = torch.randn_like(x)
    out.backward(g)
    assert torch.equal(x.grad, torch.where(kept, g * ref_scale, 0.0))
    torch.manual_seed(0)
    assert torch.equal(Dropout(p).train()(x.detach()), out.detach())  # the seeded generator: the same mask


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_dropout_keeps_the_dtype_and_nn_dropouts_scale(dtype):
    x = torch.ones(100_000, dtype=dtype)
    out, ref = Dropout(0.3).train()(x), torch.nn.Dropout(0.3).train()(x)
    assert out.dtype == dtype
    assert torch.equal(out.unique(), ref.unique())  # 0 and the same 1 / 0.7 in this dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_dropout_scale_is_nn_dropouts_to_the_bit_for_many_rates(dtype):
    """Every kept 1.0 becomes nn.Dropout's scale to the bit (1 / (1 - p) rounded in the dtype, as its mask.div_ rounds)."""
    x = torch.ones(4096, dtype=dtype)
    for p in torch.linspace(0.001, 0.999, 400, dtype=torch.float64).tolist():
        torch.manual_seed(1)
        ours = Dropout(p).train()(x).max()
        torch.manual_seed(1)
        ref = torch.nn.Dropout(p).train()(x).max()
        assert torch.equal(ours, ref), (p, ours.item(), ref.item())


def test_dropout_is_the_identity_in_eval_mode_and_at_zero():
    x = torch.randn(4, 3)
    assert Dropout(0.3).eval()(x) is x
    assert Dropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        Dropout(1.0)
    modules = [*MLP(5, [4, 3], dropout=0.2).modules(), *ActivationUnit(4, [3], dropout=0.2).modules()]
    assert not any(type(m) is torch.nn.Dropout for m in modules)
    assert sum(isinstance(m, Dropout) for m in modules) == 3  # after each hidden layer


def test_dropout_near_one_keeps_almost_nothing_and_never_overflows_the_int32_threshold():
    torch.manual_seed(0)
    out = Dropout(1 - 1e-12).train()(torch.ones(100_000))  # the threshold is capped at 2**31 - 1
    assert int((out != 0).sum()) <= 1
