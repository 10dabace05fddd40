# Exercise 05.2: the early-stopping rule of CTRTrainer.fit, with a min_delta.
from din_tutorial.checks import check_early_stopping


def early_stop(val_aucs, patience, min_delta=0.0):
    """Return (best_epoch, stop_epoch), counted from 0: the last epoch that counted as an improvement (its AUC
    beat the best so far by more than min_delta), and the last epoch that is trained before the rule stops
    training (the last one if it never stops)."""
    ### BEGIN SOLUTION
    best_auc, best_epoch, stale = float("-inf"), 0, 0
    for epoch, auc in enumerate(val_aucs):
        if auc > best_auc + min_delta:  # strictly better, by more than min_delta
            best_auc, best_epoch, stale = auc, epoch, 0  # a smaller gain does not move the best either
        else:
            stale += 1
            if stale >= patience:
                return best_epoch, epoch
    return best_epoch, len(val_aucs) - 1
    ### END SOLUTION


check_early_stopping(early_stop)
