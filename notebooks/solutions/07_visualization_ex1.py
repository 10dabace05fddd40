# Exercise 07.1: per history, the chance that a behaviour of the candidate's theme outweighs (|w|) one of another theme.
from din_tutorial.checks import check_theme_rank_auc


def theme_rank_auc(weights, mask, same):
    """(batch, seq_len) weights, bool mask of real steps, bool same-theme flags -> (batch,) probabilities."""
    ### BEGIN SOLUTION
    size = weights.abs()  # the sign is the model's choice: compare magnitudes
    first, second = size.unsqueeze(2), size.unsqueeze(1)  # (batch, L, 1) and (batch, 1, L): every pair (i, j)
    score = (first > second).float() + 0.5 * (first == second).float()  # (batch, L, L): i beats j, a tie half
    pairs = ((mask & same).unsqueeze(2) & (mask & ~same).unsqueeze(1)).float()  # i real and same, j real and other
    return (score * pairs).sum(dim=(1, 2)) / pairs.sum(dim=(1, 2))  # no pair: 0 / 0 = NaN
    ### END SOLUTION


check_theme_rank_auc(theme_rank_auc)
