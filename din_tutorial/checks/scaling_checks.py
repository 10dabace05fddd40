"""Checks for the exercises of notebooks/09_scaling_out.ipynb.

Each ``check_*`` runs the learner's answer against an independent reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 09.1 ``check_training_bytes(training_bytes)``: what a model holds in training, measured on the
  live objects after a step: the bytes of its weights, of the gradients that exist, and of the
  optimiser's state (0-d tensors such as Adam's step counter aside). Tried on small models with
  SGD, SGD with momentum, Adagrad, Adam and AMSGrad, a parameter the loss does not reach, a table
  shared by two features, an optimiser before its first step, and the seed's DIN.
* 09.2 ``check_global_statistics(global_statistics)``: per-rank ``(sum, sum of squares, count)``
  combined into the mean and variance of the whole batch (what the all-reduce of synchronised
  Dice computes), compared with the statistics of the concatenated batch.
"""
from __future__ import annotations

import numpy as np

from ._core import ExerciseFailed, compare, exercise

__all__: list[str] = ["check_training_bytes", "check_global_statistics"]

#: The keys of exercise 09.1's answer.
PARTS = ("weights", "gradients", "optimizer state")


# ---------------------------------------------------------------------------- 09.1
def _tensor_bytes(tensors) -> int:
    return int(sum(t.numel() * t.element_size() for t in tensors))


def _reference_bytes(model, optimizer) -> dict:
    """An independent count: walk the optimiser's parameter groups (not the model) and its state."""
    import torch

    seen, params = set(), []
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    for p in model.parameters():  # parameters the optimiser does not train still hold memory
        if id(p) not in seen:
            seen.add(id(p))
            params.append(p)
    state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0]
    return {"weights": _tensor_bytes(params),
            "gradients": _tensor_bytes(p.grad for p in params if p.grad is not None),
            "optimizer state": _tensor_bytes(state)}


class _Toy:
    """Small models for the cases (built lazily: torch is imported by the check, not at import time)."""

    @staticmethod
    def table_and_head(vocab=50, dim=4, unused=False, shared=False):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.items = nn.Embedding(vocab + 1, dim)
                self.head = nn.Linear(2 * dim, 1)
                if shared:  # a history feature that looks up the item table: one Parameter, two names
                    self.history = self.items
                if unused:  # a layer the forward pass never calls: no gradient reaches it
                    self.spare = nn.Linear(dim, 3)

            def forward(self, ids):
                return self.head(torch.cat([self.items(ids), self.items(ids.flip(0))], dim=1)).squeeze(1)

        return Net()


def _optimizer(name: str, params):
    import torch

    return {"sgd": lambda: torch.optim.SGD(params, lr=0.1),
            "momentum": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9),
            "adagrad": lambda: torch.optim.Adagrad(params, lr=0.1),
            "adam": lambda: torch.optim.Adam(params, lr=0.01),
            "amsgrad": lambda: torch.optim.Adam(params, lr=0.01, amsgrad=True)}[name]()


def _training_cases():
    """(description, model, optimizer) after the steps each case names."""
    import torch

    ids = torch.tensor([0, 3, 7, 11])

    def case(description, optimizer="adam", steps=1, zero_grad_after=False, **toy):
        torch.manual_seed(0)
        model = _Toy.table_and_head(**toy)
        opt = _optimizer(optimizer, model.parameters())
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            model(ids).square().mean().backward()
            opt.step()
        if zero_grad_after:
            opt.zero_grad(set_to_none=True)
        return description, model, opt

    cases = [case(f"a table and a head, one {name} step", name)
             for name in ("sgd", "momentum", "adagrad", "adam", "amsgrad")]
    cases += [
        case("a layer the loss never reaches, one adam step", unused=True),
        case("a table shared by two features, one adam step", shared=True),
        case("an adam optimiser before any backward() or step()", steps=0),
        case("after two adam steps and zero_grad(set_to_none=True)", steps=2, zero_grad_after=True, vocab=200, dim=8),
        _seed_din_case(),
    ]
    return cases


def _seed_din_case():
    import torch

    from ..pipeline import build_model

    torch.manual_seed(0)
    vocab = {"user_id": 30, "item_id": 40, "cate_id": 6, "gender": 3, "age": 7, "occupation": 21, "zip": 9}
    din = build_model("din", vocab)
    opt = torch.optim.Adam(din.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    n, L = 16, 5
    x = {"user_id": torch.randint(0, 30, (n,), generator=g), "item_id": torch.randint(0, 40, (n,), generator=g),
         "cate_id": torch.randint(0, 6, (n,), generator=g), "hist_item_id": torch.randint(0, 40, (n, L), generator=g),
         "hist_cate_id": torch.randint(0, 6, (n, L), generator=g)}
    for c in ("gender", "age", "occupation", "zip"):
        x[c] = torch.randint(0, vocab[c], (n,), generator=g)
    din.train()
    y = torch.randint(0, 2, (n,), generator=g).float()
    torch.nn.functional.binary_cross_entropy(din(x), y).backward()
    opt.step()
    return "the seed's DIN (small vocabularies), one adam step", din, opt


def _bytes_hint(model, optimizer, part: str, got: int, want: int) -> str:
    """The likely mistake behind a wrong count of ``part``, recognised by recomputing the usual wrong answers."""
    import torch

    params = list(model.parameters())
    if part == "weights":
        named = _tensor_bytes(m.weight for m in model.modules() if isinstance(getattr(m, "weight", None), torch.Tensor))
        if got == _tensor_bytes(model.state_dict().values()) and got != want:
            return ("a state_dict also holds buffers (Dice's running statistics are not weights), and a shared table "
                    "under each of its names: count the parameters, each once")
        if got > want:
            return "a Parameter shared by two features (or two modules) is one tensor in memory: count it once"
        if got == named:
            return "a model's weights are all of its parameters, biases and Dice's alphas included, not only the .weight's"
        return "every parameter of the model, once each, at its element size"
    if part == "gradients":
        if got == _tensor_bytes(params):
            return ("not every parameter holds a gradient: backward() writes one only where the loss reaches, and "
                    "zero_grad(set_to_none=True) removes them")
        return "count the gradient tensors that exist now, each at its size in bytes"
    everything = _tensor_bytes(t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t))
    if got == everything and got != want:
        return "leave out 0-d tensors (Adam keeps its step counter as one): they are not per-value state"
    if got == 0 and want > 0:
        return ("the optimiser keeps its state per parameter, in a dict of its own, not in the model: look at "
                "what an optimiser object holds after a step")
    if got > want:
        return ("an optimiser creates its state lazily, at a step, and only for parameters that had a gradient "
                "then (plain SGD never does): count what it holds now, not what it would hold")
    return "add up every per-value tensor the optimiser keeps, for every parameter it trains"


@exercise("Exercise 09.1: what a model holds in training")
def check_training_bytes(training_bytes) -> list[str]:
    """``training_bytes(model, optimizer)`` returns a dict with the keys ``"weights"``, ``"gradients"`` and
    ``"optimizer state"``: the bytes (integers) of the model's parameters (each once), of the gradients
    they hold now, and of the tensors the optimiser keeps in its state, 0-d ones aside.

    Ten cases: a table and a head after one step of SGD, SGD with momentum, Adagrad, Adam and AMSGrad;
    a layer that no gradient reaches; a table shared by two features; Adam before its first step;
    gradients set to None; the seed's DIN after one Adam step. The reference walks the optimiser's
    parameter groups and state; the cases are built fresh for each call, so the answer cannot change them."""
    lines = []
    for what, model, opt in _training_cases():
        want = _reference_bytes(model, opt)
        got = training_bytes(model, opt)
        if not isinstance(got, dict):
            raise ExerciseFailed(f"{what}: got a {type(got).__name__}. Hint: return a dict with the keys {list(PARTS)}")
        if set(got) != set(PARTS):
            raise ExerciseFailed(f"{what}: keys {sorted(got)}. Hint: return exactly the keys {list(PARTS)}")
        for part in PARTS:
            value = got[part]
            if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ExerciseFailed(f"{what}: {part!r} is a {type(value).__name__}. Hint: each value is a number "
                                     f"of bytes (an int)")
            if float(value) != int(value):
                raise ExerciseFailed(f"{what}: {part!r} = {value}, not a whole number. Hint: count bytes, not MB")
            if int(value) != want[part]:
                raise ExerciseFailed(f"{what}: {part!r} = {int(value):,} bytes, expected {want[part]:,}. "
                                     f"Hint: {_bytes_hint(model, opt, part, int(value), want[part])}")
        lines.append(f"{what}: " + ", ".join(f"{k} {want[k]:,} B" for k in PARTS))
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
