# Exercise 04.3 (optional): Dice's statistics over the real steps of a (batch, seq_len, C) input.
import torch

from din_tutorial.checks import check_masked_moments


def masked_moments(x, mask):
    """x (batch, L, C), mask (batch, L) bool, True on real steps -> (mean (C,), var (C,)), biased variance."""
    ### BEGIN SOLUTION
    w = mask.unsqueeze(-1).to(x.dtype)  # (batch, L, 1): 1 on real steps, 0 on padding
    n = w.sum()  # the number of real steps
    mean = (x * w).sum(dim=(0, 1)) / n  # (C,)
    var = ((x - mean) ** 2 * w).sum(dim=(0, 1)) / n  # (C,)
    return mean, var
    ### END SOLUTION


check_masked_moments(masked_moments)
