"""The multi-layer perceptron that turns DIN's concatenated vector into a click logit.

``Linear -> activation -> dropout`` per hidden layer, then an optional ``Linear(., 1)`` output
layer. The activation is named by a string (``"dice"``, ``"prelu"``, ``"relu"``, ...); Dice
brings its own normalisation, so there is no BatchNorm layer.

Taught in notebooks/05_training.ipynb (the MLP head) and notebooks/04_dice.ipynb (its activations).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .dice import Dice

#: Activation names accepted by :func:`make_activation` (case-insensitive).
ACTIVATIONS = ("dice", "prelu", "relu", "leakyrelu", "sigmoid", "tanh", "gelu", "silu", "identity")


def make_activation(name: str, num_features: int) -> nn.Module:
    """Build the activation called ``name`` for ``num_features`` channels (Dice and PReLU learn per channel)."""
    key = str(name).lower().replace("_", "").replace("-", "") if name is not None else "identity"
    if key == "dice":
        return Dice(num_features)
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
    """Inverted dropout (as ``nn.Dropout``) with a mask drawn cheaply.

    ``nn.Dropout`` draws one Bernoulli sample per element, which is slow on a CPU. Here one
    64-bit random integer gives four 16-bit draws, each kept when it lies above the ``p``
    quantile: a drop probability of ``round(p * 65536) / 65536`` (within 1e-5 of ``p``), kept
    values scaled by ``1 / (1 - that)``. Three times faster for DIN's activation unit; uses
    torch's global generator, so ``torch.manual_seed`` makes it repeatable. Identity in eval mode.
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p!r}")
        self.p = float(p)
        self._drop_count = round(self.p * 65536)  # dropped 16-bit values out of 65536

    def extra_repr(self) -> str:
        return f"p={self.p}"

    @property
    def active(self) -> bool:
        """True when this layer drops anything (training mode and ``p > 0``)."""
        return self.training and self._drop_count > 0

    def forward(self, x: Tensor) -> Tensor:
        return x * self.mask_like(x) if self.active else x

    def mask_like(self, x: Tensor) -> Tensor:
        """A fresh mask: 0 for dropped elements, ``1 / keep probability`` for kept ones; shape of ``x``."""
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
        bits = words.view(torch.int16)[:n].view(x.shape)  # uniform in [-32768, 32767]
        keep = bits >= (self._drop_count - 32768)
        return keep.to(x.dtype).mul_(65536.0 / (65536 - self._drop_count))


def activate_and_drop(act: nn.Module, drop: Dropout, x: Tensor, mask: Tensor | None = None) -> Tensor:
    """``drop(act(x))``; Dice gets the padding ``mask`` and takes the dropout mask into its fused step."""
    if isinstance(act, Dice):
        return act(x, mask, out_scale=drop.mask_like(x) if drop.active else None)
    return drop(act(x))


class MLP(nn.Module):
    """Hidden layers ``Linear -> activation -> Dropout`` for each size in ``dims``, then ``Linear(., 1)``.

    Args:
        input_dim: size of the input vector.
        dims: hidden sizes, e.g. ``[256, 128]`` (may be empty: logistic regression).
        dropout: dropout rate after each hidden layer.
        activation: one of :data:`ACTIVATIONS`.
        output_layer: end with a ``Linear(., 1)`` (a logit); otherwise the output has ``dims[-1]`` channels.

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
    ):
        super().__init__()
        dims = [int(d) for d in (dims or ())]
        if any(d < 1 for d in dims):
            raise ValueError(f"MLP dims must be positive integers, got {dims}")
        self.input_dim = int(input_dim)
        self.dims = dims
        self.layers = nn.ModuleList()
        prev = self.input_dim
        for d in dims:
            self.layers.append(nn.ModuleList([nn.Linear(prev, d), make_activation(activation, d), Dropout(dropout)]))
            prev = d
        self.output = nn.Linear(prev, 1) if output_layer else None
        self.output_dim = 1 if output_layer else prev

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for linear, act, drop in self.layers:
            x = activate_and_drop(act, drop, linear(x), mask)
        if self.output is not None:
            x = self.output(x)
        return x
