# Exercise 04.1: Dice in training mode, from the paper's Eq. 9, for (N, C) and padded (batch, seq_len, C) inputs.
import torch

from din_tutorial.checks import check_dice_train


def dice_train(s, alpha, mask=None, eps=1e-8):
    """s (N, C) or (batch, seq_len, C), alpha (C,) learned, mask (batch, seq_len) bool or None -> f(s), shaped like s."""
    ### BEGIN SOLUTION
    # The statistics come from the real rows only: every row of s without a mask, the steps where mask is True.
    real = s.reshape(-1, s.shape[-1]) if mask is None else s[mask]  # (n, C)
    mean = real.mean(dim=0)  # (C,): E[s], one per channel; no .detach(): the gradient flows through it
    var = ((real - mean) ** 2).mean(dim=0)  # (C,): Var[s] = E[(s - E[s])^2], the biased one
    p = torch.sigmoid((s - mean) / torch.sqrt(var + eps))  # no scale, no shift: nothing learned inside p
    return p * s + (1 - p) * alpha * s
    ### END SOLUTION


check_dice_train(dice_train)
