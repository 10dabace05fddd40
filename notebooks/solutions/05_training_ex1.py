# Exercise 05.1: one training step (what CTRTrainer.train_one_epoch does for each batch).
import torch.nn.functional as F

from din_tutorial.checks import check_training_step


def train_step(model, x, y, optimizer):
    """Run ONE optimisation step of ``model`` on the batch ``(x, y)``; return the batch's loss as a float."""
    ### BEGIN SOLUTION
    model.train()  # dropout on, Dice with batch statistics (the model may come back from an evaluation)
    p = model(x)  # (batch,) click probabilities: DIN's forward ends in a sigmoid
    loss = F.binary_cross_entropy(p, y)  # mean log loss over the batch
    full = loss + model.regularization_loss(x)  # the paper's MBA term for this batch's rows (0 when mba_reg == 0)
    optimizer.zero_grad()  # PyTorch adds gradients up: clear the previous step's
    full.backward()
    optimizer.step()
    return loss.item()  # the log loss alone, as the trainer reports it
    ### END SOLUTION


check_training_step(train_step)
