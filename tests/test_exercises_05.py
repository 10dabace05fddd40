"""Exercises of notebooks/05_training.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import math

import pytest
import torch
import torch.nn.functional as F
from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial.checks import ExerciseFailed, check_early_stopping, check_training_step
from din_tutorial.checks.training_checks import _rule, _trainer_stops


@pytest.mark.parametrize("name", ["05_training_ex1", "05_training_ex2"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 05.1 one training step
def _step(train=True, zero_grad=True, logits=False, step=True, reg=True, ret=lambda loss, full: loss.item()):
    def train_step(model, x, y, optimizer):
        if train:
            model.train()
        p = model(x)
        loss = F.binary_cross_entropy_with_logits(p, y) if logits else F.binary_cross_entropy(p, y)
        full = loss + model.regularization_loss(x) if reg else loss
        if zero_grad:
            optimizer.zero_grad()
        full.backward()
        if step:
            optimizer.step()
        return ret(loss, full)

    return train_step


def test_check_model_has_a_regularisation_term():
    from din_tutorial.checks.training_checks import _batches, _start

    model = _start()
    x, _ = _batches(model)[0]
    assert model.mba_reg > 0 and float(model.regularization_loss(x)) > 0


def test_training_step_accepts_a_tensor_loss_and_zero_grad_after_step():
    def clears_afterwards(model, x, y, optimizer):
        model.train()
        loss = F.binary_cross_entropy(model(x), y)
        (loss + model.regularization_loss(x)).backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.detach()

    assert check_training_step(clears_afterwards)


@pytest.mark.parametrize("wrong, words", [
    (_step(zero_grad=False), "ADDS new gradients"),
    (_step(logits=True), "already returns probabilities"),
    (_step(train=False), "training mode before the forward pass"),
    (_step(step=False), "the optimiser's step applies them"),
    (_step(ret=lambda loss, full: None), "loss.item"),
    (_step(reg=False), "regularisation term"),
    (_step(ret=lambda loss, full: full.item()), "log loss alone"),
])
def test_training_step_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_training_step(wrong)


# ---- 05.2 early stopping
def test_reference_rule_is_what_the_trainer_does():
    for aucs, patience in [([0.5, 0.6, 0.6, 0.6, 0.7], 2), ([0.9, 0.8, 0.7], 3), ([0.6, 0.7, 0.65, 0.66], 1)]:
        assert _trainer_stops(aucs, patience) == _rule(aucs, patience)


def _learners_rule(val_aucs, patience, better=lambda a, b: a > b, against_last=False, min_delta=0.0, creep=False):
    """A learner's copy of the check's rule (the check refuses its own ``_rule`` as an answer), with its mistakes."""
    best, best_epoch, ref, stale = -math.inf, 0, -math.inf, 0
    for epoch, auc in enumerate(val_aucs):
        if better(auc, ref + min_delta) or (best == -math.inf and better(auc, ref)):
            best, best_epoch, stale = auc, epoch, 0
        else:
            if creep and auc > best:
                best, best_epoch = auc, epoch
            stale += 1
            if stale >= patience:
                return best_epoch, epoch
        ref = auc if against_last else best
    return best_epoch, len(val_aucs) - 1


def test_the_learners_copy_is_the_checks_rule():
    from din_tutorial.checks.training_checks import _CASES

    assert all(_learners_rule(a, p, min_delta=d) == _rule(a, p, min_delta=d) for a, p, d in _CASES)
    assert check_early_stopping(lambda a, p, d: _learners_rule(a, p, min_delta=d)) is True
    with pytest.raises(ExerciseFailed, match="calls _rule, which the checks define"):
        check_early_stopping(lambda a, p, d: _rule(a, p, min_delta=d))


@pytest.mark.parametrize("wrong, words", [
    (lambda a, p, d: tuple(v + 1 for v in _learners_rule(a, p, min_delta=d)), "counted from 0"),
    (lambda a, p, d: (_learners_rule(a, p, min_delta=d)[0], _learners_rule(a, p, min_delta=d)[1] + 1), "one too late"),
    (lambda a, p, d: (_learners_rule(a, p, min_delta=d)[0], _learners_rule(a, p, min_delta=d)[1] - 1), "one too early"),
    (lambda a, p, d: _learners_rule(a, p, better=lambda x, y: x >= y, min_delta=d), "equal to the best"),
    (lambda a, p, d: _learners_rule(a, p, against_last=True, min_delta=d), "BEST AUC so far"),
    (lambda a, p, d: _learners_rule(a, p), "ignored min_delta"),
    (lambda a, p, d: _learners_rule(a, p, min_delta=d, creep=True), "must not move the best"),
    (lambda a, p, d: _learners_rule(a, p, min_delta=d)[0], "two integers"),
])
def test_early_stopping_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_early_stopping(wrong)


def test_min_delta_cases_differ_from_the_plain_rule():
    from din_tutorial.checks.training_checks import _CASES

    assert any(d > 0 and _rule(a, p, min_delta=d) != _rule(a, p) for a, p, d in _CASES)
    assert any(d > 0 and _rule(a, p, min_delta=d) != _rule(a, p, min_delta=d, creep=True) for a, p, d in _CASES)


@pytest.mark.parametrize("check", [check_training_step, check_early_stopping])
def test_stub_is_todo(check, capsys):
    assert_stub_is_todo(check, capsys)


def test_training_step_check_leaves_global_seed_usable():
    torch.manual_seed(0)
    a = torch.rand(1)
    check_training_step(_step())
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), a)


# ---- review finding: the package's trainer, the check's reference, as the answer
from din_tutorial.training import CTRTrainer


def steps_with_the_trainer(model, x, y, optimizer):  # right numbers: it is what the check compares with
    trainer = CTRTrainer(model, optimizer_fn=lambda params, **settings: optimizer, verbose=False)
    return trainer.train_one_epoch([(x, y)])


Trainer = CTRTrainer


def steps_with_an_alias(model, x, y, optimizer):
    return Trainer(model, optimizer_fn=lambda params, **settings: optimizer, verbose=False).train_one_epoch([(x, y)])


def steps_with_a_method_of_some_trainer(model, x, y, optimizer):  # the trainer out of sight: only its method
    trainer = make_trainer(model, optimizer)
    return trainer.train_one_epoch([(x, y)])


def make_trainer(model, optimizer):
    return Trainer(model, optimizer_fn=lambda params, **settings: optimizer, verbose=False)


@pytest.mark.parametrize("shortcut, words", [
    (steps_with_the_trainer, "calls CTRTrainer: the exercise is to write the step"),
    (steps_with_an_alias, "calls CTRTrainer \\(as Trainer\\): the exercise is to write the step"),
    (steps_with_a_method_of_some_trainer, "calls CTRTrainer \\(as Trainer\\)"),
])
def test_training_step_check_refuses_the_trainer(shortcut, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_training_step(shortcut)


def test_the_trainer_shortcut_would_pass_without_the_refusal(monkeypatch):
    import din_tutorial.checks.training_checks as tc

    monkeypatch.setattr(tc, "refuse_calls", lambda *args, **kwargs: None)
    assert check_training_step(steps_with_the_trainer) is True


def fit(model, x, y, optimizer):  # the learner's own helper, named like the trainer's method: fine
    model.train()
    loss = F.binary_cross_entropy(model(x), y)
    optimizer.zero_grad()
    (loss + model.regularization_loss(x)).backward()
    optimizer.step()
    return loss.item()


def test_training_step_check_accepts_an_own_helper_named_fit():
    assert check_training_step(lambda model, x, y, optimizer: fit(model, x, y, optimizer)) is True
