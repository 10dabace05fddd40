"""The paper's BaseModel: Embedding & MLP, with the history summed into one vector.

Same embeddings, same MLP, same constructor as :class:`~din_tutorial.models.DIN`, so a notebook
swaps one class name for the other. Every behaviour counts the same whatever the candidate is:
this is the "fixed-length vector" that DIN's local activation improves on (paper section 4.2).

Taught in notebooks/05_training.ipynb.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

from ..layers.embedding import EmbeddingLayer, FeatureConfigError
from ..layers.mlp import MLP
from ..settings import OFFICIAL_ATTENTION_MLP, OFFICIAL_MLP_PARAMS
from .ctr_model import CTRModel, parse_params


class BaseModel(CTRModel):
    """Embedding & MLP baseline: sum pooling of each history feature (the paper's BaseModel).

    Takes DIN's arguments (``attention_mlp`` / ``attention_mlp_params`` are accepted and checked,
    then unused), so ``BaseModel(**same_kwargs)`` and ``DIN(**same_kwargs)`` compare directly.
    A history feature with ``pooling="mean"`` is averaged instead; ``"concat"`` (what DIN needs)
    is summed, as in the paper. ``sync_dice`` as in :class:`~din_tutorial.models.DIN` (the head's Dice).

    Taught in notebooks/05_training.ipynb.
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
        embedding: EmbeddingLayer | None = None,
        mba_reg: float = 0.0,
        id_counts: Mapping | None = None,
        sync_dice: bool = False,
    ):
        super().__init__(
            features,
            history_features,
            target_features,
            require_concat_history=False,
            model_name="BaseModel",
            embedding=embedding,
            mba_reg=mba_reg,
            id_counts=id_counts,
        )
        if attention_mlp is not None and attention_mlp_params is not None:
            raise FeatureConfigError("give the activation unit's settings once: attention_mlp or attention_mlp_params, not both")
        parse_params(
            attention_mlp if attention_mlp is not None else attention_mlp_params,
            OFFICIAL_ATTENTION_MLP,
            ("dims", "dropout", "activation", "use_softmax"),
            "attention_mlp",
        )
        mlp = parse_params(mlp_params, OFFICIAL_MLP_PARAMS, ("dims", "dropout", "activation", "output_layer"), "mlp_params")
        if not mlp.pop("output_layer", True):
            raise FeatureConfigError("mlp_params: the model's MLP ends in one logit; drop output_layer=False")
        self.mlp_params = mlp
        self.mlp = MLP(self.profile_dim + 2 * self.target_dim, **mlp, sync_stats=sync_dice)

    def _interest(
        self, x: Mapping[str, Tensor], targets: list[Tensor], packed: bool, return_weights: bool = False
    ) -> tuple[list[Tensor], Tensor | None]:
        pooled = [
            self.embedding.pool(h.name, x[h.name], "mean" if h.pooling == "mean" else "sum")  # (batch, dim)
            for h in self.history_features
        ]
        return pooled, None
