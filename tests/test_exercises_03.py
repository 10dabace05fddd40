"""Exercises of notebooks/03_activation_unit.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import pytest
import torch
import torch.nn.functional as F
from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial import ActivationUnit
from din_tutorial.checks import (
    ExerciseFailed,
    check_activation_unit,
    check_masked_softmax,
    check_masked_weighted_sum,
    check_packed_weighted_sum,
)

NAMES = ["03_activation_unit_ex1", "03_activation_unit_ex2", "03_activation_unit_ex3"]


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


@pytest.mark.parametrize("check", [check_packed_weighted_sum, check_masked_weighted_sum, check_activation_unit,
                                   check_masked_softmax])
def test_stub_is_reported_as_todo(check, capsys):
    assert_stub_is_todo(check, capsys)


# ---- 03.1 weighted sum over packed real steps
def packed_mean(weights, keys, rows, batch_size):
    total = torch.zeros(batch_size, keys.shape[1]).index_add(0, rows, weights[:, None] * keys)
    return total / torch.bincount(rows, minlength=batch_size).clamp_min(1)[:, None]


def packed_per_step(weights, keys, rows, batch_size):
    return weights[:, None] * keys


def packed_only_present(weights, keys, rows, batch_size):
    present = torch.unique(rows)
    out = torch.zeros(batch_size, keys.shape[1]).index_add(0, rows, weights[:, None] * keys)
    return out[present]


def packed_sum_then_scale(weights, keys, rows, batch_size):
    k = torch.zeros(batch_size, keys.shape[1]).index_add(0, rows, keys)
    return k * torch.zeros(batch_size).index_add(0, rows, weights)[:, None]


def packed_assumes_sorted_contiguous(weights, keys, rows, batch_size):
    out, start = [], 0
    for b in range(batch_size):  # takes the first n_b steps for sample b: right only if rows are sorted
        n = int((rows == b).sum())
        out.append((weights[start:start + n, None] * keys[start:start + n]).sum(0))
        start += n
    return torch.stack(out)


@pytest.mark.parametrize("wrong, words", [
    (packed_mean, "a sum, not a mean"),
    (packed_per_step, "one vector per step"),
    (packed_only_present, "without any real step still has a row"),
    (packed_sum_then_scale, "weighted by its own weight"),
    (packed_assumes_sorted_contiguous, "ITS sample"),
])
def test_packed_sum_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_packed_weighted_sum(wrong)


# ---- the padded form (check_masked_weighted_sum, kept for instructors)

def sum_with_padding(weights, keys, mask):
    return (weights.unsqueeze(-1) * keys).sum(1)


def normalised_sum(weights, keys, mask):
    w = torch.where(mask, weights, 0.0)
    total = w.sum(1, keepdim=True)
    return (w.unsqueeze(-1) * keys).sum(1) / torch.where(total != 0, total, 1.0)


def mean_not_sum(weights, keys, mask):
    w = torch.where(mask, weights, 0.0)
    return (w.unsqueeze(-1) * keys).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)


def no_reduction(weights, keys, mask):
    return torch.where(mask, weights, 0.0).unsqueeze(-1) * keys


@pytest.mark.parametrize("wrong, words", [
    (sum_with_padding, "padding leaks in"),
    (normalised_sum, "no normalisation"),
    (mean_not_sum, "a sum, not a mean"),
    (no_reduction, "one vector per behaviour"),
])
def test_weighted_sum_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_masked_weighted_sum(wrong)


# ---- 03.2 the unit's forward pass
def make_unit(parts="qkdp", act="prelu", mask_mode="zero", dot=False):
    def unit(query, keys, mask, params):
        q = query.unsqueeze(1).expand_as(keys)
        blocks = {"q": q, "k": keys, "d": q - keys, "r": keys - q, "p": q * keys}
        x = torch.cat([blocks[c] for c in parts], -1)
        if dot:
            x = torch.cat([q, keys, q - keys, (q * keys).sum(-1, keepdim=True)], -1)  # width 3D + 1
        h = F.linear(x, params["first.weight"], params["first.bias"])
        h = torch.where(h > 0, h, params["act.alpha"] * h) if act == "prelu" else torch.relu(h)
        s = F.linear(h, params["rest.output.weight"], params["rest.output.bias"]).squeeze(-1)
        if mask_mode == "zero":
            w = torch.where(mask, s, 0.0)
        elif mask_mode == "none":
            w = s
        else:  # masked softmax
            w = torch.where(mask, torch.softmax(s.masked_fill(~mask, -1e30), -1), 0.0)
        return (w.unsqueeze(-1) * keys).sum(1), w
    return unit


@pytest.mark.parametrize("wrong, words", [
    (make_unit(mask_mode="none"), "padded steps in"),
    (make_unit(mask_mode="softmax"), "no softmax"),
    (make_unit(parts="qkrp"), "not k - q"),
    (make_unit(parts="kqdp"), "q then k"),
    (make_unit(parts="qkdd"), "Linear over \\[q, k, q - k, q \\* k\\]"),
    (make_unit(act="relu"), "PReLU"),
    (make_unit(dot=True), "element-wise product"),
    (make_unit(parts="qkp"), "4 \\* D"),
])
def test_unit_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_activation_unit(wrong)


def runs_the_package(query, keys, mask, params):  # right, but only a wrapper of what the exercise asks to write
    u = ActivationUnit(query.shape[1], dims=[params["first.bias"].shape[0]], activation="prelu")
    u.load_state_dict(params)
    return u(query, keys, mask, return_weights=True)


_SOME_UNIT = ActivationUnit(4, dims=[5], activation="prelu")


def runs_a_units_scores(query, keys, mask, params):  # no ActivationUnit in sight: a unit's method instead
    u = type(_SOME_UNIT)(query.shape[1], dims=[5], activation="prelu")
    u.load_state_dict(params)
    w = torch.where(mask, u.scores(query, keys, mask, naive=True), 0.0)
    return (w.unsqueeze(-1) * keys).sum(1), w


def own_scores_in_a_comprehension(query, keys, mask, params):  # a local named `scores`, read inside a comprehension
    q = query.unsqueeze(1).expand_as(keys)
    h = F.linear(torch.cat([q, keys, q - keys, q * keys], -1), params["first.weight"], params["first.bias"])
    h = torch.where(h > 0, h, params["act.alpha"] * h)
    scores = F.linear(h, params["rest.output.weight"], params["rest.output.bias"]).squeeze(-1)
    w = torch.stack([torch.where(mask[b], scores[b], 0.0) for b in range(len(scores))])
    return (w.unsqueeze(-1) * keys).sum(1), w


def test_unit_check_refuses_the_package_unit():
    """03.2: the package's ActivationUnit (or one of its methods) in the answer is no answer; own names are fine."""
    with pytest.raises(ExerciseFailed, match="calls ActivationUnit: the exercise is to write the unit's forward"):
        check_activation_unit(runs_the_package)
    with pytest.raises(ExerciseFailed, match="calls .scores \\(a method of the package's ActivationUnit\\)"):
        check_activation_unit(runs_a_units_scores)
    assert check_activation_unit(own_scores_in_a_comprehension) is True


def test_unit_check_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_activation_unit(make_unit())  # builds reference units with random weights inside
    assert torch.equal(torch.rand(3), expected)


# ---- 03.3 masked softmax
def softmax_everywhere(scores, mask):
    return torch.softmax(scores, -1)


def fill_with_zero(scores, mask):
    return torch.where(mask, torch.softmax(scores.masked_fill(~mask, 0.0), -1), 0.0)


def zero_after(scores, mask):
    return torch.where(mask, torch.softmax(scores, -1), 0.0)


def uniform_on_empty_rows(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), -1)


def naive_exp(scores, mask):
    e = torch.exp(scores) * mask
    return e / e.sum(-1, keepdim=True).clamp_min(1e-30)


def nan_on_empty_rows(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)


@pytest.mark.parametrize("wrong, words", [
    (softmax_everywhere, "mask BEFORE the softmax"),
    (fill_with_zero, "exp\\(0\\) = 1"),
    (zero_after, "do not sum to 1"),
    (uniform_on_empty_rows, "not 1/L"),
    (naive_exp, "overflows"),
    (nan_on_empty_rows, "no real behaviour"),
])
def test_softmax_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_masked_softmax(wrong)


def softmax_of_the_package(scores, mask):  # right, but only a wrapper of what the exercise asks to write
    return ActivationUnit(1, dims=[1], use_softmax=True).weights_from_scores(scores, mask)


def softmax_of_a_unit(scores, mask):  # no ActivationUnit in sight: the method of a unit's class
    return type(_SOME_UNIT)(1, dims=[1], use_softmax=True).weights_from_scores(scores, mask)


def test_softmax_check_refuses_the_package_unit():
    """03.3: ActivationUnit(...).weights_from_scores is the check's reference, not an answer."""
    with pytest.raises(ExerciseFailed, match="calls ActivationUnit: the exercise is to write the masked softmax"):
        check_masked_softmax(softmax_of_the_package)
    with pytest.raises(ExerciseFailed, match="calls weights_from_scores: the exercise is to write the masked softmax"):
        check_masked_softmax(softmax_of_a_unit)


# ---- review findings: an alias of the unit; F.prelu on the (B, L, H) hidden layer
AU = ActivationUnit  # a module-level alias, as a notebook cell could leave one


def runs_the_unit_through_an_alias(query, keys, mask, params):
    u = AU(query.shape[1], dims=[5], activation="prelu").eval()
    u.load_state_dict(params)
    return u(query, keys, mask, return_weights=True)


_A_UNIT = ActivationUnit(1, dims=[1], use_softmax=True)
_ITS_SOFTMAX = _A_UNIT.weights_from_scores  # a bound method, under another name


def with_f_prelu(query, keys, mask, params):  # PyTorch's PReLU puts the channels on dim 1, not last
    q = query.unsqueeze(1).expand_as(keys)
    h = F.linear(torch.cat([q, keys, q - keys, q * keys], -1), params["first.weight"], params["first.bias"])
    h = F.prelu(h, params["act.alpha"])
    scores = F.linear(h, params["rest.output.weight"], params["rest.output.bias"]).squeeze(-1)
    w = torch.where(mask, scores, 0.0)
    return (w.unsqueeze(-1) * keys).sum(1), w


def prelu_with_channels_moved(query, keys, mask, params):  # the same, with the channels on dim 1: right
    q = query.unsqueeze(1).expand_as(keys)
    h = F.linear(torch.cat([q, keys, q - keys, q * keys], -1), params["first.weight"], params["first.bias"])
    h = F.prelu(h.transpose(1, 2), params["act.alpha"]).transpose(1, 2)
    scores = F.linear(h, params["rest.output.weight"], params["rest.output.bias"]).squeeze(-1)
    w = torch.where(mask, scores, 0.0)
    return (w.unsqueeze(-1) * keys).sum(1), w


def test_unit_checks_refuse_the_unit_under_another_name():
    with pytest.raises(ExerciseFailed, match="calls ActivationUnit \\(as AU\\): the exercise is to write the unit's"):
        check_activation_unit(runs_the_unit_through_an_alias)
    with pytest.raises(ExerciseFailed, match="calls weights_from_scores \\(as _ITS_SOFTMAX\\): the exercise is to "
                                             "write the masked softmax"):
        check_masked_softmax(lambda scores, mask: _ITS_SOFTMAX(scores, mask))


def test_unit_check_blames_f_prelu_not_the_input_blocks():
    with pytest.raises(ExerciseFailed, match="F.prelu and nn.PReLU take the channels on dimension 1") as err:
        check_activation_unit(with_f_prelu)
    assert "4 * D" not in str(err.value)
    assert check_activation_unit(prelu_with_channels_moved) is True
