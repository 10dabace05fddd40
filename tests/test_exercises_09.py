"""Exercises of notebooks/09_scaling_out.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import pytest
import torch

from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial.checks import ExerciseFailed, check_global_statistics, check_table_bytes

STATE = {"sgd": 0, "momentum": 1, "adagrad": 1, "adam": 2}


@pytest.mark.parametrize("name", ["09_scaling_out_ex1", "09_scaling_out_ex2"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 09.1 the bytes of a table in training
def no_padding_row(v, d, opt):
    return v * d * 4 * (2 + STATE[opt])


def weights_only(v, d, opt):
    return (v + 1) * d * 4


def no_gradient(v, d, opt):
    return (v + 1) * d * 4 * (1 + STATE[opt])


def bits(v, d, opt):
    return (v + 1) * d * 32 * (2 + STATE[opt])


def float64(v, d, opt):
    return (v + 1) * d * 8 * (2 + STATE[opt])


def adam_one_copy(v, d, opt):
    return (v + 1) * d * 4 * (2 + {"sgd": 0, "momentum": 1, "adagrad": 1, "adam": 1}[opt])


def gigabytes(v, d, opt):
    return (v + 1) * d * 4 * (2 + STATE[opt]) / 1e9


def as_text(v, d, opt):
    return f"{(v + 1) * d * 4 * (2 + STATE[opt])} bytes"


@pytest.mark.parametrize("wrong, words", [
    (no_padding_row, "one row more than the vocabulary"),
    (weights_only, "more than the weights"),
    (no_gradient, "gradient is a full table"),
    (bits, "bytes, not bits"),
    (float64, "4 bytes each, not 8"),
    (adam_one_copy, "which state tensors"),
    (gigabytes, "not MB or GB"),
    (as_text, "as an int"),
])
def test_table_bytes_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_table_bytes(wrong)


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


def test_measured_reference_is_what_torch_allocates():
    """The check's 'measured' cases read real tensors: Adam keeps two table-sized states, SGD none."""
    from din_tutorial.checks.scaling_checks import _by_sizes, _measured_bytes

    for opt in STATE:
        assert _measured_bytes(12, 3, opt) == _by_sizes(12, 3, opt) == 13 * 3 * 4 * (2 + STATE[opt])


@pytest.mark.parametrize("check", [check_table_bytes, check_global_statistics])
def test_stub_is_todo(check, capsys):
    assert_stub_is_todo(check, capsys)
