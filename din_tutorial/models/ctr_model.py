"""What DIN and the paper's BaseModel share: feature checks, input names, embeddings, the MLP head.

Both models take the seed's constructor, ``(features, history_features, target_features,
mlp_params, attention_mlp)``, check the features when they are built (errors name the feature and
the fix), own their embedding tables (two models built from the same features are independent),
and check each batch before using it (skipped while exporting).

The optional mini-batch aware regularisation of the paper (section 5.1) lives here too: an L2
penalty on only the embedding rows that appear in the batch, each scaled by ``1 / n_j``.

Taught in notebooks/02_feature_definitions.ipynb (the checks) and notebooks/05_training.ipynb.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..features import DenseFeature, SequenceFeature, SparseFeature
from ..layers.embedding import EmbeddingLayer, FeatureConfigError, check_feature_names
from ..layers.mlp import ACTIVATIONS


def parse_params(params: Mapping | None, defaults: Mapping, allowed: Sequence[str], what: str) -> dict:
    """Merge ``params`` over ``defaults``; unknown keys and bad values raise naming ``what``."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise FeatureConfigError(f"{what} must be a dict such as {dict(defaults)}, got {params!r}")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise FeatureConfigError(f"{what}: unknown key(s) {unknown}; allowed keys are {list(allowed)}")
    out = {**defaults, **params}
    dims = out.get("dims")
    if isinstance(dims, int) or not all(isinstance(d, int) and d > 0 for d in (dims or ())):
        raise FeatureConfigError(f"{what}: dims must be a list of positive integers such as [256, 128], got {dims!r}")
    out["dims"] = list(dims or ())
    drop = out.get("dropout", 0.0)
    if not isinstance(drop, (int, float)) or not 0.0 <= drop < 1.0:
        raise FeatureConfigError(f"{what}: dropout must be a number in [0, 1), got {drop!r}")
    act = str(out.get("activation")).lower()
    if act not in ACTIVATIONS:
        raise FeatureConfigError(f"{what}: activation {out.get('activation')!r} is unknown; choose one of {ACTIVATIONS}")
    return out


def _listify(features, what: str) -> list:
    if features is None:
        return []
    if isinstance(features, (SparseFeature, SequenceFeature, DenseFeature)):
        raise FeatureConfigError(f"{what} must be a list of features; wrap it: {what}=[{features.name!r} feature]")
    return list(features)


class CTRModel(nn.Module):
    """Skeleton shared by :class:`~din_tutorial.models.DIN` and :class:`~din_tutorial.models.BaseModel`.

    Subclasses set ``self.mlp`` and implement ``_interest(x, targets, packed, return_weights)``, the
    pooled history vectors that join the profile and target embeddings before the MLP.

    ``model(x)`` checks the batch, then computes; ``model(x, traceable=True)`` is the form a graph
    recorder sees (``export_onnx``, ``visualize_model``): no input checks (they read tensor values)
    and every history position attended with the padding mask (shapes that do not depend on the
    data). Both give the same probabilities (tests/test_models.py).

    Attributes:
        features, history_features, target_features: the feature lists the model was built from.
        input_names: the batch keys the model reads, in order (profile, target, history);
            also the named inputs of the exported ONNX graph.
        embedding: the :class:`~din_tutorial.layers.EmbeddingLayer` with every table.
    """

    def __init__(
        self,
        features: Sequence,
        history_features: Sequence,
        target_features: Sequence,
        *,
        require_concat_history: bool,
        model_name: str,
        embedding: EmbeddingLayer | None = None,
        mba_reg: float = 0.0,
        id_counts: Mapping[str, Sequence[int] | Tensor] | None = None,
    ):
        super().__init__()
        self.features = _listify(features, "features")
        self.history_features = _listify(history_features, "history_features")
        self.target_features = _listify(target_features, "target_features")
        self._check_features(require_concat_history, model_name)
        all_features = self.features + self.target_features + self.history_features
        self.input_names: list[str] = [f.name for f in all_features]
        if embedding is None:
            embedding = EmbeddingLayer(all_features)
        else:
            self._check_shared_embedding(embedding, all_features)
        self.embedding = embedding
        # profile vector: sparse and pooled-sequence embeddings, then dense values
        self.profile_dim = sum(f.embed_dim for f in self.features)
        self.target_dim = sum(f.embed_dim for f in self.target_features)
        self._set_regularization(mba_reg, id_counts)

    # --------------------------------------------------------------- build-time checks
    def _check_features(self, require_concat_history: bool, model_name: str) -> None:
        hist, targ = self.history_features, self.target_features
        check_feature_names(self.features + targ + hist)
        if not hist:
            raise FeatureConfigError(
                f"{model_name} needs at least one history feature, e.g. SequenceFeature('hist_item_id', ..., "
                f"pooling='concat', shared_with='item_id')"
            )
        if len(hist) != len(targ):
            raise FeatureConfigError(
                f"{model_name} pairs history_features with target_features one by one, but got {len(hist)} history "
                f"features {[f.name for f in hist]} and {len(targ)} target features {[f.name for f in targ]}; "
                f"list them in the same order, e.g. hist_item_id with item_id, hist_cate_id with cate_id"
            )
        for h, t in zip(hist, targ):
            if not isinstance(h, SequenceFeature):
                raise FeatureConfigError(
                    f"history feature {h.name!r} must be a SequenceFeature (a (batch, seq_len) id sequence), "
                    f"got {type(h).__name__}"
                )
            if not isinstance(t, SparseFeature):
                raise FeatureConfigError(
                    f"target feature {t.name!r} must be a SparseFeature (one id per sample), got {type(t).__name__}"
                )
            if require_concat_history and h.pooling != "concat":
                raise FeatureConfigError(
                    f"history feature {h.name!r} has pooling={h.pooling!r}; {model_name}'s activation unit needs every "
                    f"behaviour, so set pooling='concat'"
                )
            if h.embed_dim != t.embed_dim:
                raise FeatureConfigError(
                    f"history feature {h.name!r} (embed_dim={h.embed_dim}) is paired with target feature {t.name!r} "
                    f"(embed_dim={t.embed_dim}); paired features must have the same embed_dim"
                )
        # a history reading another *target's* table is paired with the wrong target (lists out of order)
        table_of = EmbeddingLayer.table_names_of(self.features + targ + hist)
        target_roots = [table_of[t.name] for t in targ]
        for h, t, t_root in zip(hist, targ, target_roots):
            h_root = table_of[h.name]
            if h_root != t_root and h_root in target_roots:
                raise FeatureConfigError(
                    f"history feature {h.name!r} shares the embedding of {h_root!r} but is paired with target feature "
                    f"{t.name!r} (embedding {t_root!r}); the activation unit compares each behaviour with the target "
                    f"of the same position, so list target_features in the order of history_features "
                    f"(here {[table_of[f.name] for f in hist]})"
                )
        for f in self.features:
            if isinstance(f, SequenceFeature) and f.pooling == "concat":
                raise FeatureConfigError(
                    f"feature {f.name!r} has pooling='concat' but is in `features`; put it in history_features "
                    f"(paired with a target) or pool it with pooling='mean' or 'sum'"
                )

    @staticmethod
    def _check_shared_embedding(embedding: EmbeddingLayer, features: Sequence) -> None:
        if not isinstance(embedding, EmbeddingLayer):
            raise FeatureConfigError(f"embedding must be an EmbeddingLayer (e.g. other_model.embedding), got {type(embedding).__name__}")
        for f in features:
            if isinstance(f, DenseFeature):
                continue
            if f.name not in embedding.table_names:
                raise FeatureConfigError(
                    f"feature {f.name!r} has no table in the shared embedding; build both models from the same features"
                )
            table = embedding.table(f.name)
            if table.embedding_dim != f.embed_dim or table.num_embeddings - 1 < f.vocab_size:
                raise FeatureConfigError(
                    f"feature {f.name!r} (vocab_size={f.vocab_size}, embed_dim={f.embed_dim}) does not fit the shared "
                    f"table ({table.num_embeddings - 1} ids of size {table.embedding_dim})"
                )

    # --------------------------------------------------------------- inputs
    def check_inputs(self, x: Mapping[str, Tensor]) -> None:
        """Raise a clear error when batch ``x`` misses a key, has a wrong shape or an id out of range."""
        self.embedding.check_batch(x, self.input_names)

    def _profile_parts(self, x: Mapping[str, Tensor]) -> list[Tensor]:
        """``(batch, dim)`` vectors of the profile/context features, in the order of ``features``."""
        out = []
        for f in self.features:
            v = x[f.name]
            if isinstance(f, DenseFeature):
                out.append(v.to(torch.float32).reshape(v.shape[0], -1))  # (batch, 1)
            elif isinstance(f, SequenceFeature):
                out.append(self.embedding.pool(f.name, v, f.pooling))  # (batch, dim)
            else:
                out.append(self.embedding.lookup(f.name, v))  # (batch, dim)
        return out

    def _target_parts(self, x: Mapping[str, Tensor]) -> list[Tensor]:
        return [self.embedding.lookup(f.name, x[f.name]) for f in self.target_features]  # each (batch, dim)

    def _interest(
        self, x: Mapping[str, Tensor], targets: list[Tensor], packed: bool, return_weights: bool = False
    ) -> tuple[list[Tensor], Tensor | None]:
        """The user's interest vectors (one ``(batch, dim)`` per target feature, or one for a group) and,
        when asked, the attention weights. ``packed``: attend only the real steps (data-dependent shapes)."""
        raise NotImplementedError

    def mlp_input(self, x: Mapping[str, Tensor], traceable: bool = False) -> Tensor:
        """The vector the MLP reads, ``(batch, mlp input)``: profile, target and interest vectors side by side.

        Taught in notebooks/05_training.ipynb (the BaseModel against DIN, one batch through both).
        """
        if not traceable:
            self.check_inputs(x)
        targets = self._target_parts(x)
        interest, _ = self._interest(x, targets, packed=not traceable)
        return torch.cat(self._profile_parts(x) + targets + interest, dim=1)

    def logits(self, x: Mapping[str, Tensor], traceable: bool = False) -> Tensor:
        """Click logits ``(batch,)`` (no sigmoid); ``traceable`` as in :meth:`forward`."""
        return self.mlp(self.mlp_input(x, traceable)).squeeze(-1)

    def forward(self, x: Mapping[str, Tensor], traceable: bool = False) -> Tensor:
        """Click probabilities ``(batch,)`` for batch ``x`` (a dict of tensors keyed by feature name).

        ``traceable=True``: the form to record as a graph (ONNX export, drawing): no input checks,
        and the attention over every position with the padding mask; the same probabilities.
        """
        return torch.sigmoid(self.logits(x, traceable))

    # --------------------------------------------------------------- regularisation
    def _set_regularization(self, mba_reg: float, id_counts) -> None:
        if not isinstance(mba_reg, (int, float)) or mba_reg < 0:
            raise FeatureConfigError(f"mba_reg must be a number >= 0 (the paper uses 0.01), got {mba_reg!r}")
        self.mba_reg = float(mba_reg)
        # table name -> the sparse/sequence features (batch keys) that look it up
        self._table_users: dict[str, list[str]] = {}
        for name in self.input_names:
            if name in self.embedding.table_names:
                self._table_users.setdefault(self.embedding.table_names[name], []).append(name)
        self._counts: dict[str, str] = {}  # table name -> buffer name
        for name, counts in (id_counts or {}).items():
            if name not in self.embedding.table_names:
                raise FeatureConfigError(f"id_counts: {name!r} is not a sparse or sequence feature of this model")
            root = self.embedding.table_names[name]
            table = self.embedding.tables[root]
            c = torch.as_tensor(counts, dtype=torch.float32).reshape(-1)
            if c.numel() > table.num_embeddings - 1 or bool((c < 0).any()):
                raise FeatureConfigError(
                    f"id_counts[{name!r}] must hold one count >= 0 per id (at most {table.num_embeddings - 1} values)"
                )
            full = torch.zeros(table.num_embeddings)
            full[: c.numel()] = c
            buf = f"_id_counts_{root}"
            self.register_buffer(buf, full, persistent=False)
            self._counts[root] = buf

    def regularization_loss(self, x: Mapping[str, Tensor]) -> Tensor:
        """The paper's mini-batch aware L2 (section 5.1) for batch ``x``; a 0 tensor when ``mba_reg == 0``.

        ``mba_reg / 2 * sum_j ||w_j||^2 / n_j`` over the embedding rows ``j`` that occur in the batch,
        so its gradient is the paper's update ``mba_reg * w_j / n_j``. ``n_j`` is the id's count in the
        training data when ``id_counts`` was given, else its count in the batch. Add it to the mean
        batch loss (the trainer does).

        The penalty reads the touched rows through the table's own lookup (``F.embedding`` with the
        table's ``sparse`` flag), so under sparse updates (``CTRTrainer(sparse_embeddings=True)``)
        its gradient is sparse too and lands on the rows the batch touched: Eq. 7 of the paper is
        the regulariser that fits sparse updates, where a dense ``weight_decay`` would shrink every
        row at every step. Its cost follows the batch (``torch.unique``), not the table.
        """
        first = next(self.parameters())
        if self.mba_reg == 0.0:
            return torch.zeros((), dtype=first.dtype, device=first.device)
        total = torch.zeros((), dtype=first.dtype, device=first.device)
        for root, names in self._table_users.items():
            table = self.embedding.tables[root]
            ids = torch.cat([x[n].reshape(-1) for n in names])
            ids = ids[self.embedding.padding_mask(ids)]
            rows, counts = torch.unique(ids, return_counts=True)  # the ids present in the batch, sorted, and how often
            n = getattr(self, self._counts[root])[rows] if root in self._counts else counts.to(first.dtype)
            scale = 1.0 / n.clamp_min(1.0)  # (present,)
            w = F.embedding(rows, table.weight, sparse=table.sparse)  # (present, dim): a sparse gradient if the table's is
            total = total + (w.pow(2).sum(1) * scale).sum()
        return 0.5 * self.mba_reg * total
