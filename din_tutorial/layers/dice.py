"""Dice, the data-adaptive activation of the DIN paper (Eq. 9).

    f(s) = p(s) * s + (1 - p(s)) * alpha * s,    p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps))

``E[s]`` and ``Var[s]`` are per-channel statistics: of the mini-batch in training, moving
averages at inference; ``eps = 1e-8``; ``alpha`` (one per channel, as in the official code) is
learned. Nothing else is learned: there is no scale or shift inside ``p`` (an affine BatchNorm
there is a common mistake). With ``E = 0`` and ``Var -> 0``, ``p`` becomes the step function and
Dice becomes PReLU: Dice moves PReLU's kink to where the data is.

In training, the normalisation inside ``p`` is exactly a batch normalisation without scale or
shift, so it is written as ``F.batch_norm(s, running_mean, running_var, weight=None, bias=None,
training=True, ...)``, which also keeps the moving averages the way ``nn.BatchNorm1d`` does; at
inference the same call with ``training=False`` reads ``(s - running_mean) / sqrt(running_var + eps)``. For ``(batch, seq_len, C)``
inputs with a padding mask, only the real steps enter the statistics (letting padded steps in
is another common mistake).

Under data parallelism (notebooks/09_scaling_out.ipynb) each process sees a slice of the
mini-batch. By default each computes its own statistics, as BatchNorm does under
DistributedDataParallel; ``sync_stats=True`` sums the per-channel sums over the processes
first, so N processes with batch B/N compute what one process computes with batch B (what
``nn.SyncBatchNorm`` does for BatchNorm).

Taught in notebooks/04_dice.ipynb.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..distributed import world_size


class Dice(nn.Module):
    """Dice activation over the last dimension (``num_features`` channels).

    Args:
        num_features: channels ``C``; inputs are ``(..., C)``.
        eps: added to the variance, ``1e-8`` as in the paper.
        momentum: weight of the new batch in the moving averages (as ``nn.BatchNorm1d``:
            ``running = (1 - momentum) * running + momentum * batch``; the variance kept is the
            unbiased one, as BatchNorm keeps it).
        alpha_init: starting value of ``alpha`` (the official code starts at 0).
        sync_stats: in training under ``torch.distributed``, compute the batch statistics over
            every process's slice of the batch (one all-reduce per call), not over this one's.

    ``forward(x, mask=None)``: ``x`` is ``(N, C)`` or ``(batch, seq_len, C)``; ``mask`` (``(batch,
    seq_len)`` bool, True on real steps) keeps padded steps out of the training statistics.

    Taught in notebooks/04_dice.ipynb.
    """

    def __init__(self, num_features: int, eps: float = 1e-8, momentum: float = 0.1, alpha_init: float = 0.0,
                 sync_stats: bool = False):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.sync_stats = bool(sync_stats)
        self.alpha = nn.Parameter(torch.full((self.num_features,), float(alpha_init)))
        self.register_buffer("running_mean", torch.zeros(self.num_features))
        self.register_buffer("running_var", torch.ones(self.num_features))

    def extra_repr(self) -> str:
        sync = ", sync_stats=True" if self.sync_stats else ""
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}{sync}"

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Eq. 9 for ``x`` of shape ``(..., C)``; ``mask`` marks the real steps of a ``(batch, seq_len, C)`` input."""
        p = torch.sigmoid(self.normalize(x, mask))  # (..., C), in (0, 1)
        # p * s + (1 - p) * alpha * s = s * (alpha + (1 - alpha) * p); addcmul(a, b, c) is a + b * c in one pass
        return x * torch.addcmul(self.alpha, 1.0 - self.alpha, p)

    def normalize(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(s - E[s]) / sqrt(Var[s] + eps)``: batch statistics of the real steps in training (updating
        the moving averages), the moving averages in eval. Same shape as ``x``."""
        if not self.training:  # the moving averages; F.batch_norm normalises dim 1: (batch, L, C) goes as (batch, C, L)
            xt = x if x.dim() == 2 else x.transpose(1, 2)
            out = F.batch_norm(xt, self.running_mean, self.running_var, None, None, False, 0.0, self.eps)
            return out if x.dim() == 2 else out.transpose(1, 2)
        flat = x.reshape(-1, self.num_features)  # (N, C)
        if mask is None:
            return self._batch_normalize(flat).reshape(x.shape)
        real = mask.reshape(-1)  # (N,) True on real steps
        xhat = self._batch_normalize(flat[real])  # statistics of the real steps only
        return torch.zeros_like(flat).index_put((real,), xhat).reshape(x.shape)  # padded steps: 0

    def _batch_normalize(self, s: Tensor) -> Tensor:
        """Normalise ``(n, C)`` real steps by their batch statistics and update the moving averages."""
        if self.sync_stats and world_size() > 1:
            return self._synced_normalize(s)
        if s.shape[0] < 2:  # one value per channel has no spread: s - E[s] = 0 (and BatchNorm refuses it)
            return torch.zeros_like(s)
        return F.batch_norm(s, self.running_mean, self.running_var, None, None, True, self.momentum, self.eps)

    def _synced_normalize(self, s: Tensor) -> Tensor:
        """Batch statistics over every process's steps: one all-reduce of ``[sum s, sum s^2, n]``.

        The statistics are constants for autograd here, so the gradient they would pass on is
        added by a hook on ``xhat``: BatchNorm's backward, ``g - mean(g) - xhat * mean(g * xhat)``,
        with the two means over every process's steps (a second all-reduce, in the backward pass).
        This is what ``nn.SyncBatchNorm`` computes (it runs on GPUs only); tests/test_distributed.py
        shows 2 processes with batch B/2 reaching the parameters of one process with batch B.
        """
        import torch.distributed as dist

        c = self.num_features
        with torch.no_grad():
            s64 = s.double()  # E[s^2] - E[s]^2 cancels in float32 when a channel's mean dwarfs its spread
            total = torch.cat([s64.sum(0), (s64 * s64).sum(0), s64.new_full((1,), float(s.shape[0]))])  # (2C + 1,)
            dist.all_reduce(total)  # summed over the processes
            count = int(total[2 * c].item())
            if count < 2:  # as in one process: no spread to normalise by
                return torch.zeros_like(s)
            mean = total[:c] / count
            var = (total[c : 2 * c] / count - mean * mean).clamp_min(0.0)  # biased, E[(s - E s)^2]
            mean, var = mean.to(s.dtype), var.to(s.dtype)
            m = self.momentum  # the moving averages, as F.batch_norm keeps them (unbiased variance)
            self.running_mean.mul_(1 - m).add_(mean, alpha=m)
            self.running_var.mul_(1 - m).add_(var * (count / (count - 1)), alpha=m)
        xhat = (s - mean) * torch.rsqrt(var + self.eps)  # (n, C)
        if xhat.requires_grad:
            xhat.register_hook(_SharedStatisticsGradient(xhat.detach(), count))
        return xhat


class _SharedStatisticsGradient:
    """Gradient hook on ``xhat`` for statistics shared by all processes (see :meth:`Dice._synced_normalize`).

    With ``xhat = (s - E) / sqrt(Var + eps)`` over all ``n`` steps of all processes, and ``g`` the
    gradient reaching ``xhat``, the gradient through ``E`` and ``Var`` subtracts the mean of ``g`` and
    ``xhat`` times the mean of ``g * xhat``, both over all ``n`` steps.
    """

    def __init__(self, xhat: Tensor, count: int):
        self.xhat, self.count = xhat, count

    def __call__(self, grad: Tensor) -> Tensor:
        import torch.distributed as dist

        c = grad.shape[1]
        sums = torch.cat([grad.sum(0), (grad * self.xhat).sum(0)])  # (2C,)
        dist.all_reduce(sums)
        return grad - sums[:c] / self.count - self.xhat * (sums[c:] / self.count)
