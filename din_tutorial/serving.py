"""Serving DIN: rank many candidates for one user, and the split first layer that makes it cheaper.

A ranking request is one user and ``C`` candidate items. DIN scores each (user, candidate) pair
with its own attention over the user's ``L`` behaviours, so one request runs the activation unit
on ``C x L`` (candidate, behaviour) pairs. The plain way to serve it, and what the exported graph
of notebook 08 does, repeats the user's profile and history ``C`` times (:func:`repeat_user`) and
scores ``C`` rows: every part of the attention is recomputed for every pair.

The activation unit's first layer reads ``[q, k, q - k, q * k]`` (candidate ``q``, behaviour
``k``; :mod:`din_tutorial.layers.activation_unit`, as the official code's ``din/model.py``).
Split its weight ``W = [W1 W2 W3 W4]`` by the part of the input each block reads::

    W [q, k, q-k, q*k] + b = ((W1 + W3) q + b)  +  (W2 - W3) k  +  W4 (q * k)
                               per candidate       per behaviour    per pair

The middle term depends on the history only: a request computes it once, ``(L, H)``, and every
candidate shares it. The user's profile and history embeddings are looked up once as well.
:class:`SplitDIN` is that serving form: the same probabilities as the trained DIN, plain public
torch, exportable with :func:`din_tutorial.export.export_onnx`. Only the per-pair product term and
the rest of the attention MLP still run ``C x L`` times.

Taught in notebooks/08_onnx_export.ipynb (section "Serving cost of target attention");
``benchmarks/serving.py`` measures it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .features import DenseFeature, SequenceFeature
from .layers.activation_unit import ActivationUnit
from .layers.mlp import activate

__all__ = ["SplitDIN", "latency_ab_ms", "latency_ms", "repeat_user", "split_first_layer"]


def repeat_user(user: Mapping[str, Tensor], candidates: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """One request as the plain model's batch: the user's row repeated once per candidate.

    Args:
        user: one user's inputs, one row each: profile ids ``(1,)`` and histories ``(1, L)``
            (oldest first, ``PAD_ID`` at the end, as in training). Keys named in ``candidates`` are
            replaced.
        candidates: the candidates' features, ``(C,)`` each (e.g. ``item_id`` and ``cate_id``).

    Returns the ``C``-row batch dict that ``model(batch)`` and the exported graph take.
    """
    sizes = {int(v.shape[0]) for v in candidates.values()}
    if len(sizes) != 1:
        raise ValueError(f"every candidate feature needs one value per candidate, got lengths {sorted(sizes)}")
    n = sizes.pop()
    batch = {}
    for name, value in user.items():
        if name in candidates:
            continue
        if value.shape[0] != 1:
            raise ValueError(f"user[{name!r}] should hold one row, got shape {tuple(value.shape)}")
        batch[name] = value.expand(n, *value.shape[1:])  # a view: no copy until the runtime needs one
    batch.update({name: torch.as_tensor(value) for name, value in candidates.items()})
    return batch


def split_first_layer(unit: ActivationUnit, queries: Tensor, keys: Tensor) -> Tensor:
    """The activation unit's first layer for ``C`` candidates against ONE user's ``L`` behaviours.

    ``queries``: ``(C, D)``; ``keys``: ``(L, D)``. Returns ``(C, L, H)``, equal (to float rounding)
    to ``unit.first_layer_naive`` on the query and keys repeated per candidate. The behaviour
    term ``(W2 - W3) k`` is computed once, ``(L, H)``, and broadcast over the candidates.
    """
    w = unit.first.weight.view(-1, 4, unit.embed_dim)  # (H, 4, D): W1 W2 W3 W4 for q, k, q-k, q*k
    w_q, w_k, w_qk = w[:, 0] + w[:, 2], w[:, 1] - w[:, 2], w[:, 3]
    per_candidate = F.linear(queries, w_q, unit.first.bias)  # (C, H)
    per_behaviour = F.linear(keys, w_k)  # (L, H): once per request, shared by every candidate
    per_pair = F.linear(queries.unsqueeze(1) * keys.unsqueeze(0), w_qk)  # (C, L, H)
    return per_candidate.unsqueeze(1) + per_behaviour.unsqueeze(0) + per_pair


class SplitDIN(nn.Module):
    """A trained DIN in its serving form: one user, many candidates, the history's part computed once.

    ``SplitDIN(model)(batch)`` takes the plain model's batch for ONE request (every row holds the
    same user, e.g. from :func:`repeat_user`; it reads the profile and history from the first
    row) and returns the same click probabilities ``(C,)`` as ``model(batch)``. The same feed works
    for both, so a server can swap the two exported files. It shares the DIN's weights (no copy)
    and serves in eval mode only (Dice's moving averages, no dropout).

    ``forward(batch, traceable=True)`` skips the input checks (the form :func:`export_onnx` records).

    Taught in notebooks/08_onnx_export.ipynb.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if getattr(model, "attention", None) is None:
            raise TypeError("SplitDIN serves a DIN (a model with activation units); the BaseModel has no attention")
        self.model = model
        self.input_names = list(model.input_names)
        # the feature specs, for din_tutorial.export's example batches
        self.features = model.features
        self.history_features = model.history_features
        self.target_features = model.target_features
        self.eval()

    def _check_one_user(self, x: Mapping[str, Tensor]) -> None:
        self.model.check_inputs(x)
        targets = {f.name for f in self.target_features}
        for name in self.input_names:
            if name not in targets and not torch.equal(x[name], x[name][:1].expand_as(x[name])):
                raise ValueError(f"SplitDIN scores one user per request: the rows of {name!r} differ "
                                 f"(build the request with repeat_user, or score each user separately)")

    def _profile(self, x: Mapping[str, Tensor]) -> Tensor:
        """``(1, profile dim)``: the user's profile embeddings, looked up once (the first row)."""
        emb, parts = self.model.embedding, []
        for f in self.features:
            v = x[f.name][:1]
            if isinstance(f, DenseFeature):
                parts.append(v.to(torch.float32).reshape(1, -1))
            elif isinstance(f, SequenceFeature):
                parts.append(emb.pool(f.name, v, f.pooling))
            else:
                parts.append(emb.lookup(f.name, v))
        return torch.cat(parts, dim=1)

    def forward(self, x: Mapping[str, Tensor], traceable: bool = False) -> Tensor:
        if self.training:
            raise RuntimeError("SplitDIN serves in eval mode (call .eval()); train the DIN itself")
        if not traceable:
            self._check_one_user(x)
        model, emb = self.model, self.model.embedding
        targets = [emb.lookup(f.name, x[f.name]) for f in self.target_features]  # each (C, d)
        hist = [emb.lookup(h.name, x[h.name][0]) for h in self.history_features]  # each (L, d): once
        real = emb.padding_mask(x[self.history_features[0].name][0])  # (L,) True on real behaviours
        if model.attention_mode == "group":  # one unit over [item, category] side by side
            groups = [(model.attention[0], torch.cat(targets, dim=1), torch.cat(hist, dim=1))]
        else:
            groups = list(zip(model.attention, targets, hist))
        n = targets[0].shape[0]
        mask = real.unsqueeze(0).expand(n, -1)  # (C, L)
        interest = []
        for unit, queries, keys in groups:
            h = split_first_layer(unit, queries, keys)  # (C, L, H)
            # The rest of a(.) on the C * L pairs as one (pairs, H) matrix: in eval mode Dice reads its
            # moving averages, so no mask is needed here, and a 2-D input keeps every operation contiguous.
            pairs = h.reshape(-1, h.shape[-1])  # (C * L, H)
            scores = unit.rest(unit.drop(activate(unit.act, pairs))).reshape(mask.shape)  # (C, L)
            weights = unit.weights_from_scores(scores, mask)  # 0 on padding (softmax if the unit has it)
            interest.append(weights @ keys)  # (C, L) @ (L, D) -> (C, D): sum_j w_j e_j
        profile = self._profile(x).expand(n, -1)  # (C, profile dim)
        z = torch.cat([profile, *targets, *interest], dim=1)  # the DIN's MLP input, in its order
        return torch.sigmoid(model.mlp(z).squeeze(-1))


def latency_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, np.ndarray]:
    """Milliseconds of ``repeats`` calls of ``fn`` (after ``warmup`` untimed calls), on two clocks.

    ``"wall"``: wall-clock time, what a caller waits for. ``"cpu"``: this thread's CPU time
    (``time.thread_time``), the work itself: on a busy machine a call also waits for a core, which
    the wall clock counts and the CPU clock does not. With one compute thread (``torch.set_num_threads(1)``,
    onnxruntime's ``intra_op_num_threads=1``) the work runs on the calling thread, so its CPU time is the
    request's cost. Report the median and a high percentile (``np.percentile(t, 99)``): a server's
    tail latency is what its users wait for; with fewer than 100 repeats the 99th percentile is close
    to the maximum.
    """
    return latency_ab_ms({"fn": fn}, repeats, warmup)["fn"]


def latency_ab_ms(fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 3) -> dict:
    """:func:`latency_ms` for several functions called in turn (A B A B ...): ``{name: {"wall", "cpu"}}``.

    On a shared machine the load changes from second to second; interleaving the calls spreads each
    change over every function alike, so their ratio is steadier than from one block after another.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall = {name: np.empty(repeats) for name in fns}
    cpu = {name: np.empty(repeats) for name in fns}
    for i in range(repeats):
        for name, fn in fns.items():
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            fn()
            cpu[name][i] = time.thread_time() - start_cpu
            wall[name][i] = time.perf_counter() - start_wall
    return {name: {"wall": 1000.0 * wall[name], "cpu": 1000.0 * cpu[name]} for name in fns}
