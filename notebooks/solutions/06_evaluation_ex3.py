# Exercise 06.3 (optional): the points of a reliability curve.
import numpy as np

from din_tutorial.checks import check_reliability_bins


def my_bins(y_true, y_prob, n_bins=10):
    """(mean_predicted, observed_rate) for each non-empty bin of n_bins equal-width bins over [0, 1]."""
    ### BEGIN SOLUTION
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_of = np.searchsorted(edges[1:-1], y_prob)  # 0 .. n_bins-1; a score of 1.0 lands in the last bin
    count = np.bincount(bin_of, minlength=n_bins)
    keep = count > 0  # an empty bin has no mean
    mean_predicted = np.bincount(bin_of, weights=y_prob, minlength=n_bins)[keep] / count[keep]
    observed_rate = np.bincount(bin_of, weights=y_true, minlength=n_bins)[keep] / count[keep]
    return mean_predicted, observed_rate
    ### END SOLUTION


check_reliability_bins(my_bins)
