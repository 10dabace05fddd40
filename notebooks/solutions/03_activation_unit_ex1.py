# Exercise 03.1: the pooling of Eq. 3, v_U = sum_j w_j * e_j, over the real behaviours only.
import torch

from din_tutorial.checks import check_masked_weighted_sum


def masked_weighted_sum(weights, keys, mask):
    """weights (batch, L), keys (batch, L, D), mask (batch, L) bool, True on real behaviours -> (batch, D)."""
    ### BEGIN SOLUTION
    w = torch.where(mask, weights, 0.0)  # padded steps weigh nothing, whatever they hold
    return (w.unsqueeze(-1) * keys).sum(dim=1)  # (batch, D); torch.bmm(w.unsqueeze(1), keys).squeeze(1) too
    ### END SOLUTION


check_masked_weighted_sum(masked_weighted_sum)
