"""ONNX export and verification: the one place that talks to ``torch.onnx``.

The exported graph takes the model's inputs by name (``user_id``, ``item_id``,
``hist_item_id``, ...), each with a dynamic batch dimension and, for histories, a dynamic
sequence length, and returns one probability per sample. It is written as a single
``.onnx`` file.

Exporter choice (PyTorch 2.13): the default ``dynamo=True`` exporter (``torch.export`` +
onnxscript) is used, with ``external_data=False`` so the weights stay inside the one file
(the default would write them to a side ``.data`` file, easy to lose when copying the
model). ``dynamo=False`` selects the older TorchScript exporter, kept for older PyTorch.
The PyTorch ONNX API moves between releases; if it breaks, this is the only module to fix.

Serving inputs (the rule; tests/test_export.py checks it in onnxruntime). The graph cannot raise,
so it cannot keep the training contract (``model(x)`` raises ``InputError`` for an id outside
``[0, vocab_size)``, and for ``PAD_ID`` in a single-id feature). Instead, at serving time:

* ``PAD_ID`` (``-1``) in a history step is padding, masked as in training;
* every other id outside ``[0, vocab_size)`` of its feature, i.e. ``PAD_ID`` in a single-id
  feature, ``-2`` or any negative id, ``vocab_size`` or any larger id (a new user or item), is
  *unknown*: it reads the table's reserved zero row (the padding row), never another item's row.
  In a history an unknown id stays a behaviour with a zero key, which adds nothing to the
  attention's weighted sum.

PyTorch applies the same rule in ``model(x, traceable=True)``, the form that is exported, so the
graph and PyTorch agree on such inputs too (the rule lives in
:meth:`din_tutorial.layers.EmbeddingLayer.lookup`). Without it, ONNX's Gather took ``-2`` for
row ``vocab_size - 2``, a real item. Training never sees unknown ids, so no row could learn them;
a service that meets many should map them to ids of its own and retrain.

Not silently: :func:`export_onnx` writes each input's ``vocab_size`` into the file's metadata
(``din_tutorial.vocab_size``, JSON), and :func:`predict_onnx` counts the unknown ids of a batch
and warns (:class:`UnknownIdWarning`, naming the input, the count and an example), or raises
with ``unknown_ids="raise"``.

Taught in notebooks/08_onnx_export.ipynb.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .features import PAD_ID, DenseFeature, SequenceFeature

__all__ = ["PositionalInputs", "UnknownIdWarning", "export_onnx", "verify_onnx", "onnx_session", "predict_onnx",
           "example_batch"]

OUTPUT_NAME = "probability"
#: Metadata key of the exported file: ``{input name: vocab_size}`` as JSON, for :func:`predict_onnx`'s report.
VOCAB_METADATA = "din_tutorial.vocab_size"


class UnknownIdWarning(UserWarning):
    """:func:`predict_onnx` got ids outside their vocabulary; the graph read the zero row for them (the serving rule)."""

#: (batch, seq_len) of the random batches :func:`verify_onnx` checks besides the loader's:
#: one sample and one step, and sizes the example export never saw.
VERIFY_SHAPES = ((1, 1), (7, 5), (3, 50), (64, 20))


class PositionalInputs(nn.Module):
    """A dict-input model called with positional tensors, in ``input_names`` order, in its traceable form.

    Graph recorders pass tensors by position (ONNX inputs are positional), so this wrapper zips
    them back into the batch dict and calls ``model(x, traceable=True)``: no input checks and
    the masked dense attention, the form :func:`export_onnx` exports and
    :func:`din_tutorial.visualize.visualize_model` draws. Taught in notebooks/08_onnx_export.ipynb.
    """

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model = model
        self.names = list(names)

    def forward(self, *tensors):
        return self.model(dict(zip(self.names, tensors)), traceable=True)


def _features_by_name(model: nn.Module) -> dict:
    feats = list(getattr(model, "features", [])) + list(getattr(model, "target_features", []))
    feats += list(getattr(model, "history_features", []))
    return {f.name: f for f in feats}


def example_batch(model: nn.Module, batch_size: int = 4, seq_len: int = 10, seed: int = 0) -> dict:
    """A valid random batch for ``model``: ids in range, histories with some padding at the end."""
    gen = torch.Generator().manual_seed(seed)
    x = {}
    for name, f in _features_by_name(model).items():
        if isinstance(f, DenseFeature):  # (batch,) for one value, (batch, embed_dim) for a vector
            shape = (batch_size,) if f.embed_dim == 1 else (batch_size, f.embed_dim)
            x[name] = torch.rand(shape, generator=gen)
        elif isinstance(f, SequenceFeature):
            ids = torch.randint(0, f.vocab_size, (batch_size, seq_len), generator=gen)
            lengths = torch.arange(batch_size) % seq_len + 1
            ids[torch.arange(seq_len)[None, :] >= lengths[:, None]] = PAD_ID
            x[name] = ids
        else:
            x[name] = torch.randint(0, f.vocab_size, (batch_size,), generator=gen)
    return x


def _vocab_sizes(model: nn.Module, names: list[str]) -> dict[str, int]:
    """``{input name: vocab_size}`` of the id inputs among ``names`` (dense inputs have none)."""
    feats = _features_by_name(model)
    return {n: feats[n].vocab_size for n in names if n in feats and not isinstance(feats[n], DenseFeature)}


def _sequence_names(model: nn.Module) -> set[str]:
    """The inputs with a history axis (``(batch, seq_len)``); a dense vector's second axis is its fixed size."""
    return {name for name, f in _features_by_name(model).items() if isinstance(f, SequenceFeature)}


def _example_from_loader(model: nn.Module, data_loader, names: list[str]) -> dict:
    batch = next(iter(data_loader))
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    missing = [n for n in names if n not in x]
    if missing:
        raise KeyError(f"data_loader batches lack input(s) {missing} that the model needs; they hold {list(x)}")
    x = {n: x[n][:8] for n in names}
    n = next(iter(x.values())).shape[0]
    if n < 2:  # torch.export would treat a size-1 dimension as a constant: give it two rows
        x = {k: torch.cat([v, v]) for k, v in x.items()}
    sequences = _sequence_names(model)
    seq = [v for k, v in x.items() if k in sequences]
    if seq and seq[0].shape[1] < 2:  # likewise for the sequence length: append a padded step
        x = {k: torch.cat([v, torch.full_like(v[:, :1], PAD_ID)], 1) if k in sequences else v for k, v in x.items()}
    return x


def export_onnx(
    model: nn.Module,
    output_path: str | os.PathLike,
    data_loader=None,
    dynamic_batch: bool = True,
    dynamic_seq_len: bool = True,
    opset_version: int | None = None,
    dynamo: bool = True,
    device: str = "cpu",
) -> Path:
    """Export ``model`` to one ONNX file with named inputs and dynamic batch / history length.

    Args:
        model: a model with ``input_names`` (DIN, BaseModel).
        output_path: the ``.onnx`` file to write; its folder is created.
        data_loader: a loader whose first batch is the example input (optional: a random valid
            batch is made from the model's features otherwise).
        dynamic_batch, dynamic_seq_len: leave these axes free in the graph.
        opset_version: the ONNX opset (default: the exporter's).
        dynamo: ``True`` for the ``torch.export``-based exporter (default), ``False`` for the
            TorchScript one.
        device: where to run the export (the graph itself is device-neutral).

    Returns the path written. The file appears complete or not at all: the graph is written to a
    temporary file beside it, then renamed, so an earlier export at ``output_path`` survives a failure.
    """
    names = list(getattr(model, "input_names", []) or [])
    if not names:
        raise ValueError("the model has no input_names: export_onnx needs a DIN or BaseModel (or a model that lists "
                         "the batch keys it reads in `input_names`)")
    path = Path(output_path)
    if path.suffix != ".onnx":
        raise ValueError(f"output_path should end in .onnx, got {str(output_path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}.onnx")  # renamed to ``path`` once complete

    was_training = model.training
    original_device = next(model.parameters()).device
    model = model.to(device).eval()
    x = _example_from_loader(model, data_loader, names) if data_loader is not None else example_batch(model)
    x = {k: v.to(device) for k, v in x.items()}
    args = tuple(x[n] for n in names)
    sequences = _sequence_names(model)
    wrapper = PositionalInputs(model, names).eval()

    try:
        if dynamo:
            batch = torch.export.Dim("batch", min=1) if dynamic_batch else None
            seq = torch.export.Dim("seq_len", min=1) if dynamic_seq_len else None
            shapes = []
            for n in names:
                axes = {}
                if batch is not None:
                    axes[0] = batch
                if n in sequences and seq is not None:
                    axes[1] = seq
                shapes.append(axes or None)
            # The exporter logs a line per optional torchvision op it skips; learners need none of it.
            logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's own deprecation chatter
                program = torch.onnx.export(
                    wrapper, args, dynamo=True, external_data=False, input_names=names,
                    output_names=[OUTPUT_NAME], dynamic_shapes=(tuple(shapes),), opset_version=opset_version,
                    verbose=False,
                )
            program.save(str(partial), external_data=False)
        else:
            axes = {}
            for n in names:
                d = {}
                if dynamic_batch:
                    d[0] = "batch"
                if n in sequences and dynamic_seq_len:
                    d[1] = "seq_len"
                if d:
                    axes[n] = d
            if dynamic_batch:
                axes[OUTPUT_NAME] = {0: "batch"}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(wrapper, args, str(partial), dynamo=False, input_names=names,
                                  output_names=[OUTPUT_NAME], dynamic_axes=axes,
                                  opset_version=opset_version or 17)
        _add_metadata(partial, {VOCAB_METADATA: json.dumps(_vocab_sizes(model, names))})
        os.replace(partial, path)
    except ImportError as e:
        raise ImportError(
            f"ONNX export needs the onnx extras ({e.name or e}); install them with pip install 'din-tutorial[onnx]'"
        ) from e
    finally:
        partial.unlink(missing_ok=True)
        model.to(original_device).train(was_training)
    return path


def _add_metadata(file: Path, entries: dict[str, str]) -> None:
    """Add ``entries`` to the ONNX file's ``metadata_props`` (what onnxruntime's ``custom_metadata_map`` reads)."""
    import onnx

    graph = onnx.load(str(file))
    for key, value in entries.items():
        prop = graph.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(graph, str(file))


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime session for ``path`` on the CPU (one actionable error if onnxruntime is missing)."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError("onnxruntime is not installed: pip install 'din-tutorial[onnx]'") from e
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def predict_onnx(session, x: dict, unknown_ids: str = "warn") -> np.ndarray:
    """Run an ONNX session on a batch dict (tensors or arrays); extra keys are ignored.

    A minimal serving function: it needs onnxruntime and NumPy only, not PyTorch. Ids outside
    their vocabulary (``PAD_ID`` in a history aside) read the zero row (the module docstring's
    serving rule); with the vocabularies :func:`export_onnx` stores in the file, this function
    counts them and, by ``unknown_ids``, warns (``"warn"``, an :class:`UnknownIdWarning`),
    raises a ``ValueError`` (``"raise"``) or says nothing (``"ignore"``).
    """
    if unknown_ids not in ("warn", "raise", "ignore"):
        raise ValueError(f"unknown_ids must be 'warn', 'raise' or 'ignore', got {unknown_ids!r}")
    feed = {}
    for inp in session.get_inputs():
        if inp.name not in x:
            raise KeyError(f"the ONNX model needs input {inp.name!r}; the batch holds {list(x)}")
        value = x[inp.name]
        value = value.cpu().numpy() if hasattr(value, "cpu") else np.asarray(value)
        feed[inp.name] = value.astype(np.float32 if "float" in inp.type else np.int64, copy=False)
    if unknown_ids != "ignore":
        vocab = json.loads(session.get_modelmeta().custom_metadata_map.get(VOCAB_METADATA, "{}"))
        found = []
        for name, size in vocab.items():
            ids = feed[name]
            unknown = (ids < 0) | (ids >= size)
            if ids.ndim == 2:  # a history: PAD_ID is padding, not an unknown id
                unknown &= ids != PAD_ID
            if unknown.any():
                found.append(f"{name}: {int(unknown.sum())} id(s) outside [0, {size}), e.g. {int(ids[unknown][0])}")
        if found:
            message = ("unknown ids read the zero row (the serving rule in din_tutorial/export.py): "
                       + "; ".join(found) + "; map them to known ids, or retrain with a larger vocabulary")
            if unknown_ids == "raise":
                raise ValueError(message)
            warnings.warn(message, UnknownIdWarning, stacklevel=2)
    return session.run(None, feed)[0]


def verify_onnx(model: nn.Module, path: str | os.PathLike, data_loader=None, batches=None, atol: float = 1e-5,
                max_batches: int = 5, shapes=VERIFY_SHAPES) -> dict:
    """Compare the ONNX model with PyTorch on batches of several shapes; raise if they differ by more than ``atol``.

    The batches checked: ``batches`` (a list of input dicts) if given, else the first
    ``max_batches`` of ``data_loader`` and, from the first of them, a copy cut to 3 rows and a
    shorter history (a batch and length the export example did not have); plus one random valid
    batch per ``(batch, seq_len)`` in ``shapes`` (pass ``shapes=()`` to skip them). Returns
    ``{"max_abs_diff", "n_samples", "batches", "shapes"}``. Taught in notebooks/08_onnx_export.ipynb.
    """
    session = onnx_session(path)
    sequences = _sequence_names(model)
    if batches is None:
        batches = []
        if data_loader is not None:
            for i, b in enumerate(data_loader):
                if i >= max_batches:
                    break
                batches.append(b[0] if isinstance(b, (tuple, list)) else b)
            if batches:  # the first batch again, 3 rows and half the history (still oldest first, padding last)
                batches.append({k: v[:3, : max(1, v.shape[1] // 2)] if k in sequences else v[:3]
                                for k, v in batches[0].items()})
    else:
        batches = list(batches)
    batches += [example_batch(model, batch_size=b, seq_len=L, seed=i + 1) for i, (b, L) in enumerate(shapes)]
    if not batches:
        raise ValueError("verify_onnx has nothing to check: pass data_loader, batches, or some shapes")
    model.eval()
    device = next(model.parameters()).device
    worst, n, seen = 0.0, 0, []
    with torch.no_grad():
        for x in batches:
            ref = model({k: v.to(device) for k, v in x.items()}).cpu().numpy()
            got = predict_onnx(session, x).reshape(ref.shape)
            worst = max(worst, float(np.abs(ref - got).max()))
            n += ref.shape[0]
            seq_len = next((int(v.shape[1]) for k, v in x.items() if k in sequences), 0)
            seen.append((int(ref.shape[0]), seq_len))
    if worst > atol:
        raise AssertionError(f"ONNX and PyTorch differ by up to {worst:.2e} (> atol={atol:.0e}) over {n} samples "
                             f"of shapes (batch, seq_len) {sorted(set(seen))}")
    return {"max_abs_diff": worst, "n_samples": n, "batches": len(batches), "shapes": sorted(set(seen))}
