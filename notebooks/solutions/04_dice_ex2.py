# Exercise 04.2: Dice at inference folded for serving: the gate as sigmoid(scale * s + shift), per channel.
import torch

from din_tutorial.checks import check_dice_fold


def fold_dice(running_mean, running_var, eps=1e-8):
    """running_mean (C,), running_var (C,) -> (scale (C,), shift (C,)) with p(s) = sigmoid(scale * s + shift)."""
    ### BEGIN SOLUTION
    # (s - E) / sqrt(Var + eps) = s / d - E / d with d = sqrt(Var + eps): the moving averages, eps inside the root
    return torch.rsqrt(running_var + eps), -running_mean * torch.rsqrt(running_var + eps)
    ### END SOLUTION


check_dice_fold(fold_dice)
