# Exercise 09.1: the bytes one float32 embedding table holds while it trains.
from din_tutorial.checks import check_table_bytes


def table_training_bytes(vocab_size, embed_dim, optimizer):
    """Bytes of one float32 table of the package in training: weight, gradient and optimiser state."""
    ### BEGIN SOLUTION
    rows = vocab_size + 1  # the package's tables keep one padding row after the vocabulary
    state = {"sgd": 0, "momentum": 1, "adagrad": 1, "adam": 2}[optimizer]  # table-sized tensors the optimiser keeps
    copies = 2 + state  # the weight, its dense gradient (every row), and the optimiser's state
    return rows * embed_dim * 4 * copies  # 4 bytes per float32 value
    ### END SOLUTION


check_table_bytes(table_training_bytes)
