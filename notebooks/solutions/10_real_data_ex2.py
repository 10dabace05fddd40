# Exercise 10.2: the mean of a few runs (one per seed) and the half-width of its 95% interval.
import numpy as np
from scipy import stats

from din_tutorial.checks.real_data_checks import check_seed_interval


def seed_interval(values):
    """(mean, half_width): the two-sided 95% confidence interval of the mean is mean +- half_width."""
    ### BEGIN SOLUTION
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    # the spread is estimated from the same n runs: Student's t with n - 1 degrees of freedom, not 1.96
    half_width = stats.t.ppf(0.975, df=n - 1) * v.std(ddof=1) / np.sqrt(n)
    return float(v.mean()), float(half_width)
    ### END SOLUTION


check_seed_interval(seed_interval)
