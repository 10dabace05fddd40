"""ONNX export: one file, named inputs, dynamic batch and history length, parity with PyTorch."""
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from din_tutorial import DIN, BaseModel, CTRTrainer, DataGenerator, SequenceFeature, SparseFeature  # noqa: E402
from din_tutorial.export import (  # noqa: E402
    UnknownIdWarning,
    example_batch,
    export_onnx,
    onnx_session,
    predict_onnx,
    verify_onnx,
)

SHAPES = [(b, s) for b in (1, 7, 300) for s in (1, 5, 80)]


def seed_features():
    features = [SparseFeature("user_id", 100, 16), SparseFeature("gender", 3, 8), SparseFeature("age", 7, 8)]
    target = [SparseFeature("item_id", 60, 16), SparseFeature("cate_id", 9, 16)]
    hist = [
        SequenceFeature("hist_item_id", 60, 16, pooling="concat", shared_with="item_id"),
        SequenceFeature("hist_cate_id", 9, 16, pooling="concat", shared_with="cate_id"),
    ]
    return features, hist, target


def trained(model_cls):
    torch.manual_seed(0)
    features, hist, target = seed_features()
    model = model_cls(features, hist, target, mlp_params={"dims": [32, 16], "dropout": 0.2, "activation": "dice"},
                      attention_mlp={"dims": [16, 8], "dropout": 0.2, "activation": "dice"})
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for i in range(10):  # move the weights and Dice's running statistics away from their start
        x = example_batch(model, 64, 20, seed=i)
        loss = torch.nn.functional.binary_cross_entropy(model(x), torch.randint(0, 2, (64,)).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def loader_for(model, n=40, seq=50):
    x = {k: v.numpy() for k, v in example_batch(model, n, seq, seed=99).items()}
    return DataGenerator(x, np.arange(n) % 2).generate_dataloader(x_val=x, y_val=np.arange(n) % 2, batch_size=16)[0]


@pytest.mark.parametrize("model_cls", [DIN, BaseModel])
@pytest.mark.parametrize("dynamo", [True, False])
def test_parity_at_other_batch_sizes_and_history_lengths(tmp_path, model_cls, dynamo):
    model = trained(model_cls)
    path = export_onnx(model, tmp_path / "m.onnx", data_loader=loader_for(model), dynamic_batch=True, dynamo=dynamo)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # one file, no side .data file
    batches = [example_batch(model, b, s, seed=b * 100 + s) for b, s in SHAPES]
    report = verify_onnx(model, path, batches=batches, atol=1e-5, shapes=())
    assert report["max_abs_diff"] <= 1e-5 and report["n_samples"] == 3 * (1 + 7 + 300)
    session = onnx_session(path)
    assert [i.name for i in session.get_inputs()] == model.input_names
    assert session.get_outputs()[0].name == "probability"


def test_fully_padded_history_and_extra_keys(tmp_path):
    model = trained(DIN)
    path = export_onnx(model, tmp_path / "din.onnx")
    x = example_batch(model, 5, 4, seed=3)
    x["hist_item_id"][:] = -1
    x["hist_cate_id"][:] = -1
    x["label"] = torch.zeros(5)  # ignored
    with torch.no_grad():
        ref = model(x).numpy()
    assert np.abs(predict_onnx(onnx_session(path), x) - ref).max() <= 1e-5


def test_trainer_export_warns_when_untrained_and_bad_arguments(tmp_path):
    model = trained(DIN)
    trainer = CTRTrainer(model, model_path=tmp_path / "ckpt", verbose=False)
    with pytest.warns(UserWarning, match="never trained"):
        trainer.export_onnx(tmp_path / "din.onnx", data_loader=loader_for(model), dynamic_batch=True)
    assert (tmp_path / "din.onnx").exists()
    with pytest.raises(ValueError, match=r"end in \.onnx"):
        export_onnx(model, tmp_path / "din.txt")
    with pytest.raises(ValueError, match="input_names"):
        export_onnx(torch.nn.Linear(2, 1), tmp_path / "lin.onnx")
    with pytest.raises(KeyError, match="needs input 'gender'"):
        predict_onnx(onnx_session(tmp_path / "din.onnx"), {"user_id": np.zeros(2, np.int64)})


def test_verify_onnx_checks_several_shapes_by_default(tmp_path):
    """From a loader of one shape, verify_onnx still checks other batch sizes and history lengths."""
    model = trained(DIN)
    loader = loader_for(model, n=40, seq=50)
    path = export_onnx(model, tmp_path / "m.onnx", data_loader=loader)
    report = verify_onnx(model, path, data_loader=loader)
    assert {(16, 50), (8, 50), (3, 25), (1, 1), (7, 5), (3, 50), (64, 20)} <= set(report["shapes"])
    # and it fails when the graph is not the model: another model's weights
    other = trained(DIN)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05)
    with pytest.raises(AssertionError, match=r"ONNX and PyTorch differ.*shapes \(batch, seq_len\)"):
        verify_onnx(other, path, data_loader=loader)


@pytest.mark.parametrize("dynamo", [True, False])
def test_serving_rule_for_padding_and_unknown_ids_in_onnxruntime(tmp_path, dynamo):
    """export.py's serving rule in the exported graph: PAD_ID in a history is masked; PAD_ID in a single-id
    feature, -2, vocab_size and a huge id read the zero row (never another item's row), as in PyTorch.

    The reference is independent of the rule's code: a copy of the model whose last row of each
    table is zeroed, fed that last id where the batch has an unknown one (no other sample uses it),
    and for PAD_ID in the middle of a history, the same history with the padded step moved to the end.
    """
    import copy

    from din_tutorial import PAD_ID
    from din_tutorial.layers import InputError

    model = trained(DIN)
    with torch.no_grad():  # rows far apart: reading a wrong row moves a probability far more than float noise
        for table in model.embedding.tables.values():
            table.weight.mul_(30.0)
    path = export_onnx(model, tmp_path / "din.onnx", dynamo=dynamo)
    vocab = {name: f.vocab_size for name, f in _features(model).items()}
    gen = torch.Generator().manual_seed(5)
    n, seq = 8, 6
    x = {name: torch.randint(0, vocab[name] - 1, (n,), generator=gen) for name in ("user_id", "gender", "age",
                                                                                  "item_id", "cate_id")}
    for name in ("item_id", "cate_id"):
        x["hist_" + name] = torch.randint(0, vocab[name] - 1, (n, seq), generator=gen)
        x["hist_" + name][:, 4:] = PAD_ID
    ref = {k: v.clone() for k, v in x.items()}
    huge = 2**62
    unknown = [(0, "user_id", PAD_ID), (1, "item_id", -2), (2, "item_id", vocab["item_id"]), (3, "cate_id", huge),
               (4, "gender", -(2**40))]
    for row, name, bad in unknown:
        x[name][row] = bad
        ref[name][row] = vocab[name] - 1
    for row, step, bad in [(5, 1, -2), (6, 0, huge)]:  # a behaviour on an unknown item: a step with a zero key
        x["hist_item_id"][row, step] = bad
        ref["hist_item_id"][row, step] = vocab["item_id"] - 1
    for name in ("hist_item_id", "hist_cate_id"):  # padding in the middle of row 7's history: masked
        x[name][7, 1] = PAD_ID
        ref[name][7] = torch.cat([x[name][7, [0, 2, 3]], torch.full((3,), PAD_ID)])

    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        for table in zeroed.embedding.tables.values():
            table.weight[table.padding_idx - 1].zero_()
        want = zeroed(ref).numpy()  # the checked eager forward: ref holds valid ids only
        eager = model(x, traceable=True).numpy()
    session = onnx_session(path)
    with pytest.warns(UnknownIdWarning) as caught:  # not silently: the serving helper counts them
        got = predict_onnx(session, x)
    report = str(caught[0].message)
    for part in ("user_id: 1 id(s) outside [0, 100), e.g. -1", "item_id: 2 id(s) outside [0, 60)",
                 "hist_item_id: 2 id(s) outside [0, 60)", "cate_id: 1 id(s)", "gender: 1 id(s)"):
        assert part in report, report
    assert "hist_cate_id" not in report  # PAD_ID in a history is padding
    with pytest.raises(ValueError, match="unknown ids read the zero row"):
        predict_onnx(session, x, unknown_ids="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_onnx(session, ref)  # known ids only: no report
    np.testing.assert_allclose(eager, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    with torch.no_grad():
        clean = model({k: v[[7]] for k, v in ref.items()}).numpy()
        gap = np.abs(want[:6] - model(ref).numpy()[:6])  # the zero row is not the last id's row:
        assert gap.min() > 1e-5 and gap.max() > 1e-3, gap  # every row moves by far more than float noise (~1e-7)
    np.testing.assert_allclose(got[7:], clean, rtol=0, atol=1e-5)
    with pytest.raises(InputError, match="user_id"):  # the checked forward keeps the training contract
        model(x)


def _features(model):
    return {f.name: f for f in [*model.features, *model.target_features, *model.history_features]}
