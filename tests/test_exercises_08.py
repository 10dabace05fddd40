"""Exercises of notebooks/08_onnx_export.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial.checks import ExerciseFailed, check_feed_dict, check_parity
from din_tutorial.export import predict_onnx


@pytest.mark.parametrize("name", ["08_onnx_export_ex1", "08_onnx_export_ex2"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 08.1 the feed dict
def _to_numpy(v):
    return v.numpy() if hasattr(v, "numpy") else np.asarray(v)


def tensors(session, batch):
    return {i.name: batch[i.name] for i in session.get_inputs()}


def int32_ids(session, batch):
    return {i.name: _to_numpy(batch[i.name]).astype(np.float32 if "float" in i.type else np.int32)
            for i in session.get_inputs()}


def float64_dense(session, batch):
    return {i.name: _to_numpy(batch[i.name]).astype(np.float64 if "float" in i.type else np.int64)
            for i in session.get_inputs()}


def every_key(session, batch):
    types = {i.name: i.type for i in session.get_inputs()}
    return {k: _to_numpy(v).astype(np.float32 if "float" in types.get(k, "") else np.int64) for k, v in batch.items()}


def ids_only(session, batch):
    return {i.name: _to_numpy(batch[i.name]).astype(np.int64) for i in session.get_inputs() if "int" in i.type}


@pytest.mark.parametrize("wrong, words", [
    (tensors, "NumPy arrays, not torch tensors"),
    (int32_ids, "int32 ids are refused"),
    (float64_dense, "float32"),
    (every_key, "rejects unknown names"),
    (ids_only, "dense features included"),
])
def test_feed_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_feed_dict(wrong)


# ---- 08.2 the parity check
def _worst(model, session, batches, forward, reduce=np.max):
    diffs = []
    with torch.no_grad():
        for x in batches:
            ref = forward(model, x).numpy()
            diffs.append(np.abs(ref - predict_onnx(session, x).reshape(ref.shape)))
    return float(reduce(np.concatenate(diffs)))


def no_eval(model, session, batches):
    return _worst(model, session, batches, lambda m, x: m(x))


def with_logits(model, session, batches):
    model.eval()
    return _worst(model, session, batches, lambda m, x: m.logits(x))


def mean_diff(model, session, batches):
    model.eval()
    return _worst(model, session, batches, lambda m, x: m(x), reduce=np.mean)


def last_batch_only(model, session, batches):
    model.eval()
    return _worst(model, session, batches[-1:], lambda m, x: m(x))


def always_zero(model, session, batches):
    return 0.0


@pytest.mark.parametrize("wrong, words", [
    (no_eval, "training mode"),
    (with_logits, "probabilities"),
    (mean_diff, "largest difference"),
    (last_batch_only, "every batch"),
    (always_zero, "expected a larger value"),
])
def test_parity_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_parity(wrong)


@pytest.mark.parametrize("check", [check_feed_dict, check_parity])
def test_stub_is_todo(check, capsys):
    assert_stub_is_todo(check, capsys)
