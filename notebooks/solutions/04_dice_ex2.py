# Exercise 04.2: Dice at inference, with the moving averages recorded in training.
import torch

from din_tutorial.checks import check_dice_eval


def dice_eval(s, alpha, running_mean, running_var, eps=1e-8):
    """s (N, C), alpha (C,), running_mean (C,), running_var (C,) -> f(s) (N, C), whatever else is in the batch."""
    ### BEGIN SOLUTION
    p = torch.sigmoid((s - running_mean) / torch.sqrt(running_var + eps))  # the moving averages, not this batch's
    return p * s + (1 - p) * alpha * s
    ### END SOLUTION


check_dice_eval(dice_eval)
