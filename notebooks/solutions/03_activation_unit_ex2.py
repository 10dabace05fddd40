# Exercise 03.2: the activation unit's forward pass from its weights (paper Eq. 3, the official code's input).
import torch
import torch.nn.functional as F

from din_tutorial.checks import check_activation_unit


def activation_unit(query, keys, mask, params):
    """query (batch, D), keys (batch, L, D), mask (batch, L) bool; params: the unit's state dict.

    Returns (pooled (batch, D), weights (batch, L)).
    """
    ### BEGIN SOLUTION
    q = query.unsqueeze(1).expand_as(keys)  # (batch, L, D): the candidate next to every behaviour
    x = torch.cat([q, keys, q - keys, q * keys], dim=-1)  # (batch, L, 4D)
    h = F.linear(x, params["first.weight"], params["first.bias"])  # (batch, L, H)
    h = torch.where(h > 0, h, params["act.alpha"] * h)  # PReLU
    scores = F.linear(h, params["rest.output.weight"], params["rest.output.bias"]).squeeze(-1)  # (batch, L)
    weights = torch.where(mask, scores, 0.0)  # no softmax; padding gets exactly 0
    pooled = (weights.unsqueeze(-1) * keys).sum(dim=1)  # (batch, D)
    return pooled, weights
    ### END SOLUTION


check_activation_unit(activation_unit)
