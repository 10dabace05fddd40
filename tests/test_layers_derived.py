"""Prediction reuses small tensors derived from parameters; they must follow every change of the parameters."""
from __future__ import annotations

import copy

import torch

from din_tutorial.layers import ActivationUnit, Dice
from din_tutorial.layers.activation_unit import PackedSteps


def predict(module, *args):
    with torch.no_grad():
        return module(*args)


def reference(module, *args):
    """The same module with autograd on: no cached tensors are used."""
    return module(*args).detach()


def test_dice_prediction_follows_in_place_edits_optimizer_steps_and_loaded_state():
    torch.manual_seed(0)
    d = Dice(4)
    x = torch.randn(6, 4)
    d.train()
    d(torch.randn(32, 4) * 3 + 1)  # moving averages away from (0, 1)
    d.eval()
    first = predict(d, x)
    torch.testing.assert_close(first, reference(d, x))
    with torch.no_grad():
        d.running_var.mul_(4.0)  # an in-place edit
    assert not torch.allclose(predict(d, x), first)
    torch.testing.assert_close(predict(d, x), reference(d, x))
    opt = torch.optim.SGD(d.parameters(), lr=0.5)
    d(x).sum().backward()
    opt.step()  # alpha changes in place
    torch.testing.assert_close(predict(d, x), reference(d, x))
    other = Dice(4)
    with torch.no_grad():
        other.alpha.fill_(0.3)
        other.running_mean.fill_(-1.0)
    d.load_state_dict(other.state_dict())
    torch.testing.assert_close(predict(d, x), reference(other.eval(), x))
    twin = copy.deepcopy(d)  # a copy starts from its own tensors
    with torch.no_grad():
        twin.alpha.fill_(-0.2)
    torch.testing.assert_close(predict(twin, x), reference(twin, x))
    torch.testing.assert_close(predict(d, x), reference(d, x))


def test_packed_activation_unit_prediction_follows_weight_changes():
    torch.manual_seed(1)
    unit = ActivationUnit(3, dims=[5, 2], activation="dice").eval()
    query = torch.randn(2, 3)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    keys = torch.randn(int(mask.sum()), 3)
    steps = PackedSteps.from_mask(mask)
    torch.testing.assert_close(predict(unit.forward_packed, query, keys, steps),
                               reference(unit.forward_packed, query, keys, steps))
    with torch.no_grad():
        unit.first.weight.add_(0.5)
    torch.testing.assert_close(predict(unit.forward_packed, query, keys, steps),
                               reference(unit.forward_packed, query, keys, steps))
    unit.first.weight = torch.nn.Parameter(torch.randn_like(unit.first.weight))  # replaced, not edited
    torch.testing.assert_close(predict(unit.forward_packed, query, keys, steps),
                               reference(unit.forward_packed, query, keys, steps))
