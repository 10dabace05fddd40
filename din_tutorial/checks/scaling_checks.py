"""Checks for the exercises of notebooks/09_scaling_out.ipynb.

Each ``check_*`` runs the learner's answer against an independent reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 09.1 ``check_table_bytes(table_training_bytes)``: the bytes one float32 embedding table of the
  package holds while it trains (weight, gradient, optimiser state). The small cases are
  *measured*: a real ``PaddedEmbedding`` takes one training step with a real torch optimiser and
  the bytes of its tensors are added up; the large ones (a 10M-item table) are compared with
  the same count made from sizes alone.
* 09.2 ``check_global_statistics(global_statistics)``: per-rank ``(sum, sum of squares, count)``
  combined into the mean and variance of the whole batch (what the all-reduce of synchronised
  Dice computes), compared with the statistics of the concatenated batch.
"""
from __future__ import annotations

import numpy as np

from ._core import ExerciseFailed, compare, exercise

__all__: list[str] = ["OPTIMIZERS", "check_table_bytes", "check_global_statistics"]

#: The optimisers of exercise 09.1, as torch builds them ("momentum" is SGD with momentum 0.9).
OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")


# ---------------------------------------------------------------------------- 09.1
def _optimizer(name: str, params):
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=0.1)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=0.1)
    if name == "adam":
        return torch.optim.Adam(params, lr=0.1)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def _measured_bytes(vocab_size: int, embed_dim: int, optimizer: str) -> int:
    """Bytes of a real table after one training step: weight, its gradient, the optimiser's tensors (not 0-d ones)."""
    import torch

    from ..features import PAD_ID
    from ..layers.embedding import PaddedEmbedding

    torch.manual_seed(0)
    table = PaddedEmbedding(vocab_size, embed_dim)
    opt = _optimizer(optimizer, table.parameters())
    ids = torch.tensor([0, vocab_size - 1, PAD_ID])
    table(ids).square().sum().backward()
    opt.step()
    w = table.weight
    tensors = [w, w.grad] + [t for t in opt.state[w].values() if torch.is_tensor(t) and t.dim() > 0]
    return int(sum(t.numel() * t.element_size() for t in tensors))


def _copies(optimizer: str) -> int:
    return {"sgd": 2, "momentum": 3, "adagrad": 3, "adam": 4}[optimizer]


def _by_sizes(vocab_size: int, embed_dim: int, optimizer: str) -> int:
    return (vocab_size + 1) * embed_dim * 4 * _copies(optimizer)


def _diagnose(fn, got: float, vocab_size: int, embed_dim: int, optimizer: str) -> str:
    """The likely mistake behind a wrong count, recognised from the sizes (and ``fn`` on plain SGD)."""
    rows, want = vocab_size + 1, _by_sizes(vocab_size, embed_dim, optimizer)
    copies = _copies(optimizer)
    if got == vocab_size * embed_dim * 4 * copies:
        return ("count every row of the table: the package's tables have one row more than the vocabulary "
                "(look at the shapes printed above)")
    if got in (rows * embed_dim * 4, vocab_size * embed_dim * 4):
        return "training holds more than the weights: what does backward() write, and what does the optimiser keep?"
    try:  # plain SGD keeps no state: a count of one table there means the gradient was left out
        sgd_tables = fn(vocab_size, embed_dim, "sgd") / (rows * embed_dim * 4)
    except Exception:
        sgd_tables = None
    if got in (rows * embed_dim * 4 * (copies - 1), vocab_size * embed_dim * 4 * (copies - 1)) and sgd_tables != 2:
        return ("a dense embedding's gradient is a full table too (every row, even rows the batch did not touch), "
                "and it is alive when the optimiser steps")
    if got * 8 == want or got == want * 8:
        return "bytes, not bits: a float32 is 4 bytes"
    if got == want * 2:
        return "float32 values take 4 bytes each, not 8"
    if want and got and got % (rows * embed_dim * 4) == 0:
        n = int(got // (rows * embed_dim * 4))
        return (f"you counted {n} table-sized tensors for {optimizer!r}: look at which state tensors torch's "
                f"optimiser keeps per parameter (optimizer.state[param].keys() after one step), scalars aside")
    return "add up weight, gradient and optimiser state, each a tensor the size of the table, 4 bytes per value"


def _cases():
    measured = [(10, 4, "adam"), (1, 1, "sgd"), (7, 3, "adagrad"), (5, 16, "momentum"), (300, 8, "adam"),
                (2, 5, "sgd")]
    by_size = [(63_001, 16, "adam"), (10_000_000, 64, "adam"), (10_000_000, 64, "sgd"), (192_403, 16, "adagrad")]
    return measured, by_size


@exercise("Exercise 09.1: the bytes of an embedding table in training")
def check_table_bytes(table_training_bytes) -> list[str]:
    """``table_training_bytes(vocab_size, embed_dim, optimizer)`` returns the bytes (an integer) that one
    float32 table of the package holds while it trains: weight, gradient and optimiser state.

    ``optimizer`` is one of ``OPTIMIZERS``; 0-d scalars (Adam's step counter) are not counted. Six
    small cases are measured on real tensors after one optimiser step; four large ones (up to a
    10M-item table) are compared with the same count from the sizes."""
    measured, by_size = _cases()
    lines = []
    for kind, cases in (("measured", measured), ("by size", by_size)):
        for vocab, dim, opt in cases:
            want = _measured_bytes(vocab, dim, opt) if kind == "measured" else _by_sizes(vocab, dim, opt)
            got = table_training_bytes(vocab, dim, opt)
            what = f"vocab_size={vocab:,}, embed_dim={dim}, optimizer={opt!r}"
            if isinstance(got, bool) or not isinstance(got, (int, float, np.integer, np.floating)):
                raise ExerciseFailed(f"{what}: got a {type(got).__name__}. Hint: return the number of bytes as an int")
            if float(got) != int(got):
                raise ExerciseFailed(f"{what}: got {got}, not a whole number. Hint: bytes count whole values; "
                                     f"return bytes, not MB or GB")
            if int(got) != want:
                raise ExerciseFailed(f"{what}: got {int(got):,} bytes, expected {want:,}. "
                                     f"Hint: {_diagnose(table_training_bytes, int(got), vocab, dim, opt)}")
            lines.append(f"{what}: {want:,} bytes ({kind})")
    lines.append("a 10M-item table of dim 64 trained with Adam: "
                 f"{_by_sizes(10_000_000, 64, 'adam') / 2**30:.1f} GiB, with plain SGD "
                 f"{_by_sizes(10_000_000, 64, 'sgd') / 2**30:.1f} GiB")
    return lines


# ---------------------------------------------------------------------------- 09.2
def _rank_parts(x, sizes):
    """Split ``x`` (n, C) into consecutive ranks of ``sizes`` rows; each rank's (sum, sum of squares, count)."""
    import torch

    parts, lo = [], 0
    for n in sizes:
        s = x[lo:lo + n]
        parts.append((s.sum(0), (s * s).sum(0), int(n)))
        lo += n
    assert lo == x.shape[0]
    return parts


def _stat_cases():
    import torch

    g = torch.Generator().manual_seed(9)
    cases = []
    # (description, data (n, C) float64, rank sizes)
    x = torch.randn(64, 5, generator=g, dtype=torch.float64) * 0.5 + 3.0
    cases.append(("2 ranks with 32 steps each", x, [32, 32]))
    x = torch.randn(101, 4, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.1, 2.0, 5.0],
                                                                             dtype=torch.float64) + 1.0
    cases.append(("3 ranks with 10, 60 and 31 steps", x, [10, 60, 31]))
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    x[:20] += 4.0  # the first rank's steps sit far from the second's: the spread between ranks matters
    cases.append(("2 ranks whose data differ (means 4 apart)", x, [20, 20]))
    x = torch.randn(50, 6, generator=g, dtype=torch.float64) - 2.0
    cases.append(("4 ranks, one with no real step (all padding)", x, [0, 25, 5, 20]))
    x = torch.randn(17, 2, generator=g, dtype=torch.float64)
    cases.append(("1 rank (no parallelism)", x, [17]))
    x = torch.randn(256, 8, generator=g, dtype=torch.float64) * 3.0
    cases.append(("8 ranks of 32 steps", x, [32] * 8))
    return cases


def _stats_hint(parts, got_mean, got_var, x) -> str:
    """The likely mistake, recognised by recomputing the usual wrong answers."""
    import torch

    mean, var = x.mean(0), x.var(0, unbiased=False)
    nonempty = [(s, q, n) for s, q, n in parts if n > 0]
    means = torch.stack([s / n for s, _, n in nonempty])
    rank_vars = torch.stack([q / n - (s / n) ** 2 for s, q, n in nonempty])
    gm = torch.as_tensor(got_mean, dtype=torch.float64)
    gv = torch.as_tensor(got_var, dtype=torch.float64)
    if not torch.isfinite(gm).all() or not torch.isfinite(gv).all():
        return "a rank may hold no real step at all (count 0): your result must not depend on dividing by it"
    if not torch.allclose(gm, mean, atol=1e-9):
        if torch.allclose(gm, means.mean(0), atol=1e-9):
            return "ranks can hold different numbers of steps: a rank with more steps must weigh more"
        return "the global mean is over every step of every rank"
    if x.shape[0] > 1 and torch.allclose(gv, x.var(0, unbiased=True), atol=1e-9):
        return "Dice (like BatchNorm) normalises by the biased batch variance: divide by the count, not count - 1"
    if torch.allclose(gv, rank_vars.mean(0), atol=1e-9) or torch.allclose(
            gv, sum(v * n for v, (_, _, n) in zip(rank_vars, nonempty)) / x.shape[0], atol=1e-9):
        return ("averaging the ranks' variances misses the spread between the ranks' means: "
                "the variance is about the global mean")
    return "the variance is the mean squared distance of every step from the global mean"


@exercise("Exercise 09.2: combining per-rank sums into global statistics")
def check_global_statistics(global_statistics) -> list[str]:
    """``global_statistics(parts)``: ``parts`` is a list with one ``(sum, sum_of_squares, count)`` per rank
    (two float64 tensors of shape ``(C,)`` and an int); return ``(mean, var)``, two ``(C,)`` tensors: the
    per-channel mean and (biased) variance of all the ranks' steps together.

    Tried on six splits (equal and unequal ranks, ranks whose data differ, a rank with no step,
    one rank, eight ranks) against the statistics of the whole batch."""
    import torch

    lines = []
    for what, x, sizes in _stat_cases():
        parts = _rank_parts(x, sizes)
        frozen = [(s.clone(), q.clone(), n) for s, q, n in parts]
        out = global_statistics([(s.clone(), q.clone(), n) for s, q, n in parts])
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseFailed(f"{what}: got {type(out).__name__}. Hint: return a pair (mean, var)")
        got_mean, got_var = (torch.as_tensor(v) for v in out)
        want_mean, want_var = x.mean(0), x.var(0, unbiased=False)
        for s, f in zip(parts, frozen):
            assert torch.equal(s[0], f[0]) and torch.equal(s[1], f[1])
        if tuple(got_mean.shape) != tuple(want_mean.shape) or tuple(got_var.shape) != tuple(want_var.shape):
            raise ExerciseFailed(f"{what}: shapes {tuple(got_mean.shape)} and {tuple(got_var.shape)}, expected "
                                 f"{tuple(want_mean.shape)} each. Hint: one mean and one variance per channel")
        try:
            compare(got_mean, want_mean, f"{what}: mean", "", atol=1e-9, rtol=1e-9)
            compare(got_var, want_var, f"{what}: variance", "", atol=1e-9, rtol=1e-9)
        except ExerciseFailed as e:
            msg = str(e).split(" Hint:")[0]
            raise ExerciseFailed(f"{msg} Hint: {_stats_hint(parts, got_mean, got_var, x)}") from None
        diff = max(float((got_mean - want_mean).abs().max()), float((got_var - want_var).abs().max()))
        lines.append(f"{what}: mean and variance of the whole batch (max |difference| {diff:.1e})")
    return lines
