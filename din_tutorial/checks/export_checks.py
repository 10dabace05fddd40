"""Checks for the exercises of notebooks/08_onnx_export.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 08.1 ``check_feed_dict(make_feed)``: a batch dict -> onnxruntime's feed (names, NumPy, dtypes).
* 08.2 ``check_parity(max_abs_diff)``: the largest |PyTorch - ONNX| over a list of batches.

Both run against a small DIN (with a dense feature) exported once per process into a
temporary folder with the TorchScript exporter, which takes well under a second; the lesson
does not depend on the exporter.
"""
from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path

import numpy as np

from ._core import ExerciseFailed, compare, exercise, refuse_calls  # noqa: F401

__all__: list[str] = ["check_feed_dict", "check_parity"]

_TMP = None  # a TemporaryDirectory kept for the life of the process


def _small_din(seed: int):
    """A small DIN with a dense feature, trained a few steps (weights and Dice's statistics away from their start)."""
    import torch

    from ..export import example_batch
    from ..features import DenseFeature, SequenceFeature, SparseFeature
    from ..models import DIN

    torch.manual_seed(seed)
    features = [SparseFeature("user_id", 50, 8), SparseFeature("gender", 3, 4), DenseFeature("price")]
    target = [SparseFeature("item_id", 40, 8), SparseFeature("cate_id", 6, 8)]
    hist = [SequenceFeature("hist_item_id", 40, 8, pooling="concat", shared_with="item_id"),
            SequenceFeature("hist_cate_id", 6, 8, pooling="concat", shared_with="cate_id")]
    model = DIN(features, hist, target, mlp_params={"dims": [16, 8], "dropout": 0.3, "activation": "dice"},
                attention_mlp={"dims": [8], "dropout": 0.3, "activation": "dice"})
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for i in range(8):
        x = example_batch(model, 32, 10, seed=100 * seed + i)
        y = torch.randint(0, 2, (32,), generator=torch.Generator().manual_seed(i)).float()
        loss = torch.nn.functional.binary_cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@functools.lru_cache(maxsize=None)
def _exported(seed: int):
    """``(model, path)``: the small DIN of ``seed`` and its ONNX file (exported once per process)."""
    global _TMP
    from ..export import export_onnx

    if _TMP is None:
        _TMP = tempfile.TemporaryDirectory(prefix="din_tutorial_checks_")
    model = _small_din(seed)
    path = export_onnx(model, Path(_TMP.name) / f"small_din_{seed}.onnx", dynamo=False)
    return model, path


def _session(seed: int):
    from ..export import onnx_session

    model, path = _exported(seed)
    return copy.deepcopy(model), onnx_session(path, threads=1)


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


# ---------------------------------------------------------------------------- 08.1
def _feed_batches(model):
    """Two batches as a data pipeline hands them over: extra keys, tensors, and NumPy arrays of other dtypes."""
    import torch

    from ..export import example_batch

    tensors = example_batch(model, batch_size=5, seq_len=7, seed=11)
    tensors["label"] = torch.tensor([1, 0, 1, 0, 1])
    tensors["hist_len"] = (tensors["hist_item_id"] != -1).sum(1)
    arrays = {}
    for k, v in example_batch(model, batch_size=3, seq_len=4, seed=12).items():
        v = v.numpy()
        arrays[k] = v.astype(np.float64) if v.dtype.kind == "f" else v.astype(np.int32)
    arrays["timestamp"] = np.arange(3, dtype=np.int64)
    return [("a batch of torch tensors (from a DataLoader)", tensors),
            ("a batch of NumPy arrays (int32 ids, float64 prices)", arrays)]


@exercise("Exercise 08.1: the ONNX feed dict")
def check_feed_dict(make_feed) -> list[str]:
    """``make_feed(session, batch)`` returns ``{input name: NumPy array}`` for ``session.run(None, feed)``.

    Tried on a small exported DIN with the inputs user_id, gender, price (a dense float feature),
    item_id, cate_id, hist_item_id, hist_cate_id, with batches that hold extra keys."""
    from ..export import predict_onnx

    model, session = _session(0)
    inputs = {i.name: i.type for i in session.get_inputs()}
    lines = []
    for what, batch in _feed_batches(model):
        feed = make_feed(session, dict(batch))
        if not isinstance(feed, dict):
            raise ExerciseFailed(f"{what}: got a {type(feed).__name__}. Hint: return a dict keyed by input name")
        missing = [n for n in inputs if n not in feed]
        extra = [k for k in feed if k not in inputs]
        if missing:
            raise ExerciseFailed(f"{what}: the feed lacks {missing}. Hint: the graph needs every name that "
                                 f"session.get_inputs() lists, dense features included")
        if extra:
            raise ExerciseFailed(f"{what}: the feed holds {extra}, which the graph does not take. Hint: onnxruntime "
                                 f"rejects unknown names: keep only the names of session.get_inputs()")
        for name, kind in inputs.items():
            v = feed[name]
            if not isinstance(v, np.ndarray):
                raise ExerciseFailed(f"{what}: feed[{name!r}] is a {type(v).__module__}.{type(v).__name__}. Hint: "
                                     f"onnxruntime takes NumPy arrays, not torch tensors or lists")
            want = np.float32 if "float" in kind else np.int64
            if v.dtype != want:
                hint = ("the graph's tensor(int64) inputs take int64 exactly; int32 ids are refused"
                        if want is np.int64 else "tensor(float) means float32; float64 is refused")
                raise ExerciseFailed(f"{what}: feed[{name!r}] has dtype {v.dtype}, the graph wants "
                                     f"{np.dtype(want).name}. Hint: {hint}")
            if v.shape != tuple(np.shape(batch[name])):
                raise ExerciseFailed(f"{what}: feed[{name!r}] has shape {v.shape}, the batch's is "
                                     f"{tuple(np.shape(batch[name]))}. Hint: convert the values, keep their shape")
        try:
            got = session.run(None, feed)[0]
        except Exception as e:  # onnxruntime's own message, shortened
            raise ExerciseFailed(f"{what}: session.run refused the feed ({str(e).splitlines()[0][:200]}). Hint: "
                                 f"names, NumPy arrays, int64 ids and float32 dense values") from None
        lines.append(compare(got, predict_onnx(session, batch), f"{what}: session.run output",
                             "the values changed on the way: convert the dtype only"))
    lines.append(f"inputs {list(inputs)}: int64 ids, float32 'price'; extra keys left out")
    return lines


# ---------------------------------------------------------------------------- 08.2
def _parity_batches(model):
    import torch

    from ..export import example_batch

    batches = []
    for i, (b, s) in enumerate([(4, 3), (16, 9), (7, 20)]):
        x = example_batch(model, batch_size=b, seq_len=s, seed=200 + i)
        x["label"] = torch.zeros(b, dtype=torch.int64)  # loaders hand the label over too
        batches.append(x)
    return batches


def _diffs(model, session, batches, logits: bool = False) -> list[np.ndarray]:
    """Per batch, |reference - ONNX| with the model in eval mode (or its logits, to recognise that mistake)."""
    import torch

    from ..export import predict_onnx

    model.eval()
    out = []
    with torch.no_grad():
        for x in batches:
            ref = (model.logits(x) if logits else model(x)).numpy().astype(np.float64)
            out.append(np.abs(ref - predict_onnx(session, x).reshape(ref.shape).astype(np.float64)))
    return out


@exercise("Exercise 08.2: a parity check between PyTorch and ONNX")
def check_parity(max_abs_diff) -> list[str]:
    """``max_abs_diff(model, session, batches)`` returns the largest ``|PyTorch - ONNX|`` over every
    sample of every batch, as a float. The model arrives in training mode, as after ``fit``.

    Tried twice: with the session of the same model (the answer must be tiny) and with the session
    of another model (the answer must equal the true largest difference)."""
    from ..export import verify_onnx

    refuse_calls(max_abs_diff, "max_abs_diff", {verify_onnx: "the parity check"},
                 reference="the model's and the ONNX session's outputs")
    results = []
    for label, session_seed in (("same model", 0), ("another model's ONNX file", 1)):
        model, _ = _session(0)
        _, session = _session(session_seed)
        batches = _parity_batches(model)
        model.train()  # as it comes out of training
        try:
            got = float(max_abs_diff(model, session, [dict(b) for b in batches]))
        except (TypeError, ValueError) as e:
            raise ExerciseFailed(f"{label}: could not read your answer as a number ({e}). Hint: return a Python "
                                 f"float, e.g. float(...) of the largest difference") from None
        pristine, _ = _session(0)
        per_batch = _diffs(pristine, session, batches)
        want = max(float(d.max()) for d in per_batch)
        if np.isclose(got, want, rtol=1e-4, atol=1e-6):
            results.append((label, got, want))
            continue
        logits = max(float(d.max()) for d in _diffs(copy.deepcopy(pristine), session, batches, logits=True))
        if session_seed == 0 and got > 1e-4 and model.training:
            raise ExerciseFailed(f"{label}: got {got:.3g}, expected below 1e-5. Hint: the model is still in training "
                                 f"mode: dropout is random and Dice uses the batch's statistics; switch it to "
                                 f"inference mode before comparing")
        if np.isclose(got, logits, rtol=1e-4, atol=1e-6):
            raise ExerciseFailed(f"{label}: got {got:.3g}. Hint: compare like with like: the ONNX graph returns "
                                 f"probabilities (after the sigmoid), and so does model(x); model.logits(x) does not")
        if got < 0:
            raise ExerciseFailed(f"{label}: got a negative number. Hint: the size of a difference is its absolute value")
        if np.isclose(got, float(np.mean(np.concatenate(per_batch))), rtol=1e-4, atol=1e-9):
            raise ExerciseFailed(f"{label}: got {got:.3g}, the mean difference. Hint: a parity check reports the "
                                 f"worst case, the largest difference")
        if np.isclose(got, float(per_batch[-1].max()), rtol=1e-4, atol=1e-9) or \
                np.isclose(got, float(per_batch[0].max()), rtol=1e-4, atol=1e-9):
            raise ExerciseFailed(f"{label}: got {got:.3g}, the largest difference of one batch. Hint: take the "
                                 f"largest over every batch of the list")
        raise ExerciseFailed(f"{label}: got {got:.3g}, expected {'below 1e-5' if session_seed == 0 else 'a larger value'}"
                             f". Hint: eval mode, no gradients, probabilities on both sides, max of |difference| over "
                             f"all batches")
    (l0, g0, _), (l1, g1, w1) = results
    return [f"{l0}: max |PyTorch - ONNX| = {g0:.1e}",
            f"{l1}: {g1:.4f}, the true largest difference {w1:.4f} (a real mismatch is caught)"]
