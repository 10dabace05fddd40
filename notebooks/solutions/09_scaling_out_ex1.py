# Exercise 09.1: what a model holds in training, measured on the live objects.
import torch

from din_tutorial.checks import check_training_bytes


def training_bytes(model, optimizer):
    """Bytes of the model's weights, of the gradients it holds now and of the optimiser's state."""
    ### BEGIN SOLUTION
    params = list(model.parameters())  # each Parameter once: a table shared by two features is one tensor
    weights = sum(p.nbytes for p in params)
    gradients = sum(p.grad.nbytes for p in params if p.grad is not None)  # None where no gradient reached
    # optimizer.state maps each trained Parameter to a dict of what the optimiser keeps for it (created at the
    # first step): SGD with momentum a velocity, Adam two moments and a 0-d step counter (left out)
    state = sum(t.nbytes for per_param in optimizer.state.values() for t in per_param.values()
                if torch.is_tensor(t) and t.dim() > 0)
    return {"weights": weights, "gradients": gradients, "optimizer state": state}
    ### END SOLUTION


check_training_bytes(training_bytes)
