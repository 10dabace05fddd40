"""Embedding tables: one per feature, one shared table where ``shared_with`` asks for it.

Ids are the user's raw ids ``0 .. vocab_size - 1``; nothing shifts or re-encodes them. Padding
(:data:`~din_tutorial.features.PAD_ID`, ``-1``) is mapped to one extra row at the end of the
table (index ``vocab_size``) that is all zeros and never trained (``padding_idx``), so a padded
step contributes nothing to a sum and is never mistaken for a real item. That mapping happens
inside each table (:class:`PaddedEmbedding`), and the padding *mask* (``ids != PAD_ID``) comes
from :meth:`EmbeddingLayer.padding_mask`: this module is the one home of padding. ``PAD_ID``
belongs to history sequences only; a single-id feature (``user_id``, ``item_id``) must hold a
real id in every row.

Unknown ids (the serving rule). An id outside ``[0, vocab_size)`` of its feature (``-2``,
``vocab_size``, a new item's id, and ``PAD_ID`` in a single-id feature) has no row of its own:
:meth:`EmbeddingLayer.lookup` reads the zero row for it, the same reserved row as padding, and
never another item's row (without the rule ``-2`` would read row ``vocab_size - 2`` in ONNX, whose
Gather accepts negative indices, and an id of a smaller feature sharing a bigger table would read
a row of the bigger one). Training never sees such ids (:meth:`EmbeddingLayer.check_batch`
raises :class:`InputError`), so no row could learn them; zero is also what the model saw for "no
behaviour". In a history an unknown id stays a step (only ``PAD_ID`` is padding and masked): it
is a behaviour on an item the model does not know, attended with a zero key, which adds nothing
to the attention's weighted sum. ``model(x)`` checks its batch and raises; its traceable form
``model(x, traceable=True)`` and the exported ONNX graph apply this rule identically
(:mod:`din_tutorial.export`).

Sparse updates. Each table is a plain ``nn.Embedding``, so ``table.sparse = True`` (what
``CTRTrainer(sparse_embeddings=True)`` sets) makes its gradient a sparse tensor holding only the
rows a batch looked up; ``padding_idx`` keeps the padding row out of it, so the zero row stays
zero. A sparse optimiser (``torch.optim.SparseAdam``, ``Adagrad``) then touches those rows only:
per-step work that follows the batch, not the vocabulary (benchmarks/vocab_step.py).

This module also checks a batch against the features (missing keys, wrong shapes, ids out of
range, padding where none may be) with errors that name the feature and what was expected.

Taught in notebooks/02_feature_definitions.ipynb.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..features import PAD_ID, DenseFeature, SequenceFeature, SparseFeature
assert PAD_ID < 0, "PAD_ID must lie outside every vocabulary"

#: Standard deviation of the normal distribution embedding rows start from.
EMBED_INIT_STD = 0.01


class InputError(ValueError):
    """A batch does not fit the model's features (wrong ids, shape or dtype); the message names the feature."""


class MissingInputError(KeyError):
    """A batch lacks a key the model needs; the message names it and lists the keys the batch has."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class FeatureConfigError(ValueError):
    """Features that cannot be built into a model; the message names the feature and the fix."""


def check_feature_names(features: Iterable) -> None:
    """Raise :class:`FeatureConfigError` for non-feature objects, duplicate names or names with a dot."""
    seen: dict[str, object] = {}
    for f in features:
        if not isinstance(f, (SparseFeature, SequenceFeature, DenseFeature)):
            raise FeatureConfigError(
                f"expected SparseFeature, SequenceFeature or DenseFeature objects, got {f!r} "
                f"({type(f).__name__}); build features with din_tutorial.SparseFeature(...) etc."
            )
        if "." in f.name:
            raise FeatureConfigError(f"feature {f.name!r}: names may not contain '.'; rename it, e.g. {f.name.replace('.', '_')!r}")
        if f.name in seen:
            if seen[f.name] is f:
                raise FeatureConfigError(
                    f"feature {f.name!r} is listed twice; give each feature object to only one of "
                    f"features / history_features / target_features"
                )
            raise FeatureConfigError(f"two features are named {f.name!r}; feature names must be unique (they are batch keys)")
        seen[f.name] = f
        if not isinstance(f, DenseFeature) and (not isinstance(f.vocab_size, int) or f.vocab_size < 1):
            raise FeatureConfigError(
                f"feature {f.name!r}: vocab_size must be a positive integer (the largest id + 1), got {f.vocab_size!r}"
            )


def _root_of(f, by_name: Mapping[str, object]) -> str:
    """The feature that owns ``f``'s table: ``f.shared_with`` if set, else ``f`` itself (as ``f.table_name``).

    ``shared_with`` must name the owner of a table: a feature that itself shares nothing. A chain
    (``a`` shares ``b``, which shares ``c``) is refused with the fix (share ``c`` directly), so a
    feature's ``table_name`` is always the table it reads.
    """
    target = f.shared_with
    if target is None:
        return f.name
    if target == f.name:
        raise FeatureConfigError(f"feature {f.name!r}: shared_with names the feature itself; remove shared_with")
    if target not in by_name:
        choices = sorted(n for n, g in by_name.items() if not isinstance(g, DenseFeature) and n != f.name)
        raise FeatureConfigError(
            f"feature {f.name!r}: shared_with={target!r} names no feature of this model; "
            f"add a feature named {target!r} (usually the target feature) or use one of {choices}"
        )
    owner = by_name[target]
    if isinstance(owner, DenseFeature):
        raise FeatureConfigError(f"feature {f.name!r}: shared_with={target!r} is a DenseFeature, which has no embedding table")
    if owner.shared_with is not None:
        raise FeatureConfigError(
            f"feature {f.name!r}: shared_with={target!r}, but {target!r} itself shares the table of "
            f"{owner.shared_with!r}; name the table's owner directly: shared_with={owner.shared_with!r}"
        )
    if owner.embed_dim != f.embed_dim:
        raise FeatureConfigError(
            f"feature {f.name!r} (embed_dim={f.embed_dim}) shares the table of {target!r} "
            f"(embed_dim={owner.embed_dim}); a shared table has one size: set embed_dim={owner.embed_dim} on {f.name!r}"
        )
    return target


class PaddedEmbedding(nn.Embedding):
    """An ``nn.Embedding`` of ``vocab_size + 1`` rows whose last row (zeros, never trained) serves :data:`PAD_ID`.

    ``table(ids, vocab_size)`` maps ``PAD_ID`` and every id outside ``[0, vocab_size)`` to the padding
    row, then looks the rows up; ids are otherwise used as given. Taught in notebooks/02_feature_definitions.ipynb.
    """

    def __init__(self, vocab_size: int, embed_dim: int, init_std: float = EMBED_INIT_STD):
        super().__init__(vocab_size + 1, embed_dim, padding_idx=vocab_size)
        nn.init.normal_(self.weight, std=init_std)
        with torch.no_grad():
            self.weight[vocab_size].zero_()

    def forward(self, ids: Tensor, vocab_size: int | None = None) -> Tensor:
        """Rows of ``ids``; an id outside ``[0, vocab_size)`` (``PAD_ID`` among them) reads the padding row.

        ``vocab_size`` is the looking-up feature's own (a feature sharing a bigger table passes its
        smaller one); by default the table's. The map happens here, inside the table, so a model
        drawing shows one embedding module per lookup rather than the comparisons behind it.
        """
        n = self.padding_idx if vocab_size is None else vocab_size
        return super().forward(torch.where((ids >= 0) & (ids < n), ids, self.padding_idx))


class EmbeddingLayer(nn.Module):
    """One ``nn.Embedding`` per feature, shared where ``shared_with`` says so, with a zero padding row.

    A table for features of vocabulary ``V`` has ``V + 1`` rows: row ``V`` is the padding row
    (zeros, ``padding_idx``, never updated). When features of different ``vocab_size`` share a
    table, it is sized for the largest; each feature still checks its own ids against its own
    ``vocab_size``.

    Args:
        features: every feature of the model (dense features get no table and are ignored here).
        init_std: rows start from ``Normal(0, init_std)``.

    ``layer(x)`` returns a dict ``{name: embedding}``: sparse ``(batch, dim)``; sequence with
    ``pooling="concat"`` ``(batch, seq_len, dim)``; ``"sum"``/``"mean"`` pooled over the real steps
    ``(batch, dim)``; dense ``(batch, 1)``.

    Taught in notebooks/02_feature_definitions.ipynb.
    """

    def __init__(self, features: Sequence, init_std: float = EMBED_INIT_STD):
        super().__init__()
        features = list(features)
        check_feature_names(features)
        self.features = features
        self._by_name = {f.name: f for f in features}
        self.table_names = self.table_names_of(features)  # feature name -> name of the table it looks up
        group_rows: dict[str, int] = {}
        for name, root in self.table_names.items():
            group_rows[root] = max(group_rows.get(root, 0), self._by_name[name].vocab_size)
        self.tables = nn.ModuleDict(
            {root: PaddedEmbedding(vocab, self._by_name[root].embed_dim, init_std) for root, vocab in group_rows.items()}
        )

    @staticmethod
    def table_names_of(features: Sequence) -> dict[str, str]:
        """``{feature name: name of the table it reads}`` for the sparse and sequence features (checks ``shared_with``)."""
        by_name = {f.name: f for f in features}
        return {f.name: _root_of(f, by_name) for f in features if not isinstance(f, DenseFeature)}

    # ------------------------------------------------------------------ lookups
    def table(self, name: str) -> PaddedEmbedding:
        """The embedding table feature ``name`` looks up (the same object for features that share it)."""
        return self.tables[self.table_names[name]]

    def pad_row(self, name: str) -> int:
        """Index of the padding row of the table of feature ``name``."""
        return self.table(name).padding_idx

    def known(self, name: str, ids: Tensor) -> Tensor:
        """Bool tensor of ``ids``' shape: True where an id of feature ``name`` lies in ``[0, vocab_size)``."""
        return (ids >= 0) & (ids < self._by_name[name].vocab_size)

    def lookup(self, name: str, ids: Tensor) -> Tensor:
        """Embed ``ids`` (any shape) of feature ``name``; shape ``ids.shape + (dim,)``.

        :data:`PAD_ID` and every unknown id (outside ``[0, vocab_size)`` of this feature, see the
        module docstring) give the zero row; no id reads another id's row.
        """
        return self.table(name)(ids, self._by_name[name].vocab_size)

    @staticmethod
    def padding_mask(ids: Tensor) -> Tensor:
        """``(batch, seq_len)`` bool, True on the real steps of a history (``ids != PAD_ID``)."""
        return ids != PAD_ID

    def forward(self, x: Mapping[str, Tensor], names: Iterable[str] | None = None) -> dict[str, Tensor]:
        """Embed the features ``names`` (default: all) of batch ``x``; see the class docstring for shapes."""
        out: dict[str, Tensor] = {}
        for name in names if names is not None else self._by_name:
            f = self._by_name[name]
            v = x[name]
            if isinstance(f, DenseFeature):
                out[name] = v.to(torch.float32).reshape(v.shape[0], -1)  # (batch, 1)
            elif isinstance(f, SequenceFeature) and f.pooling != "concat":
                out[name] = self.pool(name, v, f.pooling)
            else:
                out[name] = self.lookup(name, v)
        return out

    def pool(self, name: str, ids: Tensor, mode: str) -> Tensor:
        """Sum or mean of the embeddings of the real steps of a sequence: ``(batch, seq_len)`` ids -> ``(batch, dim)``."""
        e = self.lookup(name, ids).sum(dim=1)  # padding rows are zero: the sum covers real steps only
        if mode == "sum":
            return e
        if mode == "mean":
            n = self.padding_mask(ids).sum(dim=1, keepdim=True).clamp_min(1).to(e.dtype)  # (batch, 1)
            return e / n
        raise ValueError(f"feature {name!r}: pooling {mode!r} cannot be reduced to one vector; use 'sum' or 'mean'")

    # ------------------------------------------------------------------ checks
    def check_batch(self, x: Mapping[str, Tensor], names: Sequence[str]) -> None:
        """Check that ``x`` has every key in ``names`` with the right shape, dtype and ids in range.

        Raises :class:`MissingInputError` (a ``KeyError``) or :class:`InputError` (a ``ValueError``)
        naming the feature. One reduction per feature. It reads tensor values, so a model skips it
        while a graph is recorded (``model(x, traceable=True)``).
        """
        if not isinstance(x, Mapping):
            raise InputError(f"a batch must be a dict of tensors keyed by feature name, got {type(x).__name__}")
        batch, first = None, None
        for name in names:
            f = self._by_name[name]
            if name not in x:
                raise MissingInputError(
                    f"the batch has no input {name!r} ({type(f).__name__}); the model needs {list(names)}, "
                    f"the batch has {sorted(map(str, x))}"
                )
            v = x[name]
            if not isinstance(v, Tensor):
                raise InputError(f"input {name!r} must be a torch.Tensor, got {type(v).__name__}; convert it with torch.as_tensor")
            if isinstance(f, SequenceFeature):
                want_dims, shape = 2, "(batch, seq_len)"
            elif isinstance(f, DenseFeature) and f.embed_dim > 1:
                want_dims, shape = 2, f"(batch, {f.embed_dim})"
            else:
                want_dims, shape = 1, "(batch,)"
            if v.dim() != want_dims or (want_dims == 2 and isinstance(f, DenseFeature) and v.shape[1] != f.embed_dim):
                raise InputError(f"input {name!r} ({type(f).__name__}) must have shape {shape}, got {tuple(v.shape)}")
            if batch is None:
                batch, first = v.shape[0], name
            elif v.shape[0] != batch:
                raise InputError(
                    f"input {name!r} has batch size {v.shape[0]} but {first!r} has {batch}; every input needs one row per sample"
                )
            if isinstance(f, DenseFeature):
                if not (v.is_floating_point() or v.dtype in (torch.int32, torch.int64)):
                    raise InputError(f"input {name!r} (DenseFeature) must hold numbers, got dtype {v.dtype}")
                continue
            if v.is_floating_point() or v.is_complex() or v.dtype == torch.bool:
                raise InputError(f"input {name!r} must hold integer ids (int64), got dtype {v.dtype}")
            if v.numel() == 0:
                continue
            lo, hi = torch.aminmax(v)
            lo, hi = int(lo), int(hi)
            if lo == PAD_ID and not isinstance(f, SequenceFeature):
                row = int((v == PAD_ID).nonzero()[0, 0])
                raise InputError(
                    f"feature {name!r}: row {row} holds {PAD_ID} (PAD_ID), which marks padding in history sequences "
                    f"only; a single-id feature needs a real id in every row. Give missing values an id of their "
                    f"own (e.g. 0 = unknown, as din_tutorial.datasets does for missing profile values)"
                )
            if hi >= f.vocab_size or (lo < 0 and lo != PAD_ID):
                bad = hi if hi >= f.vocab_size else lo
                raise InputError(
                    f"feature {name!r}: id {bad} is outside [0, {f.vocab_size}) (vocab_size={f.vocab_size}); ids must be "
                    f"0 .. vocab_size - 1, and {PAD_ID} marks padding. Set vocab_size to the largest id + 1 over "
                    f"all splits (data[{name!r}].max() + 1)"
                )
