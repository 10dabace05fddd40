"""Compact vocabularies (issue 18 item 1): sparse raw ids become contiguous codes, and back.

The encoding round-trips (raw id -> code -> raw id); the lean samples of a log with sparse ids
equal its raw-id samples up to the mapping; a raw id in gives the prediction of its code out of
the model (and of the exported model); an unknown raw id reads the zero row; the main job's
tables are sized by the ids the log holds, not by its largest raw id.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from din_tutorial.data import PAD_ID, DataPreparationWarning, encode_ids, id_vocabulary, to_codes
from din_tutorial.samples import build_samples, open_samples, prepare_samples

SPLITS = ("train", "val", "test")


def sparse_log(seed=0, n_users=40, n_items=80, n_rows=700):
    """Raw ids spread far apart, as real logs hold them (users up to ~10^6, items up to ~10^5)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_rows)
    items = rng.integers(0, n_items, n_rows)
    return pd.DataFrame({"user_id": users * 25_013 + 11, "item_id": items * 1_009 + 5,
                         "cate_id": (items % 7) * 100 + 3, "timestamp": rng.integers(0, 6, n_rows),
                         "gender": users % 2})


def build(log, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        return build_samples(log, item_attribute_cols=["cate_id"], max_len=6, neg_ratio=2, seed=3, **kw)


def decoded(samples, split):
    """``split``'s inputs with every encoded column mapped back to its raw ids."""
    out = samples.gather(split, slice(0, samples.n_samples(split)))
    for key, value in out.items():
        col = key[len("hist_"):] if key.startswith("hist_") else key
        if col in samples.encoded:
            out[key] = np.where(value == PAD_ID, PAD_ID, samples.vocabulary(col)[np.maximum(value, 0)])
    return out


def test_vocabulary_is_by_frequency_and_round_trips():
    raw = np.array([70, 5, 70, 9, 5, 70, 123456789, 9, 2])
    vocab = id_vocabulary(raw)
    assert vocab.tolist() == [70, 5, 9, 2, 123456789]  # most frequent first; equal counts: smaller id first
    codes = to_codes(raw, vocab)
    assert codes.tolist() == [0, 1, 0, 2, 1, 0, 4, 2, 3] and (vocab[codes] == raw).all()
    assert to_codes([8, PAD_ID, 70, 10**12], vocab).tolist() == [5, PAD_ID, 0, 5]  # unknown: outside; padding stays
    frame, vocabs = encode_ids(pd.DataFrame({"u": raw, "t": np.arange(9)}), ["u"])
    assert (frame["u"].to_numpy() == codes).all() and (vocabs["u"] == vocab).all() and (frame["t"] == np.arange(9)).all()
    with pytest.raises(KeyError, match="'nope'"):
        encode_ids(frame, ["nope"])


def test_encoded_samples_equal_raw_samples_up_to_the_mapping(tmp_path):
    log = sparse_log()
    raw, enc = build(log, encode=False), build(log)  # the default encodes the sparse columns
    assert raw.encoded == [] and enc.encoded == ["user_id", "item_id", "cate_id"]
    assert enc.vocab["user_id"] == log.user_id.nunique() and enc.vocab["item_id"] == log.item_id.nunique()
    assert enc.vocab["cate_id"] == 7 and raw.vocab["item_id"] == log.item_id.max() + 1
    for split in SPLITS:
        want, got = raw.gather(split, slice(0, raw.n_samples(split))), decoded(enc, split)
        assert list(got) == list(want)
        for k in want:
            assert (got[k] == want[k]).all(), (split, k)
        assert (enc.labels(split) == raw.labels(split)).all()
    # the vocabularies travel with the samples: one .npy per encoded column in the folder
    opened = prepare_samples(log, tmp_path / "s", item_attribute_cols=["cate_id"], max_len=6, neg_ratio=2, seed=3)
    assert {f"vocab.{c}.npy" for c in enc.encoded} <= {p.name for p in (tmp_path / "s").iterdir()}
    again = open_samples(tmp_path / "s", encode=None)
    for c in enc.encoded:
        assert (again.vocabulary(c) == enc.vocabulary(c)).all()
    assert (again.target_counts("train") == enc.target_counts("train")).all()
    assert len(opened.target_counts("train")) == log.item_id.nunique()


def test_dense_logs_keep_their_own_codes():
    log = sparse_log().assign(user_id=lambda d: d.user_id // 25_013, item_id=lambda d: d.item_id // 1_009,
                              cate_id=lambda d: d.cate_id // 100)
    lean = build(log)
    assert lean.encoded == [] and lean.vocab["item_id"] == log.item_id.max() + 1
    forced = build(log, encode=True)
    assert forced.encoded == ["user_id", "item_id", "cate_id"]
    with pytest.raises(ValueError, match="encode must be"):
        build(log, encode="yes")


def test_a_raw_id_gives_the_prediction_of_its_code():
    from din_tutorial.pipeline import build_model
    from din_tutorial.config import seed_everything

    log = sparse_log()
    lean = build(log)
    seed_everything(0)
    model = build_model("din", {**lean.vocab, "gender": 2}).eval()
    codes = {k: torch.as_tensor(v[:32], dtype=torch.int64) for k, v in lean.gather("test", slice(0, 32)).items()}
    raw = {k: torch.as_tensor(v[:32], dtype=torch.int64) for k, v in decoded(lean, "test").items()}
    assert not torch.equal(raw["item_id"], codes["item_id"])
    served = lean.encode(raw)
    for k in codes:
        assert torch.equal(served[k], codes[k]), k
    with torch.no_grad():
        assert torch.equal(model(served), model(codes))
        new_item = dict(raw, item_id=torch.full_like(raw["item_id"], 10**9))  # never seen: the zero row
        outside = dict(codes, item_id=torch.full_like(codes["item_id"], lean.vocab["item_id"]))
        # the serving form (model(x, traceable=True), as exported) sends ids outside the vocabulary to the zero row
        assert torch.equal(model(lean.encode(new_item), traceable=True), model(outside, traceable=True))
        zero_row = dict(codes, item_id=torch.full_like(codes["item_id"], PAD_ID))
        assert not torch.equal(model(outside, traceable=True), model(codes, traceable=True))
        assert torch.equal(model(outside, traceable=True), model(zero_row, traceable=True))


def test_exported_model_serves_raw_ids_through_the_vocabulary(tmp_path):
    pytest.importorskip("onnxruntime")
    from din_tutorial.config import seed_everything
    from din_tutorial.export import export_onnx, onnx_session, predict_onnx
    from din_tutorial.pipeline import build_model

    lean = build(sparse_log())
    seed_everything(0)
    model = build_model("din", {**lean.vocab, "gender": 2}).eval()
    codes = {k: torch.as_tensor(v, dtype=torch.int64) for k, v in lean.gather("test", slice(0, 16)).items()}
    path = export_onnx(model, tmp_path / "din.onnx", data_loader=[(codes, None)], dynamo=False)
    raw = {k: torch.as_tensor(v[:16], dtype=torch.int64) for k, v in decoded(lean, "test").items()}
    served = {k: v.numpy() for k, v in lean.encode(raw).items()}
    with torch.no_grad():
        want = model(codes).numpy()
    np.testing.assert_allclose(predict_onnx(onnx_session(path), served), want, atol=1e-5)


def test_main_job_sizes_tables_by_the_ids_the_log_holds(tmp_path):
    from din_tutorial.pipeline import prepare_lean

    log = sparse_log()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataPreparationWarning)
        prepared = prepare_lean(log, tmp_path / "s", max_len=6, batch_size=64)
    assert prepared.vocab["user_id"] == log.user_id.nunique() < log.user_id.max()
    assert prepared.vocab["item_id"] == log.item_id.nunique() < log.item_id.max()
    xb, _ = next(iter(prepared.train_dl))
    assert int(xb["item_id"].max()) < prepared.vocab["item_id"]
