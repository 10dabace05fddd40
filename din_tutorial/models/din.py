"""DIN, the Deep Interest Network (Zhou et al., KDD 2018): attention of the candidate over the history.

For each sample, the activation unit weighs every real behaviour by its relevance to the
candidate item (no softmax, as in the paper), the weighted sum is the user's interest *for this
candidate*, and an MLP reads it beside the candidate and the user's profile.

By default the behaviour vector is the paper's *goods group* (Fig. 2's caption: the embeddings of
one good's ids "are concatenated to represent one visited goods"): the embeddings of the paired
history features side by side (``hist_item_id`` and ``hist_cate_id``: item and category,
16 + 16 = 32), attended by ONE activation unit against the candidate's item and category
embeddings, as the official code does (``din/model.py``: item and category embeddings of 64
each, one unit over the 128). ``attention_mode="per_feature"`` gives the other common form, one
unit per history/target pair, as torch-rechub's DIN does. FuxiCTR offers both: each entry of
``din_target_field`` / ``din_sequence_field`` is a field or a tuple of fields whose embeddings are
concatenated; its ``DIN`` class defaults to the group ``[("item_id", "cate_id")]``, while its
``DIN_default`` config template (``model_zoo/DIN/config/model_config.yaml``) names single fields
(``item_id`` / ``click_history``), and the BARS Amazon run uses the group (reczoo/FuxiCTR at
0245987). Notebook 03 measures the two forms on the bundled data.

Taught in notebooks/03_activation_unit.ipynb (the attention) and notebooks/05_training.ipynb.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ..layers.activation_unit import ActivationUnit, PackedSteps
from ..layers.embedding import EmbeddingLayer, FeatureConfigError, InputError
from ..layers.mlp import MLP
from ..settings import OFFICIAL_ATTENTION_MLP, OFFICIAL_MLP_PARAMS
from .ctr_model import CTRModel, parse_params

ATTENTION_MODES = ("group", "per_feature")


class DIN(CTRModel):
    """Deep Interest Network.

    Args:
        features: user profile and context features (``SparseFeature``, ``DenseFeature``, pooled
            ``SequenceFeature``); embed sizes may differ (the seed mixes 16 and 8).
        history_features: behaviour sequences (``SequenceFeature(..., pooling="concat",
            shared_with=<target name>)``), ``(batch, seq_len)`` ids padded with ``PAD_ID``.
        target_features: the candidate's features, paired one by one with ``history_features``.
        mlp_params: the head, e.g. the seed's ``{"dims": [256, 128], "dropout": 0.2, "activation": "dice"}``
            (default: the paper's Alibaba head, 200-80 with Dice,
            :data:`~din_tutorial.settings.PAPER_MLP_PARAMS`; the official code's head is 80-40 with
            sigmoid, :data:`~din_tutorial.settings.OFFICIAL_CODE_MLP_PARAMS`).
        attention_mlp: the activation unit, ``{"dims": [32, 16], "dropout": 0.2, "activation":
            "dice", "use_softmax": False}`` (default: the official code's sizes, 80-40, with the
            paper's Dice and no softmax, :data:`~din_tutorial.settings.DEFAULT_ATTENTION_MLP`; the
            official code's unit is sigmoid with a softmax,
            :data:`~din_tutorial.settings.OFFICIAL_CODE_ATTENTION_MLP`).
            ``attention_mlp_params`` is accepted as an alias.
        attention_mode: ``"group"`` (default; one unit over the concatenated behaviour vector,
            the paper's goods group) or ``"per_feature"`` (one unit per pair; notebook 03 measures both).
        embedding: an existing :class:`~din_tutorial.layers.EmbeddingLayer` to share (e.g.
            ``base.embedding``); by default the model builds its own tables.
        mba_reg: weight of the paper's mini-batch aware regularisation (0 = off; the paper uses 0.01);
            see :meth:`regularization_loss`.
        id_counts: ``{feature name: counts per id over the training data}`` for that regularisation.
        sync_dice: under ``torch.distributed``, every Dice computes its batch statistics over all
            processes' slices of the batch (notebooks/09_scaling_out.ipynb); default per process.

    ``model(x)`` returns click probabilities ``(batch,)``; it runs the activation unit on the real
    behaviours only. ``model(x, traceable=True)`` attends every position with the padding mask
    instead (the form that is exported and drawn; the same result). :meth:`attention_weights`
    gives the weights.

    Taught in notebooks/03_activation_unit.ipynb and notebooks/05_training.ipynb.
    """

    def __init__(
        self,
        features: Sequence,
        history_features: Sequence,
        target_features: Sequence,
        mlp_params: Mapping | None = None,
        attention_mlp: Mapping | None = None,
        *,
        attention_mlp_params: Mapping | None = None,
        attention_mode: str = "group",
        embedding: EmbeddingLayer | None = None,
        mba_reg: float = 0.0,
        id_counts: Mapping | None = None,
        sync_dice: bool = False,
    ):
        super().__init__(
            features,
            history_features,
            target_features,
            require_concat_history=True,
            model_name="DIN",
            embedding=embedding,
            mba_reg=mba_reg,
            id_counts=id_counts,
        )
        if attention_mlp is not None and attention_mlp_params is not None:
            raise FeatureConfigError("give the activation unit's settings once: attention_mlp or attention_mlp_params, not both")
        att = parse_params(
            attention_mlp if attention_mlp is not None else attention_mlp_params,
            OFFICIAL_ATTENTION_MLP,
            ("dims", "dropout", "activation", "use_softmax"),
            "attention_mlp",
        )
        if not att["dims"]:
            raise FeatureConfigError("attention_mlp: dims needs at least one hidden layer, e.g. [32, 16]")
        mlp = parse_params(mlp_params, OFFICIAL_MLP_PARAMS, ("dims", "dropout", "activation", "output_layer"), "mlp_params")
        if not mlp.pop("output_layer", True):
            raise FeatureConfigError("mlp_params: DIN's MLP ends in one logit; drop output_layer=False")
        if attention_mode not in ATTENTION_MODES:
            raise FeatureConfigError(f"attention_mode must be one of {ATTENTION_MODES}, got {attention_mode!r}")
        self.attention_mode = attention_mode
        self.mlp_params = mlp
        self.attention_params = att
        if attention_mode == "group":
            unit_dims = [self.target_dim]
        else:
            unit_dims = [t.embed_dim for t in self.target_features]
        self.attention = nn.ModuleList(ActivationUnit(d, **att, sync_stats=sync_dice) for d in unit_dims)
        self.mlp = MLP(self.profile_dim + 2 * self.target_dim, **mlp, sync_stats=sync_dice)

    # --------------------------------------------------------------- inputs
    def check_inputs(self, x: Mapping[str, Tensor]) -> None:
        """Also checks that the history features are padded at the same positions."""
        super().check_inputs(x)
        if len(self.history_features) < 2:
            return
        first = self.history_features[0].name
        real = self.embedding.padding_mask(x[first])
        for h in self.history_features[1:]:
            if x[h.name].shape != x[first].shape or not torch.equal(real, self.embedding.padding_mask(x[h.name])):
                raise InputError(
                    f"history features {first!r} and {h.name!r} must have the same shape and padding "
                    f"(PAD_ID at the same positions): they describe the same behaviours"
                )

    # --------------------------------------------------------------- attention
    def _interest(
        self, x: Mapping[str, Tensor], targets: list[Tensor], packed: bool, return_weights: bool = False
    ) -> tuple[list[Tensor], Tensor | None]:
        hist = self.history_features
        mask = self.embedding.padding_mask(x[hist[0].name])  # (batch, L), True on real behaviours
        steps = PackedSteps.from_mask(mask) if packed else None

        def keys_of(features) -> Tensor:
            if packed:  # (N, dim): the real steps only
                return torch.cat([self.embedding.lookup(h.name, steps.gather(x[h.name])) for h in features], dim=1)
            return torch.cat([self.embedding.lookup(h.name, x[h.name]) for h in features], dim=-1)  # (batch, L, dim)

        if self.attention_mode == "group":  # one unit over [item, category] side by side: the goods group
            groups = [(self.attention[0], hist, torch.cat(targets, dim=1))]
        else:
            groups = [(unit, [h], t) for unit, h, t in zip(self.attention, hist, targets)]
        pooled, weights = [], []
        for unit, features, query in groups:
            keys = keys_of(features)
            if packed:
                out = unit.forward_packed(query, keys, steps, return_weights=return_weights)
            else:
                out = unit(query, keys, mask, return_weights=return_weights)
            if return_weights:
                out, w = out
                weights.append(w)
            pooled.append(out)  # (batch, dim)
        if not return_weights:
            return pooled, None
        return pooled, (weights[0] if self.attention_mode == "group" else torch.stack(weights, dim=1))

    def attention_weights(self, x: Mapping[str, Tensor]) -> Tensor:
        """The activation unit's weights for batch ``x``: ``(batch, seq_len)``, 0 on padding.

        With ``attention_mode="per_feature"``: ``(batch, n_pairs, seq_len)``. Always computed as at
        inference (eval mode: Dice's moving averages, no dropout, which it never changes), without
        gradients; the model's mode is restored afterwards. Without softmax the weights' global
        sign and scale are not identified by the data (the MLP after the pooling can undo them):
        compare them within a user. Taught in notebooks/03_activation_unit.ipynb.
        """
        self.check_inputs(x)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                _, w = self._interest(x, self._target_parts(x), packed=True, return_weights=True)
        finally:
            self.train(was_training)
        return w
