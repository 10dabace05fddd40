# Exercise 01.3 (optional): draw a negative the user never interacted with, uniformly.
from din_tutorial.checks import check_sample_negative


def sample_negative(user_items, n_items, rng):
    """Return one item id in 0 .. n_items - 1 that is not in the set user_items, every such id equally likely."""
    ### BEGIN SOLUTION
    # Rejection sampling: draw uniformly and draw again while the draw is one of the user's items.
    # (The package does the same for all samples at once, with NumPy arrays.)
    while True:
        item = int(rng.integers(0, n_items))
        if item not in user_items:
            return item
    ### END SOLUTION


check_sample_negative(sample_negative)
