# Exercise 08.2: a parity check, the largest |PyTorch - ONNX| over a list of batches.
import numpy as np
import torch

from din_tutorial.checks import check_parity
from din_tutorial.export import predict_onnx


def max_abs_diff(model, session, batches):
    """The largest |model(x) - ONNX(x)| over every sample of every batch, as a float."""
    ### BEGIN SOLUTION
    model.eval()  # dropout off, Dice on its running statistics: what the exported graph does
    worst = 0.0
    with torch.no_grad():
        for x in batches:
            ref = model(x).numpy()  # probabilities, like the graph's output
            got = predict_onnx(session, x).reshape(ref.shape)
            worst = max(worst, float(np.abs(ref - got).max()))
    return worst
    ### END SOLUTION


check_parity(max_abs_diff)
