"""The activation unit: DIN's attention of a candidate item over the user's behaviours (paper Eq. 3).

    v_U(A) = sum_j  a(e_j, v_A) * e_j

``a(.)`` is a small MLP over ``[q, k, q - k, q * k]`` (the candidate ``q = v_A``, a behaviour
``k = e_j``, their difference and element-wise product, as in the official code). It gives one
weight per behaviour; padded behaviours get weight exactly 0. There is **no softmax** by
default: the paper abandons it so that ``sum_j w_j`` keeps the *intensity* of the user's
interest (many phone behaviours should count for more than one). ``use_softmax=True`` is
offered (masking before the softmax, so padding gets nothing).

Two speed-ups, both exact (notebooks/03_activation_unit.ipynb shows them equal to the naive form):

1. **The first layer, once per sample for the query.** With ``W = [W1 W2 W3 W4]``::

       W [q, k, q-k, q*k] = (W1 + W3) q + (W2 - W3) k + W4 (q * k)

   so ``(W1 + W3) q + b`` is computed once per sample instead of once per behaviour, and the
   ``4 * dim`` input is never materialised.
2. **Only real behaviours.** :meth:`ActivationUnit.forward_packed` runs the MLP on the real
   steps only (about 44% of positions are padding in a typical log); Dice's batch statistics
   then cover exactly the real steps. The dense :meth:`ActivationUnit.forward` (used while
   exporting, where shapes may not depend on the data) masks instead; both give the same result.

Taught in notebooks/03_activation_unit.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._derived import derived
from .mlp import MLP, Dropout, activate_and_drop, make_activation


class PackedSteps(NamedTuple):
    """Where the real (non-padded) steps of a ``(batch, seq_len)`` history are.

    ``pos``: ``(N,)`` flat indices into ``batch * seq_len``; ``rows``: ``(N,)`` the sample of each step.
    """

    pos: Tensor
    rows: Tensor
    batch_size: int
    seq_len: int

    @classmethod
    def from_mask(cls, mask: Tensor) -> PackedSteps:
        """``mask``: ``(batch, seq_len)`` bool, True on real steps."""
        batch, seq_len = mask.shape
        pos = mask.reshape(-1).nonzero().squeeze(1)  # (N,)
        rows = torch.div(pos, seq_len, rounding_mode="floor") if seq_len > 0 else pos
        return cls(pos, rows, batch, seq_len)

    def gather(self, ids: Tensor) -> Tensor:
        """The real steps of a ``(batch, seq_len)`` tensor, ``(N,)``."""
        return ids.reshape(-1).index_select(0, self.pos)

    def scatter(self, values: Tensor) -> Tensor:
        """Put ``(N,)`` per-step values back into a ``(batch, seq_len)`` tensor, 0 on padding."""
        flat = values.new_zeros(self.batch_size * self.seq_len).scatter(0, self.pos, values)
        return flat.reshape(self.batch_size, self.seq_len)


class ActivationUnit(nn.Module):
    """Attention of a query (the candidate item) over keys (the behaviours), paper-faithful and fast.

    Args:
        embed_dim: size ``D`` of the query and of each key (for DIN's default, the item and
            category embeddings side by side: 16 + 16 = 32).
        dims: hidden sizes of ``a(.)``; the paper's code uses ``[80, 40]``, the seed ``[32, 16]``.
        activation: hidden activation (``"dice"``, ``"prelu"``, ...).
        dropout: dropout after each hidden layer.
        use_softmax: normalise the weights with a (masked) softmax over the behaviours. Off by
            default, as in the paper.

    ``self.first`` is the paper-form first layer, ``Linear(4 * D, dims[0])`` over
    ``[q, k, q - k, q * k]``; the fast form reads the same weights.

    Taught in notebooks/03_activation_unit.ipynb.
    """

    def __init__(
        self,
        embed_dim: int,
        dims: Sequence[int] = (36,),
        activation: str = "dice",
        dropout: float = 0.0,
        use_softmax: bool = False,
    ):
        super().__init__()
        dims = [int(d) for d in (dims or ())]
        if not dims:
            raise ValueError("ActivationUnit needs at least one hidden layer: dims=[32, 16] for example")
        self.embed_dim = int(embed_dim)
        self.use_softmax = bool(use_softmax)
        self.first = nn.Linear(4 * self.embed_dim, dims[0])
        self.act = make_activation(activation, dims[0])
        self.drop = Dropout(dropout)
        self.rest = MLP(dims[0], dims[1:], dropout=dropout, activation=activation, output_layer=True)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, use_softmax={self.use_softmax}"

    # --------------------------------------------------------------- first layer
    def first_layer_naive(self, query: Tensor, keys: Tensor) -> Tensor:
        """The paper's form: ``Linear([q, k, q-k, q*k])``. ``(batch, D), (batch, L, D) -> (batch, L, H)``."""
        q = query.unsqueeze(1).expand_as(keys)  # (batch, L, D)
        return self.first(torch.cat([q, keys, q - keys, q * keys], dim=-1))

    def _split_first(self) -> tuple[Tensor, Tensor]:
        """``(W1 + W3)`` for the query, and ``[W2 - W3, W4]`` for ``[k, q * k]``."""
        w_q, w_k, w_p = _split_weight(self.first.weight, self.embed_dim)
        return w_q, torch.cat([w_k, w_p], dim=1)  # (H, D), (H, 2D)

    def first_layer(self, query: Tensor, keys: Tensor) -> Tensor:
        """Fast form of :meth:`first_layer_naive` (same weights, same result). ``-> (batch, L, H)``."""
        w_q, w_kp = self._split_first()
        q_part = F.linear(query, w_q, self.first.bias)  # (batch, H): once per sample
        kp = torch.cat([keys, query.unsqueeze(1) * keys], dim=-1)  # (batch, L, 2D)
        return q_part.unsqueeze(1) + F.linear(kp, w_kp)

    # --------------------------------------------------------------- scores and weights
    def _hidden_to_score(self, h: Tensor, mask: Tensor | None) -> Tensor:
        h = activate_and_drop(self.act, self.drop, h, mask)
        return self.rest(h, mask).squeeze(-1)

    def scores(self, query: Tensor, keys: Tensor, mask: Tensor | None = None, naive: bool = False) -> Tensor:
        """Raw outputs of ``a(.)`` before masking: ``(batch, D), (batch, L, D) -> (batch, L)``.

        ``mask`` (True on real steps) keeps padding out of Dice's statistics.
        """
        h = self.first_layer_naive(query, keys) if naive else self.first_layer(query, keys)  # (batch, L, H)
        return self._hidden_to_score(h, mask)

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
            naive: use the paper-form first layer (for teaching and tests).

        Returns:
            ``(batch, D)`` the weighted sum of the keys (and the weights).
        """
        if mask is None:
            mask = torch.ones(keys.shape[:2], dtype=torch.bool, device=keys.device)
        w = self.weights_from_scores(self.scores(query, keys, mask, naive=naive), mask)  # (batch, L)
        pooled = torch.bmm(w.unsqueeze(1), keys).squeeze(1)  # (batch, D)
        return (pooled, w) if return_weights else pooled

    def forward_packed(
        self, query: Tensor, keys: Tensor, steps: PackedSteps, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Packed form: ``keys`` holds only the real steps.

        Args:
            query: ``(batch, D)``.
            keys: ``(N, D)`` the real behaviours, in the order of ``steps.pos``.
            steps: where they sit in the ``(batch, L)`` history (:meth:`PackedSteps.from_mask`).
            return_weights: also return the ``(batch, L)`` weights (0 on padding).

        Returns:
            ``(batch, D)`` the weighted sum (and the weights); equal to :meth:`forward` on the padded input.
        """
        if torch.is_grad_enabled():
            h = _PackedFirstLayer.apply(query, keys, self.first.weight, self.first.bias, steps.rows)  # (N, H)
        else:  # prediction: the split weights are kept between calls
            weight = self.first.weight
            w_q, w_k, w_p = derived(self, "split", (weight,), lambda: _split_weight(weight, self.embed_dim))
            h = _packed_first_layer(query, keys, w_q, w_k, w_p, self.first.bias, steps.rows)[0]
        s = self._hidden_to_score(h, None)  # (N,): only real steps, so Dice needs no mask
        dense = None
        if self.use_softmax:
            mask = torch.zeros(steps.batch_size * steps.seq_len, dtype=torch.bool, device=keys.device)
            mask[steps.pos] = True
            mask = mask.reshape(steps.batch_size, steps.seq_len)
            dense = self.weights_from_scores(steps.scatter(s), mask)  # (batch, L)
            s = steps.gather(dense)  # (N,)
        pooled = _PackedWeightedSum.apply(s, keys, steps.rows, steps.batch_size)  # (batch, D)
        if not return_weights:
            return pooled
        return pooled, (dense if dense is not None else steps.scatter(s))


def _split_weight(weight: Tensor, d: int) -> tuple[Tensor, Tensor, Tensor]:
    """``W = [W1 W2 W3 W4]`` (``(H, 4D)``) -> ``W1 + W3`` (for q), ``W2 - W3`` (for k), ``W4`` (for q * k)."""
    w = weight.view(weight.shape[0], 4, d)
    return w[:, 0] + w[:, 2], w[:, 1] - w[:, 2], w[:, 3]


def _packed_first_layer(query, keys, w_q, w_k, w_p, bias, rows) -> tuple[Tensor, Tensor, Tensor]:
    """``h = (W1 + W3) q[rows] + b + (W2 - W3) k + W4 (q[rows] * k)``; also returns ``q[rows]`` and ``q[rows] * k``."""
    q_part = torch.addmm(bias, query, w_q.t())  # (batch, H): once per sample
    q_rows = query.index_select(0, rows)  # (N, D)
    qk = q_rows * keys  # (N, D)
    h = torch.addmm(q_part.index_select(0, rows), keys, w_k.t()).addmm_(qk, w_p.t())  # (N, H)
    return h, q_rows, qk


class _PackedFirstLayer(torch.autograd.Function):
    """The activation unit's first layer over the real steps, forward and backward written out.

    ``h = (W1 + W3) q[rows] + b + (W2 - W3) k + W4 (q[rows] * k)``: the same values and gradients
    as autograd through :meth:`ActivationUnit.first_layer` (``tests/test_layers_activation_unit.py``
    compares them), with the query terms computed once per sample and their gradients summed back
    per sample in one ``index_add``. Written out because at batch 256 autograd's bookkeeping
    (slicing the weight, zero-filling ``(N, D + H)`` slice gradients) cost as much as the arithmetic.
    """

    @staticmethod
    def forward(ctx, query, keys, weight, bias, rows):
        w_q, w_k, w_p = _split_weight(weight, keys.shape[1])
        h, q_rows, qk = _packed_first_layer(query, keys, w_q, w_k, w_p, bias, rows)
        ctx.save_for_backward(query, q_rows, keys, qk, w_q, w_k, w_p, rows)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        query, q_rows, keys, qk, w_q, w_k, w_p, rows = ctx.saved_tensors
        d = q_rows.shape[1]
        grad_h = grad_h.contiguous()
        grad_qk = grad_h.mm(w_p)  # (N, D): d/d(q * k)
        grad_keys = grad_h.mm(w_k).addcmul_(grad_qk, q_rows)  # through k and through q * k
        # per-sample sums of the per-step gradients of q (through q * k) and of q_part
        per_step = torch.cat([grad_qk.mul_(keys), grad_h], dim=1)  # (N, D + H)
        per_sample = per_step.new_zeros(query.shape[0], per_step.shape[1]).index_add_(0, rows, per_step)
        grad_q_part = per_sample[:, d:]  # (batch, H)
        grad_query = torch.addmm(per_sample[:, :d], grad_q_part, w_q)  # (batch, D)
        grad_w_q = grad_q_part.t().mm(query)  # (H, D)
        grad_w_k = grad_h.t().mm(keys)  # (H, D)
        grad_w_p = grad_h.t().mm(qk)  # (H, D)
        # back to [W1 W2 W3 W4]: W1 and W3 enter through w_q = W1 + W3, W2 and W3 through w_k = W2 - W3
        grad_weight = torch.cat([grad_w_q, grad_w_k, grad_w_q - grad_w_k, grad_w_p], dim=1)
        return grad_query, grad_keys, grad_weight, grad_q_part.sum(0), None


class _PackedWeightedSum(torch.autograd.Function):
    """``pooled[b] = sum over the real steps j of sample b of s_j * k_j``, backward written out."""

    @staticmethod
    def forward(ctx, s, keys, rows, batch_size):
        ctx.save_for_backward(s, keys, rows)
        return keys.new_zeros(batch_size, keys.shape[1]).index_add_(0, rows, s.unsqueeze(1) * keys)

    @staticmethod
    def backward(ctx, grad):
        s, keys, rows = ctx.saved_tensors
        grad_rows = grad.contiguous().index_select(0, rows)  # (N, D)
        grad_s = (grad_rows * keys).sum(1) if ctx.needs_input_grad[0] else None
        grad_keys = grad_rows.mul_(s.unsqueeze(1)) if ctx.needs_input_grad[1] else None
        return grad_s, grad_keys, None, None
