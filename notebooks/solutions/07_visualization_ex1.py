# Exercise 07.1: the share of attention mass |w| that falls on behaviours of the candidate's theme.
import torch

from din_tutorial.checks import check_attention_share


def same_theme_share(weights, mask, same):
    """(batch, seq_len) weights, bool mask of real steps, bool same-theme flags -> (batch,) shares."""
    ### BEGIN SOLUTION
    mass = weights.abs() * mask  # (batch, seq_len): magnitudes, padding zeroed
    return (mass * same).sum(dim=1) / mass.sum(dim=1)
    ### END SOLUTION


check_attention_share(same_theme_share)
