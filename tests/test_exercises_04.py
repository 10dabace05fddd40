"""Exercises of notebooks/04_dice.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import pytest
import torch
from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial.checks import ExerciseFailed, check_dice_eval, check_dice_fold, check_dice_train, check_masked_moments

NAMES = ["04_dice_ex1", "04_dice_ex2", "04_dice_ex3"]


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


@pytest.mark.parametrize("check", [check_dice_train, check_dice_fold, check_dice_eval, check_masked_moments])
def test_stub_is_reported_as_todo(check, capsys):
    assert_stub_is_todo(check, capsys)


def eq9(s, alpha, mean, var, eps=1e-8):
    p = torch.sigmoid((s - mean) / torch.sqrt(var + eps))
    return p * s + (1 - p) * alpha * s


# ---- 04.1 training mode
def with_batchnorm(s, alpha):  # nn.BatchNorm1d inside p: eps 1e-5 (and a learned affine)
    p = torch.sigmoid(torch.nn.BatchNorm1d(s.shape[1])(s))
    return p * s + (1 - p) * alpha * s


def without_eps(s, alpha):
    return eq9(s, alpha, s.mean(0), s.var(0, unbiased=False), eps=0.0)


def unbiased_variance(s, alpha):
    return eq9(s, alpha, s.mean(0), s.var(0))


def per_row_statistics(s, alpha):
    return eq9(s, alpha, s.mean(1, keepdim=True), s.var(1, unbiased=False, keepdim=True))


def swapped_gate(s, alpha):
    p = torch.sigmoid((s - s.mean(0)) / torch.sqrt(s.var(0, unbiased=False) + 1e-8))
    return (1 - p) * s + p * alpha * s


def fixed_statistics(s, alpha):  # the official code's Dice: moving averages that never moved
    return eq9(s, alpha, 0.0, torch.tensor(1.0))


def detached_alpha(s, alpha):
    return eq9(s, alpha.detach(), s.mean(0), s.var(0, unbiased=False))


def detached_mean(s, alpha, mask=None):  # a batch statistic treated as a constant: the forward pass is right
    return eq9(s, alpha, s.mean(0).detach(), s.var(0, unbiased=False))


def detached_var(s, alpha, mask=None):
    return eq9(s, alpha, s.mean(0), s.var(0, unbiased=False).detach())


def statistics_under_no_grad(s, alpha, mask=None):
    with torch.no_grad():
        mean, var = s.mean(0), s.var(0, unbiased=False)
    return eq9(s, alpha, mean, var)


def masked_right(s, alpha, mask=None):
    real = s.reshape(-1, s.shape[-1]) if mask is None else s[mask]
    return eq9(s, alpha, real.mean(0), real.var(0, unbiased=False))


def padding_in_statistics(s, alpha, mask=None):  # right on (N, C), ignores the mask
    return masked_right(s, alpha)


def first_axis_only(s, alpha, mask=None):  # (N, C) right; on (B, L, C) statistics per (step, channel)
    return eq9(s, alpha, s.mean(0), s.var(0, unbiased=False))


def no_mask_argument(s, alpha, eps=1e-8):
    return eq9(s, alpha, s.mean(0), s.var(0, unbiased=False), eps)


def test_the_right_answer_with_other_names_passes():
    assert check_dice_train(masked_right) is True


@pytest.mark.parametrize("wrong, words", [
    (detached_mean, "does not flow through E\\[s\\]"),
    (detached_var, "does not flow through Var\\[s\\]"),
    (statistics_under_no_grad, "does not flow through E\\[s\\] and Var\\[s\\]"),
    (padding_in_statistics, "padded steps are in your statistics"),
    (first_axis_only, "over the batch AND the sequence"),
    (no_mask_argument, "third argument, mask=None"),
    (with_batchnorm, "1e-5"),
    (without_eps, "eps"),
    (unbiased_variance, "biased variance"),
    (per_row_statistics, "per channel"),
    (swapped_gate, "p multiplies s"),
    (fixed_statistics, "this batch's statistics"),
    (detached_alpha, "no gradient"),
])
def test_train_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_dice_train(wrong)


# ---- 04.2 the folded gate
def fold_sign(m, v, eps=1e-8):
    scale = 1 / torch.sqrt(v + eps)
    return scale, m * scale


def fold_unscaled_shift(m, v, eps=1e-8):
    return 1 / torch.sqrt(v + eps), -m


def fold_var_as_std(m, v, eps=1e-8):
    return 1 / (v + eps), -m / (v + eps)


def fold_without_eps(m, v, eps=1e-8):
    scale = 1 / torch.sqrt(v)
    return scale, -m * scale


def fold_one_number(m, v, eps=1e-8):
    return torch.tensor(1.0), torch.tensor(0.0)


@pytest.mark.parametrize("wrong, words", [
    (fold_sign, "sign"),
    (fold_unscaled_shift, "shift is scaled too"),
    (fold_var_as_std, "variance"),
    (fold_without_eps, "not finite"),
    (fold_one_number, "per channel"),
])
def test_fold_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_dice_fold(wrong)


# ---- Dice at inference written out (check_dice_eval, kept for instructors)
def batch_statistics(s, alpha, running_mean, running_var, eps=1e-8):
    return eq9(s, alpha, s.mean(0), s.var(0, unbiased=False), eps)


def batch_statistics_unbiased(s, alpha, running_mean, running_var, eps=1e-8):
    return eq9(s, alpha, s.mean(0), s.var(0) if len(s) > 1 else torch.zeros(s.shape[1]), eps)


def var_as_std(s, alpha, running_mean, running_var, eps=1e-8):
    p = torch.sigmoid((s - running_mean) / (running_var + eps))
    return p * s + (1 - p) * alpha * s


def eval_without_eps(s, alpha, running_mean, running_var, eps=1e-8):
    return eq9(s, alpha, running_mean, running_var, eps=0.0)


@pytest.mark.parametrize("wrong, words", [
    (batch_statistics, "batch's statistics"),
    (batch_statistics_unbiased, "batch's statistics"),
    (var_as_std, "running_var is a variance"),
    (eval_without_eps, "eps"),
])
def test_eval_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_dice_eval(wrong)


# ---- 04.3 masked statistics
def with_padding(x, mask):
    flat = x.reshape(-1, x.shape[-1])
    return flat.mean(0), flat.var(0, unbiased=False)


def divides_by_all_steps(x, mask):
    w = mask.unsqueeze(-1).to(x.dtype)
    mean = (x * w).sum((0, 1)) / mask.numel()
    return mean, ((x - mean) ** 2 * w).sum((0, 1)) / mask.numel()


def unbiased_masked(x, mask):
    real = x[mask]
    return real.mean(0), real.var(0)


def per_sample(x, mask):
    w = mask.unsqueeze(-1).to(x.dtype)
    n = w.sum(1).clamp_min(1)
    mean = (x * w).sum(1) / n
    return mean, ((x - mean[:, None]) ** 2 * w).sum(1) / n


def padded_in_variance(x, mask):
    real = x[mask]
    mean = real.mean(0)
    return mean, ((x - mean) ** 2).sum((0, 1)) / real.shape[0]


@pytest.mark.parametrize("wrong, words", [
    (with_padding, "padded steps are in your statistics"),
    (divides_by_all_steps, "number of real steps"),
    (unbiased_masked, "biased variance"),
    (per_sample, "one value per channel"),
    (padded_in_variance, "weight each squared"),
])
def test_moments_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_masked_moments(wrong)


# ---- shortcuts through the package's Dice: refused
def train_by_the_package(s, alpha, mask=None, eps=1e-8):  # right values, but the package computes them
    from din_tutorial import Dice

    p = torch.sigmoid(Dice(s.shape[-1], eps=eps).to(s.dtype).train().normalize(s, mask))
    return p * s + (1 - p) * alpha * s


def train_by_batch_norm(s, alpha, mask=None, eps=1e-8):  # torch's batch normalisation computes the statistics
    import torch.nn.functional as F

    flat = s.reshape(-1, s.shape[-1])
    real = torch.ones(len(flat), dtype=torch.bool) if mask is None else mask.reshape(-1)
    xhat = torch.zeros_like(flat).index_put((real,), F.batch_norm(flat[real], None, None, training=True, eps=eps))
    p = torch.sigmoid(xhat.reshape(s.shape))
    return p * s + (1 - p) * alpha * s


def fold_by_the_package(m, v, eps=1e-8):
    from din_tutorial import Dice

    d = Dice(m.shape[0], eps=eps).eval()
    d.running_mean.copy_(m)
    d.running_var.copy_(v)
    with torch.no_grad():
        shift = d.normalize(torch.zeros(1, m.shape[0]))[0]
        return d.normalize(torch.ones(1, m.shape[0]))[0] - shift, shift


def moments_by_the_package(x, mask):  # Dice with momentum 1 keeps the last batch's statistics
    from din_tutorial import Dice

    d = Dice(x.shape[-1], momentum=1.0)
    with torch.no_grad():
        d(x, mask)
    n = mask.sum()
    return d.running_mean, d.running_var * (n - 1) / n


def moments_by_batchnorm(x, mask):
    bn = torch.nn.BatchNorm1d(x.shape[-1], momentum=1.0)
    with torch.no_grad():
        bn(x[mask])
    n = mask.sum()
    return bn.running_mean, bn.running_var * (n - 1) / n


@pytest.mark.parametrize("check, shortcut, name", [
    (check_dice_train, train_by_the_package, "Dice"),
    (check_dice_train, train_by_batch_norm, "batch_norm"),
    (check_dice_fold, fold_by_the_package, "Dice"),
    (check_masked_moments, moments_by_the_package, "Dice"),
    (check_masked_moments, moments_by_batchnorm, "running_mean"),
])
def test_answers_through_the_package_are_refused(check, shortcut, name):
    with pytest.raises(ExerciseFailed, match=f"calls {name}: the exercise is to write"):
        check(shortcut)


def test_the_shortcuts_would_pass_without_the_refusal(monkeypatch):
    """The refused answers give the right numbers: the refusal, not a mismatch, is what stops them."""
    import din_tutorial.checks.dice_checks as dc

    monkeypatch.setattr(dc, "refuse_calls", lambda *args, **kwargs: None)
    for check, shortcut in ((check_dice_train, train_by_the_package), (check_dice_train, train_by_batch_norm),
                            (check_dice_fold, fold_by_the_package),
                            (check_masked_moments, moments_by_the_package),
                            (check_masked_moments, moments_by_batchnorm)):
        assert check(shortcut) is True


# ---- review findings: eps outside the root in the fold, NumPy moments, aliases, a learner's own `normalize`
def fold_eps_outside_the_root(m, v, eps=1e-8):
    scale = 1 / (torch.sqrt(v) + eps)
    return scale, -m * scale


def fold_right(m, v, eps=1e-8):
    scale = 1 / torch.sqrt(v + eps)
    return scale, -m * scale


def test_fold_check_catches_eps_outside_the_square_root_with_its_hint():
    """04.2's batch holds an input close to the running mean of the channel whose running variance is 0, so
    1 / (sqrt(0) + eps) and 1 / sqrt(0 + eps) give different gates there."""
    with pytest.raises(ExerciseFailed, match="eps goes inside the square root"):
        check_dice_fold(fold_eps_outside_the_root)
    assert check_dice_fold(fold_right) is True


def moments_in_numpy(x, mask):  # right: 04.3 asks for no gradient, so NumPy will do
    real = x.numpy()[mask.numpy()].astype("float64")
    return real.mean(0), real.var(0)


def moments_in_numpy_unbiased(x, mask):
    real = x.numpy()[mask.numpy()].astype("float64")
    return real.mean(0), real.var(0, ddof=1)


def test_moments_check_accepts_numpy_and_gives_its_own_hints():
    assert check_masked_moments(moments_in_numpy) is True
    with pytest.raises(ExerciseFailed, match="biased variance") as err:
        check_masked_moments(moments_in_numpy_unbiased)
    assert "alpha" not in str(err.value)


def normalize(s, mean, var, eps=1e-8):  # the learner's own helper, named like Dice's method: fine
    return (s - mean) / torch.sqrt(var + eps)


def train_with_own_normalize(s, alpha, mask=None, eps=1e-8):
    real = s.reshape(-1, s.shape[-1]) if mask is None else s[mask]
    mean = real.mean(0)
    p = torch.sigmoid(normalize(s, mean, ((real - mean) ** 2).mean(0), eps))
    return p * s + (1 - p) * alpha * s


from din_tutorial import Dice as D  # an alias, as a notebook cell could leave one


def moments_through_an_alias(x, mask):
    d = D(x.shape[-1], momentum=1.0)
    with torch.no_grad():
        d(x, mask)
    n = mask.sum()
    return d.running_mean, d.running_var * (n - 1) / n


def test_own_helper_named_like_the_package_passes_and_an_alias_is_refused():
    assert check_dice_train(train_with_own_normalize) is True
    with pytest.raises(ExerciseFailed, match="calls Dice \\(as D\\): the exercise is to write"):
        check_masked_moments(moments_through_an_alias)
