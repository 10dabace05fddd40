# Exercise 10.1: a subsample of USERS, each with every one of their behaviours.
import numpy as np

from din_tutorial.checks.real_data_checks import check_user_sample


def sample_users(log, n_users, seed):
    """The rows of n_users users drawn uniformly at random (all users if there are fewer), every row of each."""
    ### BEGIN SOLUTION
    users = log["user_id"].unique()
    rng = np.random.default_rng(seed)  # its own generator: the same seed gives the same users
    kept = rng.choice(users, size=min(n_users, len(users)), replace=False)  # each user at most once, uniformly
    return log[log["user_id"].isin(kept)].copy()  # whole histories: validation and test targets included
    ### END SOLUTION


check_user_sample(sample_users)
