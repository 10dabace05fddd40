# Exercise 01.1: the leave-one-out split by time for one user's behaviours.
from din_tutorial.checks import check_leave_one_out


def leave_one_out(items):
    """Split one user's item ids (oldest first) into train, val and test lists of (history, target) pairs."""
    ### BEGIN SOLUTION
    # The behaviour at position t is a target whose history is everything before it (items[:t]).
    samples = [(list(items[:t]), items[t]) for t in range(1, len(items))]
    # The last sample is the test, the one before it validation, the rest training.
    test = samples[-1:]
    val = samples[-2:-1]
    train = samples[:-2]
    return train, val, test
    ### END SOLUTION


check_leave_one_out(leave_one_out)
