# Exercise 07.2: project points to 2-D with PCA, from scratch (centre, SVD, project).
import numpy as np

from din_tutorial.checks import check_pca_2d


def pca_2d(X):
    """(n, d) points -> (n, 2) coordinates on the first two principal components."""
    ### BEGIN SOLUTION
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=0)  # subtract each column's mean: the cloud's centre goes to 0
    _, _, Vt = np.linalg.svd(centred, full_matrices=False)  # rows of Vt: directions, largest variance first
    return centred @ Vt[:2].T
    ### END SOLUTION


check_pca_2d(pca_2d)
