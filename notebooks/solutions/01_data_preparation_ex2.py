# Exercise 01.2: keep the most recent max_len behaviours, pad at the end with PAD_ID.
from din_tutorial import PAD_ID
from din_tutorial.checks import check_pad_history


def pad_history(history, max_len):
    """Return a list of exactly max_len item ids: the most recent behaviours, oldest first, then PAD_ID."""
    ### BEGIN SOLUTION
    kept = list(history)[-max_len:]  # the most recent max_len behaviours, still oldest first
    return kept + [PAD_ID] * (max_len - len(kept))
    ### END SOLUTION


check_pad_history(pad_history)
