"""Small tensors derived from parameters, rebuilt only when a parameter changes (prediction only).

A prediction at batch 256 runs about 120 tensor ops, and on a laptop CPU each costs microseconds of
dispatch whatever its size. Dice and the activation unit rebuild the same few tensors from their
parameters on every call (``1 / sqrt(Var + eps)``, ``1 - alpha``, ``W1 + W3``, ...). Outside
autograd, :func:`derived` keeps them until one of their sources changes: any in-place change (an
optimizer step, ``load_state_dict``, an edit under ``torch.no_grad()``) bumps a tensor's version
counter, and moving or replacing a tensor changes its storage. With autograd on, they are always
rebuilt (the graph needs them).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import Tensor, nn

T = TypeVar("T")


def derived(module: nn.Module, name: str, sources: Sequence[Tensor], compute: Callable[[], T]) -> T:
    """``compute()``, reused while every tensor in ``sources`` is unchanged and autograd is off."""
    if torch.is_grad_enabled():
        return compute()
    key = tuple((id(t), t._version, t.data_ptr(), t.dtype, t.device) for t in sources)
    cache = module.__dict__.setdefault("_derived_cache", {})
    hit = cache.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = compute()
    cache[name] = (key, value)
    return value
