# Exercise 06.2: RelaImpr, the paper's relative improvement (section 6.3).
from din_tutorial.checks import check_rela_impr


def my_rela_impr(model_auc, base_auc):
    """The model's gain over the base model on the part of AUC above random guessing, in percent."""
    ### BEGIN SOLUTION
    return ((model_auc - 0.5) / (base_auc - 0.5) - 1.0) * 100.0
    ### END SOLUTION


check_rela_impr(my_rela_impr)
