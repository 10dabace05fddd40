"""The activation unit: DIN's attention of a candidate item over the user's behaviours (paper Eq. 3).

    v_U(A) = sum_j  a(e_j, v_A) * e_j

``a(.)`` is a small MLP over ``[q, k, q - k, q * k]`` (the candidate ``q = v_A``, a behaviour
``k = e_j``, their difference and element-wise product, as in the official code, ``din/model.py``).
It gives one weight per behaviour; padded behaviours get weight exactly 0. There is **no softmax**
by default: the paper abandons it (section 4.3) so that ``sum_j w_j`` approximates the *intensity*
of the activated interest. Its example is one user and two candidates: a history of 90% clothes
and 10% electronics, where the T-shirt candidate activates most of the history "and may get
larger value of v_U" than the phone candidate; a softmax would make both sets of weights sum to 1.
``use_softmax=True`` is offered (masking before the softmax, so padding gets nothing); the
official code applies one (``din/model.py``, after scaling the scores by ``1/sqrt(dim)``).

Two speed levers, both plain autograd and exact (notebooks/03_activation_unit.ipynb shows each
equal to the naive form):

1. **The query's part of the first layer, once per sample.** With ``W = [W1 W2 W3 W4]``::

       W [q, k, q-k, q*k] = (W1 + W3) q + (W2 - W3) k + W4 (q * k)

   so ``(W1 + W3) q + b`` is computed once per sample instead of once per behaviour, and the
   ``4 * dim`` input is never built (:meth:`ActivationUnit.first_layer`).
2. **Only the real behaviours.** :meth:`ActivationUnit.forward_packed` runs the MLP on the real
   steps only (about 44% of positions are padding in a typical log), picked with
   ``index_select`` and summed back per sample with ``index_add``; Dice's batch statistics then
   cover exactly the real steps. The dense :meth:`ActivationUnit.forward` attends every position
   and masks the padding: the form that is exported and drawn, where shapes may not depend on
   the data.

Taught in notebooks/03_activation_unit.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..settings import OFFICIAL_ATTENTION_MLP
from .mlp import MLP, Dropout, activate, make_activation


class PackedSteps(NamedTuple):
    """Where the real (non-padded) steps of a ``(batch, seq_len)`` history are.

    ``mask``: ``(batch, seq_len)`` bool, True on real steps; ``pos``: ``(N,)`` their flat indices
    into ``batch * seq_len``; ``rows``: ``(N,)`` the sample each belongs to.
    """

    mask: Tensor
    pos: Tensor
    rows: Tensor

    @classmethod
    def from_mask(cls, mask: Tensor) -> PackedSteps:
        """``mask``: ``(batch, seq_len)`` bool, True on real steps."""
        seq_len = mask.shape[1]
        pos = mask.reshape(-1).nonzero().squeeze(1)  # (N,)
        rows = torch.div(pos, seq_len, rounding_mode="floor") if seq_len > 0 else pos
        return cls(mask, pos, rows)

    def gather(self, values: Tensor) -> Tensor:
        """The real steps of a ``(batch, seq_len, ...)`` tensor: ``(N, ...)``."""
        return values.reshape(-1, *values.shape[2:]).index_select(0, self.pos)

    def scatter(self, values: Tensor) -> Tensor:
        """Put ``(N,)`` per-step values back into a ``(batch, seq_len)`` tensor, 0 on padding."""
        flat = values.new_zeros(self.mask.numel()).index_put((self.pos,), values)
        return flat.reshape(self.mask.shape)


class ActivationUnit(nn.Module):
    """Attention of a query (the candidate item) over keys (the behaviours), as the paper's Eq. 3.

    Args:
        embed_dim: size ``D`` of the query and of each key (for DIN's default, the item and
            category embeddings side by side: 16 + 16 = 32).
        dims: hidden sizes of ``a(.)``; the official code uses ``[80, 40]`` with sigmoid (the default sizes), the
            seed ``[32, 16]``.
        activation: hidden activation (``"dice"``, ``"prelu"``, ...).
        dropout: dropout after each hidden layer.
        use_softmax: normalise the weights with a (masked) softmax over the behaviours. Off by
            default, as in the paper.
        sync_stats: Dice's batch statistics over every process under ``torch.distributed``.

    ``self.first`` is the official code's first layer (din/model.py), ``Linear(4 * D, dims[0])`` over
    ``[q, k, q - k, q * k]``; :meth:`first_layer` reads the same weights.

    Taught in notebooks/03_activation_unit.ipynb.
    """

    def __init__(
        self,
        embed_dim: int,
        dims: Sequence[int] = tuple(OFFICIAL_ATTENTION_MLP["dims"]),
        activation: str = "dice",
        dropout: float = 0.0,
        use_softmax: bool = False,
        sync_stats: bool = False,
    ):
        super().__init__()
        dims = [int(d) for d in (dims or ())]
        if not dims:
            raise ValueError("ActivationUnit needs at least one hidden layer: dims=[32, 16] for example")
        self.embed_dim = int(embed_dim)
        self.use_softmax = bool(use_softmax)
        self.first = nn.Linear(4 * self.embed_dim, dims[0])
        self.act = make_activation(activation, dims[0], sync_stats=sync_stats)
        self.drop = Dropout(dropout)
        self.rest = MLP(dims[0], dims[1:], dropout=dropout, activation=activation, output_layer=True,
                        sync_stats=sync_stats)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, use_softmax={self.use_softmax}"

    # --------------------------------------------------------------- first layer
    def first_layer_naive(self, query: Tensor, keys: Tensor) -> Tensor:
        """The official code's form, ``Linear([q, k, q-k, q*k])``. ``(batch, D), (batch, L, D) -> (batch, L, H)``.

        din/model.py builds this input; the paper names q, k and their product (section 4.3).
        """
        q = query.unsqueeze(1).expand_as(keys)  # (batch, L, D)
        return self.first(torch.cat([q, keys, q - keys, q * keys], dim=-1))

    def first_layer(self, query: Tensor, keys: Tensor, rows: Tensor | None = None) -> Tensor:
        """:meth:`first_layer_naive` with the query's part computed once per sample (same weights, same values).

        ``keys`` is ``(batch, L, D)`` (result ``(batch, L, H)``), or ``(N, D)`` real steps with
        ``rows`` ``(N,)`` naming the sample of each (result ``(N, H)``).
        """
        w = self.first.weight.view(-1, 4, self.embed_dim)  # (H, 4, D): W1 W2 W3 W4
        w_q, w_k, w_qk = w[:, 0] + w[:, 2], w[:, 1] - w[:, 2], w[:, 3]  # for q, for k, for q * k
        q_part = F.linear(query, w_q, self.first.bias)  # (batch, H): once per sample
        if rows is None:  # (batch, L, D): broadcast the query over the L steps
            q = query.unsqueeze(1)
            return q_part.unsqueeze(1) + F.linear(keys, w_k) + F.linear(q * keys, w_qk)
        q = query.index_select(0, rows)  # (N, D): the query of each real step's sample
        h = torch.addmm(q_part.index_select(0, rows), keys, w_k.t())  # addmm(c, a, b) = c + a @ b, in one call
        return torch.addmm(h, q * keys, w_qk.t())  # (N, H)

    # --------------------------------------------------------------- scores and weights
    def _score(self, h: Tensor, mask: Tensor | None) -> Tensor:
        """The rest of ``a(.)`` after the first layer: ``(..., H) -> (...)``."""
        return self.rest(self.drop(activate(self.act, h, mask)), mask).squeeze(-1)

    def scores(self, query: Tensor, keys: Tensor, mask: Tensor | None = None, naive: bool = False) -> Tensor:
        """Raw outputs of ``a(.)`` before masking: ``(batch, D), (batch, L, D) -> (batch, L)``.

        ``mask`` (True on real steps) keeps padding out of Dice's statistics.
        """
        h = self.first_layer_naive(query, keys) if naive else self.first_layer(query, keys)  # (batch, L, H)
        return self._score(h, mask)

    def weights_from_scores(self, scores: Tensor, mask: Tensor) -> Tensor:
        """Zero on padding; masked softmax over the real steps when ``use_softmax``. ``(batch, L) -> (batch, L)``."""
        if self.use_softmax:
            lowest = torch.finfo(scores.dtype).min
            w = torch.softmax(scores.masked_fill(~mask, lowest), dim=-1)
            return torch.where(mask, w, 0.0)  # a fully padded history gets all zeros, not a uniform 1/L
        return torch.where(mask, scores, 0.0)

    # --------------------------------------------------------------- forward
    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        return_weights: bool = False,
        naive: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Dense form (every position, padding masked).

        Args:
            query: ``(batch, D)`` candidate embedding.
            keys: ``(batch, L, D)`` behaviour embeddings.
            mask: ``(batch, L)`` bool, True on real behaviours (default: all real).
            return_weights: also return the ``(batch, L)`` weights.
            naive: use the official code's first layer as written (for teaching and tests).

        Returns:
            ``(batch, D)`` the weighted sum of the keys (and the weights).
        """
        if mask is None:
            mask = torch.ones(keys.shape[:2], dtype=torch.bool, device=keys.device)
        w = self.weights_from_scores(self.scores(query, keys, mask, naive=naive), mask)  # (batch, L)
        pooled = torch.bmm(w.unsqueeze(1), keys).squeeze(1)  # (batch, D): sum_j w_j e_j
        return (pooled, w) if return_weights else pooled

    def forward_packed(
        self, query: Tensor, keys: Tensor, steps: PackedSteps, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Packed form: ``keys`` holds only the real steps; equal to :meth:`forward` on the padded input.

        Args:
            query: ``(batch, D)``.
            keys: ``(N, D)`` the real behaviours, in the order of ``steps.pos`` (``steps.gather(padded_keys)``).
            steps: where they sit in the ``(batch, L)`` history (:meth:`PackedSteps.from_mask`).
            return_weights: also return the ``(batch, L)`` weights (0 on padding).

        Returns:
            ``(batch, D)`` the weighted sum (and the weights).
        """
        h = self.first_layer(query, keys, rows=steps.rows)  # (N, H)
        w = self._score(h, None)  # (N,): only real steps, so Dice needs no mask
        if self.use_softmax:  # the softmax runs per sample: back to (batch, L), masked, and packed again
            w = steps.gather(self.weights_from_scores(steps.scatter(w), steps.mask))
        pooled = keys.new_zeros(query.shape[0], keys.shape[1]).index_add(0, steps.rows, w.unsqueeze(1) * keys)
        return (pooled, steps.scatter(w)) if return_weights else pooled
