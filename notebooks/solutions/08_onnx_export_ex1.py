# Exercise 08.1: build onnxruntime's feed dict from a batch.
import numpy as np

from din_tutorial.checks import check_feed_dict


def make_feed(session, batch):
    """{input name: NumPy array} for session.run(None, feed): the graph's names only, int64 ids, float32 dense."""
    ### BEGIN SOLUTION
    feed = {}
    for inp in session.get_inputs():  # each has .name, .type ('tensor(int64)' or 'tensor(float)') and .shape
        value = batch[inp.name]
        value = value.cpu().numpy() if hasattr(value, "cpu") else np.asarray(value)
        feed[inp.name] = value.astype(np.float32 if inp.type == "tensor(float)" else np.int64)
    return feed
    ### END SOLUTION


check_feed_dict(make_feed)
