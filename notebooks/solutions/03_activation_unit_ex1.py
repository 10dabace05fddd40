# Exercise 03.1: the pooling of Eq. 3, v_U = sum_j w_j * e_j, over the real steps only, packed.
import torch

from din_tutorial.checks import check_packed_weighted_sum


def packed_weighted_sum(weights, keys, rows, batch_size):
    """weights (N,), keys (N, D), rows (N,) the sample of each real step -> (batch_size, D)."""
    ### BEGIN SOLUTION
    weighted = weights.unsqueeze(1) * keys  # (N, D): w_j * e_j for every real step
    return keys.new_zeros(batch_size, keys.shape[1]).index_add(0, rows, weighted)  # each step into its sample's row
    ### END SOLUTION


check_packed_weighted_sum(packed_weighted_sum)
