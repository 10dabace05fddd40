"""Dice, the data-adaptive activation of the DIN paper (Eq. 9).

    f(s) = p(s) * s + (1 - p(s)) * alpha * s,    p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps))

``E[s]`` and ``Var[s]`` are per-channel statistics: of the mini-batch in training, moving
averages at inference; ``eps = 1e-8``; ``alpha`` (one per channel, as in the official code) is
learned. Nothing else is learned: there is no scale or shift inside ``p`` (an affine BatchNorm
there is a common mistake). With ``E = 0`` and ``Var -> 0``, ``p`` becomes the step function and
Dice becomes PReLU: Dice moves PReLU's kink to where the data is.

For ``(batch, seq_len, C)`` inputs with a padding mask, padded steps are left out of the
statistics (another common mistake is to let them in). Everything is plain tensor arithmetic,
so both ONNX exporters handle it.

Taught in notebooks/04_dice.ipynb.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ._derived import derived
from ._tracing import is_tracing


class Dice(nn.Module):
    """Dice activation over the last dimension (``num_features`` channels).

    Args:
        num_features: channels ``C``; inputs are ``(..., C)``.
        eps: added to the variance, ``1e-8`` as in the paper.
        momentum: weight of the new batch in the moving averages (as ``nn.BatchNorm1d``:
            ``running = (1 - momentum) * running + momentum * batch``; the variance kept is the
            unbiased one, as BatchNorm keeps it).
        alpha_init: starting value of ``alpha`` (the official code starts at 0).

    ``forward(x, mask=None)``: ``x`` is ``(N, C)`` or ``(batch, seq_len, C)``; ``mask`` (``(batch,
    seq_len)`` bool, True on real steps) keeps padded steps out of the training statistics.

    Taught in notebooks/04_dice.ipynb.
    """

    def __init__(self, num_features: int, eps: float = 1e-8, momentum: float = 0.1, alpha_init: float = 0.0):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.alpha = nn.Parameter(torch.full((self.num_features,), float(alpha_init)))
        self.register_buffer("running_mean", torch.zeros(self.num_features))
        self.register_buffer("running_var", torch.ones(self.num_features))

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"

    def forward(self, x: Tensor, mask: Tensor | None = None, out_scale: Tensor | None = None) -> Tensor:
        """Dice of ``x`` (``(..., C)``); ``out_scale`` (same shape, e.g. a dropout mask) multiplies the output."""
        if self.training and mask is None and not is_tracing():
            flat = x.reshape(-1, self.num_features)  # (N, C)
            if flat.shape[0] > 1:
                scale = None if out_scale is None else out_scale.reshape(flat.shape)
                y = _DiceTraining.apply(flat, self.alpha, scale, self.running_mean, self.running_var, self.momentum, self.eps)
                return y.reshape(x.shape)
        if not self.training and out_scale is None and not torch.is_grad_enabled() and not is_tracing():
            return self._eval_no_grad(x)
        p = torch.sigmoid(self.normalize(x, mask))  # (..., C) in (0, 1)
        y = x * (self.alpha + (1.0 - self.alpha) * p)  # p*s + (1-p)*alpha*s with one product by s
        return y if out_scale is None else y * out_scale

    def _eval_no_grad(self, x: Tensor) -> Tensor:
        """The eval-mode formula in four passes over ``x``, reusing one buffer (no autograd, so in place)."""
        sources = (self.running_mean, self.running_var, self.alpha)
        a, b, one_minus_alpha = derived(self, "eval", sources, self._eval_constants)
        p = torch.addcmul(b, x, a).sigmoid_()  # p(s), with (s - E) / sqrt(Var + eps) = s*a + b
        gate = torch.addcmul(self.alpha, p, one_minus_alpha, out=p)  # alpha + (1 - alpha) * p
        return gate.mul_(x)

    def _eval_constants(self) -> tuple[Tensor, Tensor, Tensor]:
        """``a = 1 / sqrt(Var + eps)``, ``b = -E * a`` and ``1 - alpha``, each ``(C,)``."""
        a = torch.rsqrt(self.running_var + self.eps)
        return a, -self.running_mean * a, 1.0 - self.alpha

    def normalize(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(s - E[s]) / sqrt(Var[s] + eps)``: batch statistics in training (updating the moving
        averages), the moving averages in eval. Plain tensor ops: the reference form."""
        if not self.training:
            return (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps)
        return self._normalize_masked(x, mask)

    def _normalize_masked(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """Training statistics over the real steps only, with plain tensor ops (also the reference form)."""
        dims = tuple(range(x.dim() - 1))  # every dim but the channels
        if mask is None:
            w = torch.ones(x.shape[:-1] + (1,), dtype=x.dtype, device=x.device)
        else:
            w = mask.unsqueeze(-1).to(x.dtype)  # (batch, seq_len, 1): 1 on real steps
        n = w.sum()
        mean = (x * w).sum(dims) / n.clamp_min(1.0)  # (C,)
        centered = x - mean
        var = (centered * centered * w).sum(dims) / n.clamp_min(1.0)  # biased, as the paper's E[(s - E s)^2]
        if not is_tracing():
            count = int(n)
            if count > 1:  # one value per channel has no variance to remember
                with torch.no_grad():
                    m = self.momentum
                    self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                    self.running_var.mul_(1 - m).add_(var.detach() * (count / (count - 1)), alpha=m)
        return centered * torch.rsqrt(var + self.eps)


class _DiceTraining(torch.autograd.Function):
    """Dice in training on ``(N, C)`` without a mask, forward and backward written out (same values as
    :meth:`Dice.forward`'s plain form; ``tests/test_layers_dice.py`` checks values and gradients).

    The batch statistics come from ``torch.native_batch_norm`` without scale or shift (one fused
    pass that also updates the moving averages the way BatchNorm does), and the backward pass
    reuses BatchNorm's fused backward; the optional ``scale`` (a dropout mask) is folded into
    the gate. About 1.3x faster than letting autograd record a dozen elementwise steps.
    """

    @staticmethod
    def forward(ctx, x, alpha, scale, running_mean, running_var, momentum, eps):
        xhat, mean, invstd = torch.native_batch_norm(x, None, None, running_mean, running_var, True, momentum, eps)
        p = xhat.sigmoid_()  # (N, C); xhat is not needed again
        gate = torch.addcmul(alpha, p, 1.0 - alpha)  # alpha + (1 - alpha) * p
        if scale is not None:
            gate.mul_(scale)
        ctx.save_for_backward(x, alpha, scale, mean, invstd, p, gate, running_mean, running_var)
        ctx.eps = eps
        return x * gate

    @staticmethod
    def backward(ctx, grad):
        x, alpha, scale, mean, invstd, p, gate, running_mean, running_var = ctx.saved_tensors
        grad_x = grad * gate  # through the direct factor s
        grad_gate = grad * x  # dL/d(gate), before the dropout scale
        if scale is not None:
            grad_gate.mul_(scale)
        # gate = alpha + (1 - alpha) * p: d gate / d alpha = 1 - p, d gate / d xhat = (1 - alpha) * p * (1 - p)
        u = torch.addcmul(grad_gate, grad_gate, p, value=-1.0)  # dL/dgate * (1 - p)
        grad_alpha = u.sum(0)
        grad_xhat = u.mul_(p).mul_(1.0 - alpha)
        grad_bn = torch.ops.aten.native_batch_norm_backward(
            grad_xhat, x, None, running_mean, running_var, mean, invstd, True, ctx.eps, [True, False, False]
        )[0]
        grad_x.add_(grad_bn)
        return grad_x, grad_alpha, None, None, None, None, None
