"""din_tutorial.serving: the split first layer and SplitDIN give the plain model's values (equality, not timing)."""
import pytest
import torch

from din_tutorial import PAD_ID
from din_tutorial.layers.dice import Dice
from din_tutorial.pipeline import build_model
from din_tutorial.serving import SplitDIN, latency_ab_ms, latency_ms, repeat_user, split_first_layer

VOCAB = {"user_id": 50, "item_id": 40, "cate_id": 8, "gender": 3, "age": 7, "occupation": 21, "zip": 30}
ATOL = 1e-6


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    model = build_model("din", VOCAB, **kw)
    for m in model.modules():  # moving averages away from their start, so that Dice's eval form matters
        if isinstance(m, Dice):
            m.running_mean.normal_(0.0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _request(n_candidates, seq_len=12, n_real=9, seed=1):
    gen = torch.Generator().manual_seed(seed)
    user = {name: torch.randint(0, VOCAB[name], (1,), generator=gen) for name in ("user_id", "gender", "age",
                                                                                  "occupation", "zip")}
    for name, table in (("hist_item_id", "item_id"), ("hist_cate_id", "cate_id")):
        hist = torch.randint(0, VOCAB[table], (1, seq_len), generator=gen)
        hist[:, n_real:] = PAD_ID  # oldest first, padding at the end
        user[name] = hist
    candidates = {"item_id": torch.randint(0, VOCAB["item_id"], (n_candidates,), generator=gen),
                  "cate_id": torch.randint(0, VOCAB["cate_id"], (n_candidates,), generator=gen)}
    return user, candidates


def test_repeat_user_gives_one_row_per_candidate():
    user, candidates = _request(5)
    batch = repeat_user(user, candidates)
    assert batch["hist_item_id"].shape == (5, 12) and batch["user_id"].shape == (5,)
    assert torch.equal(batch["item_id"], candidates["item_id"])
    assert all(torch.equal(batch["hist_cate_id"][i], user["hist_cate_id"][0]) for i in range(5))
    with pytest.raises(ValueError, match="one value per candidate"):
        repeat_user(user, {"item_id": torch.zeros(3, dtype=torch.long), "cate_id": torch.zeros(4, dtype=torch.long)})


def test_split_first_layer_equals_the_official_code_form():
    unit = _model().attention[0]
    gen = torch.Generator().manual_seed(3)
    queries, keys = torch.randn(7, unit.embed_dim, generator=gen), torch.randn(11, unit.embed_dim, generator=gen)
    with torch.no_grad():
        want = unit.first_layer_naive(queries, keys.unsqueeze(0).expand(7, -1, -1))  # (C, L, H)
        got = split_first_layer(unit, queries, keys)
    assert got.shape == want.shape == (7, 11, unit.first.out_features)
    assert torch.allclose(got, want, atol=ATOL)


@pytest.mark.parametrize("n_candidates", [1, 7, 64])
@pytest.mark.parametrize("options", [{}, {"attention_mode": "per_feature"},
                                     {"attention_mlp": {"dims": [16, 8], "activation": "prelu", "use_softmax": True}}],
                         ids=["group", "per_feature", "softmax-prelu"])
def test_split_din_equals_the_plain_model(n_candidates, options):
    model = _model(**options)
    batch = repeat_user(*_request(n_candidates))
    with torch.no_grad():
        want = model(batch)
        got = SplitDIN(model)(batch)
        dense = SplitDIN(model)(batch, traceable=True)
    assert got.shape == (n_candidates,)
    assert torch.allclose(got, want, atol=ATOL), (got - want).abs().max()
    assert torch.equal(got, dense)


def test_split_din_shares_the_weights_and_a_history_without_padding():
    model = _model()
    split = SplitDIN(model)
    batch = repeat_user(*_request(5, seq_len=6, n_real=6))
    with torch.no_grad():
        model.mlp.output.bias += 0.5  # a later change of the DIN is seen by its serving form: no copy
        assert torch.allclose(split(batch), model(batch), atol=ATOL)


def test_split_din_refuses_two_users_and_training_mode():
    model = _model()
    batch = repeat_user(*_request(4))
    batch["hist_item_id"] = batch["hist_item_id"].clone()
    batch["hist_item_id"][2, 0] = (batch["hist_item_id"][2, 0] + 1) % VOCAB["item_id"]
    with pytest.raises(ValueError, match="one user per request"):
        SplitDIN(model)(batch)
    split = SplitDIN(model).train()
    with pytest.raises(RuntimeError, match="eval mode"):
        split(repeat_user(*_request(4)))
    with pytest.raises(TypeError, match="BaseModel"):
        SplitDIN(build_model("basemodel", VOCAB))


def test_split_din_exports_to_onnx_and_matches(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from din_tutorial.export import export_onnx, onnx_session, predict_onnx

    model = _model()
    split = SplitDIN(model)
    path = export_onnx(split, tmp_path / "split.onnx", data_loader=[repeat_user(*_request(8))])
    session = onnx_session(path, threads=1)
    for n, seq_len, n_real in ((1, 3, 2), (9, 12, 9), (33, 20, 20)):
        batch = repeat_user(*_request(n, seq_len=seq_len, n_real=n_real, seed=n))
        with torch.no_grad():
            want = model(batch).numpy()
        assert abs(predict_onnx(session, batch) - want).max() < 1e-5


def test_latency_ms_times_each_call():
    calls = []
    times = latency_ms(lambda: calls.append(1), repeats=5, warmup=2)
    assert set(times) == {"wall", "cpu"} and len(calls) == 7
    assert all(t.shape == (5,) and (t >= 0).all() for t in times.values())


def test_latency_ab_ms_interleaves():
    order = []
    times = latency_ab_ms({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=3, warmup=1)
    assert order == ["a", "b", "a", "b", "a", "b", "a", "b"]
    assert set(times) == {"a", "b"} and all(t["cpu"].shape == (3,) for t in times.values())


def test_cpu_clock_does_not_count_waiting():
    import time

    times = latency_ms(lambda: time.sleep(0.02), repeats=2, warmup=0)
    assert times["wall"].min() >= 19 and times["cpu"].max() < 10
