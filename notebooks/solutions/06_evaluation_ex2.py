# Exercise 06.2: the AUC a RelaImpr asks for (the paper's RelaImpr, section 6.3, Eq. 11, read backwards).
from din_tutorial.checks import check_auc_needed


def auc_needed(base_auc, rela_impr_pct):
    """The AUC a model must reach to be ``rela_impr_pct`` percent better than a base model with ``base_auc``."""
    ### BEGIN SOLUTION
    # RelaImpr = ((auc - 0.5) / (base_auc - 0.5) - 1) * 100, solved for auc
    return 0.5 + (base_auc - 0.5) * (1.0 + rela_impr_pct / 100.0)
    ### END SOLUTION


check_auc_needed(auc_needed)
