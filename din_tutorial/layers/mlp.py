"""The multi-layer perceptron that turns DIN's concatenated vector into a click logit.

``Linear -> activation -> dropout`` per hidden layer, then an optional ``Linear(., 1)`` output
layer. The activation is named by a string (``"dice"``, ``"prelu"``, ``"relu"``, ...); Dice
brings its own normalisation, so there is no BatchNorm layer. :class:`Dropout` is
``nn.Dropout`` with a cheaper mask on CPUs.

Taught in notebooks/05_training.ipynb (the MLP head) and notebooks/04_dice.ipynb (its activations).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dice import Dice

#: Activation names accepted by :func:`make_activation` (case-insensitive).
ACTIVATIONS = ("dice", "prelu", "relu", "leakyrelu", "sigmoid", "tanh", "gelu", "silu", "identity")


def make_activation(name: str, num_features: int, sync_stats: bool = False) -> nn.Module:
    """Build the activation called ``name`` for ``num_features`` channels (Dice and PReLU learn per channel).

    ``sync_stats`` is passed to :class:`~din_tutorial.layers.Dice` (statistics over every process under
    ``torch.distributed``); other activations have no statistics.
    """
    key = str(name).lower().replace("_", "").replace("-", "") if name is not None else "identity"
    if key == "dice":
        return Dice(num_features, sync_stats=sync_stats)
    if key == "prelu":
        return PReLU(num_features)
    simple = {
        "relu": nn.ReLU,
        "leakyrelu": nn.LeakyReLU,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "identity": nn.Identity,
        "linear": nn.Identity,
        "none": nn.Identity,
    }
    if key not in simple:
        raise ValueError(f"unknown activation {name!r}; choose one of {ACTIVATIONS}")
    return simple[key]()


class PReLU(nn.Module):
    """PReLU with one slope per channel of the *last* dimension (``nn.PReLU`` uses dim 1).

    ``f(s) = s`` for ``s > 0`` and ``alpha * s`` otherwise: Dice with its kink fixed at 0.
    Taught in notebooks/04_dice.ipynb.
    """

    def __init__(self, num_features: int, init: float = 0.25):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((int(num_features),), float(init)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x > 0, x, self.alpha * x)


class Dropout(nn.Module):
    """``nn.Dropout``, its mask drawn from random integers on a CPU: about 1.7 times as fast there.

    In training each value is kept with probability ``1 - p`` and divided by ``1 - p``, else set to
    0; in eval mode it is the identity (an exported model holds no dropout). That is ``nn.Dropout``,
    computed the same way on a CPU (a mask of the input's dtype divided by ``1 - p``, times the
    input): only the drawing of the mask differs. torch 2.13's CPU dropout draws it with
    ``bernoulli_``, a double per value (two 32-bit draws); here ``random_()`` on an ``int32`` tensor
    gives one 32-bit draw per value, an integer uniform on ``[0, 2**31 - 1]``, and a value is kept
    when its integer is at least ``ceil(p * 2**31)``: probability ``1 - p`` less at most ``2**-31``
    (``nn.Dropout`` resolves ``2**-53``; a relative error of ``2**-31 / (1 - p)``, which matters only
    for ``p`` within about ``1e-6`` of 1), from the same seeded generator. Forward and backward of a
    ``(26000, 32)`` float tensor at ``p = 0.2``, one thread, on this project's 2-core machine:
    about 8.4 ms with ``nn.Dropout`` and 5 ms here (``benchmarks/dropout_mask.py``, which also times
    a float uniform per value: about 0.5 ms more than these integers). DIN with the seed's dropout
    runs it four times a step. Off the CPU it calls ``F.dropout`` (CUDA's is one fused kernel).
    tests/test_layers.py checks the keep rate against ``1 - p``, and the values, dtype, gradient and
    eval mode against ``nn.Dropout``'s.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p!r}")
        self.p = float(p)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        draws = torch.empty_like(x, dtype=torch.int32).random_()  # uniform on [0, 2**31 - 1]
        keep_from = min(math.ceil(self.p * 2**31), 2**31 - 1)  # the smallest kept integer, as an int32
        keep = (draws >= keep_from).to(x.dtype)  # 1 with probability 1 - p, else 0
        return x * keep.div_(1.0 - self.p)  # the kept values scaled, so the expectation stays x


def activate(act: nn.Module, x: Tensor, mask: Tensor | None = None) -> Tensor:
    """``act(x)``; Dice also gets the padding ``mask``, so padded steps stay out of its statistics."""
    return act(x, mask) if isinstance(act, Dice) else act(x)


class MLP(nn.Module):
    """Hidden layers ``Linear -> activation -> Dropout`` for each size in ``dims``, then ``Linear(., 1)``.

    Args:
        input_dim: size of the input vector.
        dims: hidden sizes, e.g. ``[256, 128]`` (may be empty: logistic regression).
        dropout: dropout rate after each hidden layer.
        activation: one of :data:`ACTIVATIONS`.
        output_layer: end with a ``Linear(., 1)`` (a logit); otherwise the output has ``dims[-1]`` channels.
        sync_stats: Dice's batch statistics over every process under ``torch.distributed`` (see Dice).

    ``forward(x, mask=None)``: ``x`` is ``(N, input_dim)`` or ``(batch, seq_len, input_dim)``;
    ``mask`` is passed to Dice so padded steps stay out of its statistics.

    Taught in notebooks/05_training.ipynb.
    """

    def __init__(
        self,
        input_dim: int,
        dims: Sequence[int] = (),
        dropout: float = 0.0,
        activation: str = "relu",
        output_layer: bool = True,
        sync_stats: bool = False,
    ):
        super().__init__()
        dims = [int(d) for d in (dims or ())]
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if any(d < 1 for d in dims):
            raise ValueError(f"MLP dims must be positive integers, got {dims}")
        self.input_dim = int(input_dim)
        self.dims = dims
        self.layers = nn.ModuleList()
        prev = self.input_dim
        for d in dims:
            act = make_activation(activation, d, sync_stats=sync_stats)
            self.layers.append(nn.ModuleList([nn.Linear(prev, d), act, Dropout(dropout)]))
            prev = d
        self.output = nn.Linear(prev, 1) if output_layer else None
        self.output_dim = 1 if output_layer else prev

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for linear, act, drop in self.layers:
            x = drop(activate(act, linear(x), mask))
        if self.output is not None:
            x = self.output(x)
        return x
