"""DIN and BaseModel export to ONNX with named inputs and dynamic batch / history length, matching PyTorch.

The export records ``model(x, traceable=True)``, the dense masked form (the packed path's shapes depend
on the data); PyTorch's eval forward runs the packed path, so parity here also shows that both agree.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from din_tutorial import DIN, PAD_ID, BaseModel, DenseFeature, SequenceFeature, SparseFeature
from din_tutorial.export import export_onnx

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

VOCAB = {"user_id": 30, "gender": 3, "item_id": 40, "cate_id": 6}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def build(cls, **kw):
    torch.manual_seed(0)
    features = [SparseFeature("user_id", VOCAB["user_id"], 16), SparseFeature("gender", VOCAB["gender"], 8),
                DenseFeature("price")]
    target = [SparseFeature("item_id", VOCAB["item_id"], 16), SparseFeature("cate_id", VOCAB["cate_id"], 16)]
    history = [
        SequenceFeature("hist_item_id", VOCAB["item_id"], 16, pooling="concat", shared_with="item_id"),
        SequenceFeature("hist_cate_id", VOCAB["cate_id"], 16, pooling="concat", shared_with="cate_id"),
    ]
    att = {"dims": [16, 8], "dropout": 0.2, "activation": "dice", "use_softmax": kw.pop("use_softmax", False)}
    model = cls(features, history, target, {"dims": [32, 16], "dropout": 0.2, "activation": "dice"}, att, **kw)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)  # a few steps: non-trivial weights and Dice statistics
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        loss = torch.nn.functional.binary_cross_entropy(model(batch(64, 9, g)), torch.randint(0, 2, (64,), generator=g).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def batch(n, seq_len, g):
    x = {name: torch.randint(0, v, (n,), generator=g) for name, v in VOCAB.items()}
    x["price"] = torch.rand(n, generator=g)
    lengths = torch.randint(0, seq_len + 1, (n,), generator=g)
    lengths[0] = seq_len
    pad = torch.arange(seq_len)[None, :] >= lengths[:, None]
    for name in ("item_id", "cate_id"):
        x["hist_" + name] = torch.randint(0, VOCAB[name], (n, seq_len), generator=g).masked_fill(pad, PAD_ID)
    return x


@pytest.mark.parametrize(
    "cls,kw,dynamo",
    [
        (DIN, {}, True),
        (DIN, {"attention_mode": "per_feature", "use_softmax": True}, False),
        (BaseModel, {}, False),
    ],
    ids=["DIN-dynamo", "DIN-per-feature-softmax-legacy", "BaseModel-legacy"],
)
def test_onnx_parity_at_other_batch_sizes_and_history_lengths(tmp_path, cls, kw, dynamo):
    model = build(cls, **kw)
    path = export_onnx(model, tmp_path / "model.onnx", dynamo=dynamo)  # the package's one export call
    assert path.exists() and not list(tmp_path.glob("*.data"))  # one file, weights inside
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == model.input_names
    g = torch.Generator().manual_seed(3)
    for n in (1, 7, 300):
        for seq_len in (1, 5, 80):
            x = batch(n, seq_len, g)
            with torch.no_grad():
                want = model(x).numpy()
            got = sess.run(None, {k: x[k].numpy() for k in model.input_names})[0]
            assert got.shape == (n,)
            assert not model.training  # the reference must be the eval forward
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"batch {n}, seq_len {seq_len}")


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "legacy"])
def test_dense_vector_feature_exports_with_its_fixed_width(tmp_path, dynamo):
    """DenseFeature(embed_dim=3) is a (batch, 3) input: its second axis is its width, not a history length."""
    from din_tutorial import DataGenerator
    from din_tutorial.export import example_batch, verify_onnx

    torch.manual_seed(0)
    model = DIN([SparseFeature("user_id", 10, 4), DenseFeature("vec", embed_dim=3), DenseFeature("price")],
                [SequenceFeature("hist_item_id", 20, 4, pooling="concat", shared_with="item_id")],
                [SparseFeature("item_id", 20, 4)], mlp_params={"dims": [8]}, attention_mlp={"dims": [4]})
    x = {k: v.numpy() for k, v in example_batch(model, 12, 1, seed=2).items()}  # one history step: the loader path pads one
    assert x["vec"].shape == (12, 3)
    loader = DataGenerator(x, np.arange(12) % 2).generate_dataloader(x_val=x, y_val=np.arange(12) % 2, batch_size=6)[0]
    path = export_onnx(model.eval(), tmp_path / "m.onnx", data_loader=loader, dynamo=dynamo)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [tuple(i.shape)[1] for i in sess.get_inputs() if i.name == "vec"] == [3]
    report = verify_onnx(model, path, data_loader=loader)  # batch sizes and history lengths the export never saw
    assert report["max_abs_diff"] <= 1e-5 and (64, 20) in report["shapes"]
