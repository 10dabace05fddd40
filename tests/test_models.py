"""DIN and BaseModel: the seed's call, invariances, independence, gradients, overfitting, regularisation."""
from __future__ import annotations

import pytest
import torch

from din_tutorial import DIN, PAD_ID, BaseModel, DenseFeature, SequenceFeature, SparseFeature
from din_tutorial.layers import InputError, MissingInputError, PReLU


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SEED_MLP = {"dims": [256, 128], "dropout": 0.2, "activation": "dice"}
SEED_ATT = {"dims": [32, 16], "dropout": 0.2, "activation": "dice"}
VOCAB = {"user_id": 30, "gender": 2, "age": 7, "occupation": 21, "zip": 40, "item_id": 50, "cate_id": 9}


def seed_features():
    """The seed's section 2.2, with small vocabularies."""
    features = [
        SparseFeature("user_id", vocab_size=VOCAB["user_id"], embed_dim=16),
        SparseFeature("gender", vocab_size=VOCAB["gender"], embed_dim=8),
        SparseFeature("age", vocab_size=VOCAB["age"], embed_dim=8),
        SparseFeature("occupation", vocab_size=VOCAB["occupation"], embed_dim=8),
        SparseFeature("zip", vocab_size=VOCAB["zip"], embed_dim=8),
    ]
    target_features = [
        SparseFeature("item_id", vocab_size=VOCAB["item_id"], embed_dim=16),
        SparseFeature("cate_id", vocab_size=VOCAB["cate_id"], embed_dim=16),
    ]
    history_features = [
        SequenceFeature("hist_item_id", vocab_size=VOCAB["item_id"], embed_dim=16, pooling="concat", shared_with="item_id"),
        SequenceFeature("hist_cate_id", vocab_size=VOCAB["cate_id"], embed_dim=16, pooling="concat", shared_with="cate_id"),
    ]
    return features, history_features, target_features


def seed_din(**kw):
    features, history_features, target_features = seed_features()
    return DIN(features=features, history_features=history_features, target_features=target_features,
               mlp_params=kw.pop("mlp_params", SEED_MLP), attention_mlp=kw.pop("attention_mlp", SEED_ATT), **kw)


def make_batch(batch=6, seq_len=8, seed=0, lengths=None):
    g = torch.Generator().manual_seed(seed)
    x = {name: torch.randint(0, v, (batch,), generator=g) for name, v in VOCAB.items()}
    if lengths is None:
        lengths = torch.randint(0, seq_len + 1, (batch,), generator=g)
        lengths[0] = seq_len  # one full history
        if batch > 1:
            lengths[1] = 0  # one empty history
    pad = torch.arange(seq_len)[None, :] >= torch.as_tensor(lengths)[:, None]
    for name in ("item_id", "cate_id"):
        x["hist_" + name] = torch.randint(0, VOCAB[name], (batch, seq_len), generator=g).masked_fill(pad, PAD_ID)
    return x


def with_dropout(params, p):
    return {**params, "dropout": p}


# ----------------------------------------------------------------------------- the seed's call
def test_seed_call_works_as_written_and_returns_probabilities():
    model = seed_din()
    x = make_batch()
    p = model(x)
    assert p.shape == (6,) and p.dtype == torch.float32
    assert torch.all((p > 0) & (p < 1))
    assert model.input_names == ["user_id", "gender", "age", "occupation", "zip", "item_id", "cate_id",
                                 "hist_item_id", "hist_cate_id"]
    assert [f.name for f in model.history_features] == ["hist_item_id", "hist_cate_id"]
    assert [f.name for f in model.target_features] == ["item_id", "cate_id"]
    assert len(model.features) == 5
    # the activation unit sees item and category side by side (the paper's goods group)
    assert len(model.attention) == 1 and model.attention[0].embed_dim == 32
    assert model.mlp.layers[0][0].in_features == 16 + 4 * 8 + 32 + 32


def test_attention_mlp_params_alias_and_activation_honoured():
    features, history, target = seed_features()
    model = DIN(features, history, target, mlp_params={"dims": [8], "activation": "prelu"},
                attention_mlp_params={"dims": [4], "activation": "relu", "use_softmax": True})
    assert isinstance(model.mlp.layers[0][1], PReLU)
    assert isinstance(model.attention[0].act, torch.nn.ReLU)
    assert model.attention[0].use_softmax
    model(make_batch())


def test_base_model_takes_the_same_constructor():
    features, history, target = seed_features()
    base = BaseModel(features=features, history_features=history, target_features=target,
                     mlp_params=SEED_MLP, attention_mlp=SEED_ATT)
    p = base(make_batch())
    assert p.shape == (6,)
    assert base.input_names == seed_din().input_names
    assert base.mlp.layers[0][0].in_features == seed_din().mlp.layers[0][0].in_features


def test_base_model_sums_the_history():
    features, history, target = seed_features()
    base = BaseModel(features, history, target, {"dims": [4]}).eval()
    x = make_batch()
    w = base.embedding.table("hist_item_id").weight
    parts = base._interest(x, base._target_parts(x), packed=True)[0]
    ids = x["hist_item_id"][0]
    torch.testing.assert_close(parts[0][0], w[ids].sum(0))
    assert torch.all(parts[0][1] == 0)  # empty history


# ----------------------------------------------------------------------------- shapes and edge cases
@pytest.mark.parametrize("cls", [DIN, BaseModel])
@pytest.mark.parametrize("train", [True, False])
def test_batch_size_one_and_history_length_one(cls, train):
    features, history, target = seed_features()
    model = cls(features, history, target, SEED_MLP, SEED_ATT).train(train)
    for x in (make_batch(batch=1, seq_len=5, lengths=[3]), make_batch(batch=4, seq_len=1, lengths=[1, 0, 1, 1])):
        p = model(x)
        assert p.shape == (len(x["user_id"]),) and torch.isfinite(p).all()
        if train:
            p.sum().backward()


def test_fully_padded_history_gives_zero_attention_output():
    model = seed_din().eval()
    x = make_batch(batch=3, seq_len=6, lengths=[0, 0, 0])
    for pack in (True, False):
        pooled, w = model._interest(x, model._target_parts(x), packed=pack, return_weights=True)
        assert torch.all(pooled[0] == 0) and torch.all(w == 0)
        assert torch.isfinite(model(x, traceable=not pack)).all()
    model.train()
    model(x).sum().backward()  # no NaN from an empty set of behaviours in training either
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("cls", [DIN, BaseModel])
@pytest.mark.parametrize("pack", [True, False])
def test_padding_invariance(cls, pack):
    """The same real history padded to 3, 10 and 50 steps gives the same prediction (eval mode)."""
    features, history, target = seed_features()
    torch.manual_seed(0)
    model = cls(features, history, target, SEED_MLP, SEED_ATT).eval()
    base = make_batch(batch=4, seq_len=3, seed=1, lengths=[3, 2, 1, 0])
    preds = []
    for seq_len in (3, 10, 50):
        x = dict(base)
        for name in ("hist_item_id", "hist_cate_id"):
            x[name] = torch.cat([base[name], torch.full((4, seq_len - 3), PAD_ID)], dim=1)
        preds.append(model(x, traceable=not pack))
    torch.testing.assert_close(preds[0], preds[1], rtol=0, atol=1e-6)
    torch.testing.assert_close(preds[0], preds[2], rtol=0, atol=1e-6)


def test_padding_invariance_holds_in_training_mode_too():
    """Dice's batch statistics leave padding out, so without dropout even training mode is invariant."""
    torch.manual_seed(0)
    model = seed_din(mlp_params=with_dropout(SEED_MLP, 0.0), attention_mlp=with_dropout(SEED_ATT, 0.0)).train()
    base = make_batch(batch=5, seq_len=3, seed=2, lengths=[3, 3, 2, 1, 0])
    preds = []
    for pack in (True, False):
        for seq_len in (3, 10):
            x = dict(base)
            for name in ("hist_item_id", "hist_cate_id"):
                x[name] = torch.cat([base[name], torch.full((5, seq_len - 3), PAD_ID)], dim=1)
            preds.append(model(x, traceable=not pack))
    for p in preds[1:]:
        torch.testing.assert_close(p, preds[0], rtol=1e-5, atol=1e-6)


def test_packed_and_dense_paths_agree_in_values_and_gradients():
    torch.manual_seed(0)
    model = seed_din(mlp_params=with_dropout(SEED_MLP, 0.0), attention_mlp=with_dropout(SEED_ATT, 0.0))
    x = make_batch(batch=16, seq_len=12, seed=3)
    grads = []
    for pack in (True, False):
        model.zero_grad()
        model(x, traceable=not pack).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.parametrize("use_softmax", [False, True])
def test_attention_weights(use_softmax):
    model = seed_din(attention_mlp={**SEED_ATT, "use_softmax": use_softmax}).eval()
    x = make_batch(batch=5, seq_len=7, seed=4)
    w = model.attention_weights(x)
    assert w.shape == (5, 7)
    assert torch.all(w[x["hist_item_id"] == PAD_ID] == 0)
    assert torch.all(w[1] == 0)  # empty history
    if use_softmax:
        real = (x["hist_item_id"] != PAD_ID).any(1)
        torch.testing.assert_close(w[real].sum(1), torch.ones(int(real.sum())))
    per = seed_din(attention_mode="per_feature").eval()
    assert len(per.attention) == 2 and per.attention[0].embed_dim == 16
    assert per.attention_weights(x).shape == (5, 2, 7)


# ----------------------------------------------------------------------------- weights: sharing and independence
def test_shared_embedding_is_one_parameter_and_gets_gradient_from_history_and_target():
    model = seed_din(mlp_params=with_dropout(SEED_MLP, 0.0), attention_mlp=with_dropout(SEED_ATT, 0.0))
    emb = model.embedding
    assert emb.table("hist_item_id").weight is emb.table("item_id").weight
    assert emb.table("hist_cate_id").weight is emb.table("cate_id").weight
    names = [n for n, _ in model.named_parameters() if n.startswith("embedding.")]
    assert len(names) == 7  # 5 profile tables + item + category, no duplicate for the histories
    x = make_batch(batch=4, seq_len=5, seed=5)
    hist_only = sorted(set(x["hist_item_id"][x["hist_item_id"] >= 0].tolist()) - set(x["item_id"].tolist()))
    assert hist_only
    model(x).sum().backward()
    grad = emb.table("item_id").weight.grad
    assert torch.all(grad[hist_only].abs().sum(1) > 0)  # reached through the attention only
    assert torch.all(grad[x["item_id"]].abs().sum(1) > 0)
    assert torch.all(grad[VOCAB["item_id"]] == 0)  # the padding row never trains


def test_two_models_from_the_same_features_are_independent():
    features, history, target = seed_features()
    din = DIN(features, history, target, SEED_MLP, SEED_ATT)
    din2 = DIN(features, history, target, SEED_MLP, SEED_ATT)
    base = BaseModel(features, history, target, SEED_MLP, SEED_ATT)
    assert din.embedding.table("item_id") is not base.embedding.table("item_id")
    assert din.embedding.table("item_id") is not din2.embedding.table("item_id")
    before = base.embedding.table("item_id").weight.detach().clone()
    opt = torch.optim.SGD(din.parameters(), lr=1.0)
    din(make_batch()).sum().backward()
    opt.step()
    assert torch.equal(base.embedding.table("item_id").weight, before)
    for f in features + history + target:
        assert not any(isinstance(v, (torch.Tensor, torch.nn.Module)) for v in vars(f).values())


def test_sharing_embeddings_on_request():
    features, history, target = seed_features()
    din = DIN(features, history, target, SEED_MLP, SEED_ATT)
    base = BaseModel(features, history, target, SEED_MLP, embedding=din.embedding)
    assert base.embedding.table("item_id") is din.embedding.table("item_id")


# ----------------------------------------------------------------------------- learning
@pytest.mark.parametrize("cls", [DIN, BaseModel])
def test_tiny_overfit(cls):
    torch.manual_seed(0)
    features, history, target = seed_features()
    model = cls(features, history, target, {"dims": [32, 16], "dropout": 0.0, "activation": "dice"},
                {"dims": [16, 8], "dropout": 0.0, "activation": "dice"})
    x = make_batch(batch=48, seq_len=6, seed=7)
    y = (torch.arange(48) % 2).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCELoss()
    first = None
    for _ in range(150):
        loss = loss_fn(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 < first
    model.eval()
    assert ((model(x) > 0.5).float() == y).all()


def test_dense_features_are_used():
    features, history, target = seed_features()
    model = DIN(features + [DenseFeature("price")], history, target, SEED_MLP, SEED_ATT).eval()
    x = make_batch()
    x["price"] = torch.zeros(6)
    p0 = model(x)
    x["price"] = torch.full((6,), 5.0)
    assert not torch.allclose(p0, model(x))
    assert model.input_names[5] == "price"


# ----------------------------------------------------------------------------- regularisation
def test_regularization_is_zero_when_off_and_the_paper_formula_when_on():
    assert seed_din().regularization_loss(make_batch()).item() == 0.0
    model = seed_din(mba_reg=0.01)
    x = make_batch(batch=5, seq_len=4, seed=8)
    item = model.embedding.table("item_id").weight
    ids = torch.cat([x["item_id"], x["hist_item_id"].reshape(-1)])
    ids = ids[ids != PAD_ID]
    want = 0.0
    for table, names in [("item_id", ["item_id", "hist_item_id"]), ("cate_id", ["cate_id", "hist_cate_id"]),
                         ("user_id", ["user_id"]), ("gender", ["gender"]), ("age", ["age"]),
                         ("occupation", ["occupation"]), ("zip", ["zip"])]:
        w = model.embedding.tables[table].weight
        ids = torch.cat([x[n].reshape(-1) for n in names])
        ids = ids[ids != PAD_ID]
        for j in ids.unique().tolist():
            want += (w[j] ** 2).sum().item() / (ids == j).sum().item()  # n_j: count in the batch
    torch.testing.assert_close(model.regularization_loss(x).item(), 0.5 * 0.01 * want, rtol=1e-5, atol=0)
    # only the rows present in the batch get its gradient
    model.regularization_loss(x).backward()
    absent = torch.ones(VOCAB["item_id"] + 1, dtype=torch.bool)
    absent[torch.cat([x["item_id"], x["hist_item_id"].reshape(-1)])] = False
    assert torch.all(item.grad[absent] == 0)


def test_regularization_with_training_counts():
    counts = torch.arange(1, VOCAB["item_id"] + 1)
    model = seed_din(mba_reg=0.02, id_counts={"hist_item_id": counts})
    x = make_batch(batch=3, seq_len=2, seed=9)
    w = model.embedding.table("item_id").weight
    present = torch.cat([x["item_id"], x["hist_item_id"].reshape(-1)])
    present = present[present != PAD_ID].unique()
    want = sum((w[j] ** 2).sum() / counts[j] for j in present.tolist())
    full = model.regularization_loss(x)
    model_items_only = 0.5 * 0.02 * want
    assert full.item() >= model_items_only.item() - 1e-9  # the other tables add their own part
    with pytest.raises(ValueError, match="id_counts: 'nope'"):
        seed_din(mba_reg=0.01, id_counts={"nope": [1, 2]})


# ----------------------------------------------------------------------------- errors
def test_forward_errors_name_the_feature():
    model = seed_din()
    x = make_batch()
    x["hist_item_id"] = x["hist_item_id"].clone()
    x["hist_item_id"][0, 0] = VOCAB["item_id"]  # one past the last id
    with pytest.raises(InputError, match=r"'hist_item_id': id 50 is outside \[0, 50\)"):
        model(x)
    x = make_batch()
    del x["cate_id"]
    with pytest.raises(MissingInputError, match="no input 'cate_id'"):
        model(x)
    with pytest.raises(KeyError):
        model(x)
    x = make_batch()
    x["hist_cate_id"] = x["hist_cate_id"].clone()
    x["hist_cate_id"][x["hist_cate_id"] == PAD_ID] = 0
    with pytest.raises(InputError, match="same shape and padding"):
        model(x)


def test_attention_weights_never_change_dices_moving_averages_and_keep_the_mode():
    model = seed_din().train()
    x = make_batch(batch=8, seq_len=6, seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    w_train_mode = model.attention_weights(x)
    assert model.training  # the mode is restored
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "attention_weights changed a buffer"
    torch.testing.assert_close(w_train_mode, model.eval().attention_weights(x))  # computed as at inference


def test_a_trained_step_changes_dices_moving_averages_and_attention_weights_does_not():
    """The sanity of the test above: in training mode a forward pass does move the averages."""
    model = seed_din().train()
    x = make_batch(batch=8, seq_len=6, seed=5)
    before = model.attention[0].act.running_mean.clone()
    model(x)
    assert not torch.equal(before, model.attention[0].act.running_mean)
