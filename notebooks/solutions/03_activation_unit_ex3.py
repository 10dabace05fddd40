# Exercise 03.3 (optional): a softmax over the real behaviours only, 0 on padding.
import torch

from din_tutorial.checks import check_masked_softmax


def masked_softmax(scores, mask):
    """scores (batch, L), mask (batch, L) bool -> weights (batch, L) that sum to 1 over the real steps."""
    ### BEGIN SOLUTION
    low = torch.finfo(scores.dtype).min  # exp(low - max) is 0: padded steps get nothing
    w = torch.softmax(scores.masked_fill(~mask, low), dim=-1)  # torch.softmax subtracts the row max: no overflow
    return torch.where(mask, w, 0.0)  # a fully padded row would otherwise get 1/L everywhere
    ### END SOLUTION


check_masked_softmax(masked_softmax)
