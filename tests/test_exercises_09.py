"""Exercises of notebooks/09_scaling_out.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import pytest
import torch

from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial.checks import ExerciseFailed, check_global_statistics, check_training_bytes


@pytest.mark.parametrize("name", ["09_scaling_out_ex1", "09_scaling_out_ex2"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 09.1 what a model holds in training
def _nbytes(tensors):
    return sum(t.numel() * t.element_size() for t in tensors)


def _state(opt, keep_scalars=False):
    return _nbytes(t for s in opt.state.values() for t in s.values()
                   if torch.is_tensor(t) and (keep_scalars or t.dim() > 0))


def from_state_dict(model, opt):  # buffers and a shared table's second name counted as weights
    params = list(model.parameters())
    return {"weights": _nbytes(model.state_dict().values()),
            "gradients": _nbytes(p.grad for p in params if p.grad is not None), "optimizer state": _state(opt)}


def every_parameter_has_a_gradient(model, opt):
    params = list(model.parameters())
    return {"weights": _nbytes(params), "gradients": _nbytes(params), "optimizer state": _state(opt)}


def step_counter_counted(model, opt):
    params = list(model.parameters())
    return {"weights": _nbytes(params), "gradients": _nbytes(p.grad for p in params if p.grad is not None),
            "optimizer state": _state(opt, keep_scalars=True)}


def state_looked_for_in_the_model(model, opt):
    params = list(model.parameters())
    return {"weights": _nbytes(params), "gradients": _nbytes(p.grad for p in params if p.grad is not None),
            "optimizer state": 0}


def state_predicted_from_the_optimiser_type(model, opt):  # Adam: two moments, even before its first step
    params = list(model.parameters())
    group = opt.param_groups[0]
    if isinstance(opt, torch.optim.Adam):
        copies = 3 if group["amsgrad"] else 2
    elif isinstance(opt, torch.optim.SGD):
        copies = 1 if group["momentum"] else 0
    else:
        copies = 1
    return {"weights": _nbytes(params), "gradients": _nbytes(p.grad for p in params if p.grad is not None),
            "optimizer state": copies * _nbytes(params)}


def only_dot_weight(model, opt):
    params = list(model.parameters())
    return {"weights": _nbytes(m.weight for m in model.modules() if isinstance(getattr(m, "weight", None), torch.Tensor)),
            "gradients": _nbytes(p.grad for p in params if p.grad is not None), "optimizer state": _state(opt)}


def megabytes(model, opt):
    params = list(model.parameters())
    return {"weights": _nbytes(params) / 2**20, "gradients": 0, "optimizer state": 0}


def a_tuple(model, opt):
    return (0, 0, 0)


@pytest.mark.parametrize("wrong, words", [
    (from_state_dict, "buffers"),
    (every_parameter_has_a_gradient, "not every parameter holds a gradient"),
    (step_counter_counted, "0-d tensors"),
    (state_looked_for_in_the_model, "dict of its own"),
    (state_predicted_from_the_optimiser_type, "lazily"),
    (only_dot_weight, "biases"),
    (megabytes, "not MB"),
    (a_tuple, "a dict with the keys"),
])
def test_training_bytes_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_training_bytes(wrong)


def test_training_bytes_reference_matches_the_arithmetic():
    """The reference's count is the notebook's arithmetic: a table of V ids holds (V + 1) x dim x 4 bytes,
    and Adam keeps two table-sized moments, SGD with momentum one, plain SGD none."""
    from din_tutorial.checks.scaling_checks import _reference_bytes
    from din_tutorial.features import PAD_ID
    from din_tutorial.layers.embedding import PaddedEmbedding

    for opt_fn, copies in ((lambda p: torch.optim.SGD(p, lr=0.1), 0), (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), 1),
                           (lambda p: torch.optim.Adam(p, lr=0.1), 2)):
        table = PaddedEmbedding(12, 3)
        opt = opt_fn(table.parameters())
        table(torch.tensor([0, 11, PAD_ID])).square().sum().backward()
        opt.step()
        got = _reference_bytes(table, opt)
        assert got == {"weights": 13 * 3 * 4, "gradients": 13 * 3 * 4, "optimizer state": copies * 13 * 3 * 4}


# ---- 09.2 per-rank sums -> global statistics
def _sums(parts):
    s = torch.stack([p[0] for p in parts]).sum(0)
    q = torch.stack([p[1] for p in parts]).sum(0)
    return s, q, sum(p[2] for p in parts)


def mean_of_rank_means(parts):
    s, q, n = _sums(parts)
    m = torch.stack([p[0] / p[2] for p in parts if p[2] > 0]).mean(0)
    return m, q / n - (s / n) ** 2


def nan_on_empty_rank(parts):
    means = [p[0] / p[2] for p in parts]  # 0 / 0 for a rank without steps
    counts = torch.tensor([float(p[2]) for p in parts])
    m = sum(mi * ni for mi, ni in zip(means, counts)) / counts.sum()
    s, q, n = _sums(parts)
    return m, q / n - m * m


def unbiased(parts):
    s, q, n = _sums(parts)
    m = s / n
    return m, (q - n * m * m) / (n - 1)


def mean_of_rank_variances(parts):
    s, q, n = _sums(parts)
    rank_vars = [p[1] / p[2] - (p[0] / p[2]) ** 2 for p in parts if p[2] > 0]
    return s / n, torch.stack(rank_vars).mean(0)


def variance_about_zero(parts):
    s, q, n = _sums(parts)
    return s / n, q / n


@pytest.mark.parametrize("wrong, words", [
    (mean_of_rank_means, "must weigh more"),
    (nan_on_empty_rank, "count 0"),
    (unbiased, "biased batch variance"),
    (mean_of_rank_variances, "spread between the ranks' means"),
    (variance_about_zero, "distance of every step from the global mean"),
])
def test_statistics_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_global_statistics(wrong)


@pytest.mark.parametrize("check", [check_training_bytes, check_global_statistics])
def test_stub_is_todo(check, capsys):
    assert_stub_is_todo(check, capsys)
