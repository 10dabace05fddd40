"""The activation unit against a hand-written loop over samples and behaviours (paper Eq. 3)."""
from __future__ import annotations

import pytest
import torch

from din_tutorial.layers import ActivationUnit, Dice
from din_tutorial.layers.activation_unit import PackedSteps


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

D = 6


def make_inputs(batch=5, seq_len=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, D, generator=g)
    keys = torch.randn(batch, seq_len, D, generator=g)
    lengths = torch.tensor([3, 7, 1, 0, 5])[:batch]  # one full, one of length 1, one fully padded
    mask = torch.arange(seq_len)[None, :] < lengths[:, None]
    keys = torch.where(mask.unsqueeze(-1), keys, torch.zeros(()))  # padded steps embed to zero, as in the model
    return query, keys, mask


def make_unit(activation="prelu", use_softmax=False, seed=0) -> ActivationUnit:
    torch.manual_seed(seed)
    unit = ActivationUnit(D, dims=[8, 4], activation=activation, dropout=0.0, use_softmax=use_softmax)
    with torch.no_grad():  # activations away from their defaults, so the test sees them
        for m in unit.modules():
            if isinstance(m, Dice):
                m.alpha.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return unit


def loop_reference(unit: ActivationUnit, query, keys, mask):
    """One behaviour at a time: a(.) over [q, k, q-k, q*k], no softmax (or a softmax over the real steps)."""
    batch, seq_len, _ = keys.shape
    pooled = torch.zeros(batch, D)
    weights = torch.zeros(batch, seq_len)
    for b in range(batch):
        scores = {}
        for j in range(seq_len):
            if not mask[b, j]:
                continue  # padded behaviour: weight 0, never scored
            q, k = query[b], keys[b, j]
            h = unit.first(torch.cat([q, k, q - k, q * k]))
            h = unit.act(h.unsqueeze(0)).squeeze(0)  # elementwise (PReLU, or Dice in eval mode)
            for linear, act, _ in unit.rest.layers:
                h = act(linear(h).unsqueeze(0)).squeeze(0)
            scores[j] = unit.rest.output(h).squeeze()
        if unit.use_softmax and scores:
            z = torch.stack(list(scores.values())).softmax(0)
            scores = dict(zip(scores, z))
        for j, s in scores.items():
            weights[b, j] = s
            pooled[b] += s * keys[b, j]
    return pooled, weights


@pytest.mark.parametrize("use_softmax", [False, True])
@pytest.mark.parametrize("activation,train", [("prelu", True), ("dice", False), ("relu", True)])
def test_matches_hand_written_loop(use_softmax, activation, train):
    query, keys, mask = make_inputs()
    unit = make_unit(activation, use_softmax)
    unit.train(train)
    want_pooled, want_w = loop_reference(unit, query, keys, mask)
    with torch.no_grad():
        pooled, w = unit(query, keys, mask, return_weights=True)
        torch.testing.assert_close(pooled, want_pooled, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(w, want_w, rtol=1e-5, atol=1e-6)
        # the naive (official code's form) first layer and the packed path give the same
        torch.testing.assert_close(unit(query, keys, mask, naive=True), want_pooled, rtol=1e-5, atol=1e-6)
        steps = PackedSteps.from_mask(mask)
        p_pooled, p_w = unit.forward_packed(query, keys.reshape(-1, D)[steps.pos], steps, return_weights=True)
        torch.testing.assert_close(p_pooled, want_pooled, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(p_w, want_w, rtol=1e-5, atol=1e-6)


def test_fast_first_layer_equals_naive_concatenation():
    """W [q, k, q-k, q*k] = (W1 + W3) q + (W2 - W3) k + W4 (q * k)."""
    query, keys, _ = make_inputs(seed=4)
    unit = make_unit("dice")
    torch.testing.assert_close(unit.first_layer(query, keys), unit.first_layer_naive(query, keys), rtol=1e-5, atol=1e-6)
    # and the gradients with respect to the weights agree too
    g = torch.randn(5, 7, 8)
    fast = torch.autograd.grad(unit.first_layer(query, keys), unit.first.weight, g)[0]
    naive = torch.autograd.grad(unit.first_layer_naive(query, keys), unit.first.weight, g)[0]
    torch.testing.assert_close(fast, naive, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("use_softmax", [False, True])
def test_padding_gets_exactly_zero_and_an_empty_history_gives_zero(use_softmax):
    query, keys, mask = make_inputs()
    unit = make_unit("dice", use_softmax).eval()
    garbage = torch.where(mask.unsqueeze(-1), keys, torch.full_like(keys, 50.0))  # padding content must not matter
    pooled, w = unit(query, garbage, mask, return_weights=True)
    assert torch.all(w[~mask] == 0)
    assert torch.all(pooled[3] == 0) and torch.all(w[3] == 0)  # sample 3 has no behaviour
    torch.testing.assert_close(pooled, unit(query, keys, mask))
    if use_softmax:
        torch.testing.assert_close(w[mask.any(1)].sum(1), torch.ones(4))


def test_no_softmax_keeps_intensity():
    """Without softmax, repeating a relevant behaviour raises the pooled vector's size (the paper's reason)."""
    unit = make_unit("prelu").eval()
    q = torch.randn(1, D)
    k = torch.randn(1, 1, D)
    one = unit(q, k)
    three = unit(q, k.repeat(1, 3, 1))
    torch.testing.assert_close(three, 3 * one)
    soft = make_unit("prelu", use_softmax=True).eval()
    torch.testing.assert_close(soft(q, k.repeat(1, 3, 1)), soft(q, k))


def test_dense_masked_training_equals_packed_training_with_dice():
    """Dice's batch statistics over the real steps: masked dense form == packed form, values and gradients."""
    query, keys, mask = make_inputs(seed=2)
    unit = make_unit("dice").train()
    query.requires_grad_()
    dense = unit(query, keys, mask)
    steps = PackedSteps.from_mask(mask)
    unit2 = make_unit("dice").train()
    packed = unit2.forward_packed(query, keys.reshape(-1, D)[steps.pos], steps)
    torch.testing.assert_close(dense, packed, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(dense)
    torch.testing.assert_close(torch.autograd.grad(dense, query, g)[0], torch.autograd.grad(packed, query, g)[0],
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("use_softmax", [False, True])
@pytest.mark.parametrize("activation", ["dice", "prelu"])
def test_packed_gradients_equal_dense_gradients(activation, use_softmax):
    """The packed path (real steps picked with index_select, summed back with index_add) against the dense
    masked form: gradients of the query, the keys and every parameter."""
    query, keys, mask = make_inputs(seed=3)
    dense_unit = make_unit(activation, use_softmax).train()
    packed_unit = make_unit(activation, use_softmax).train()
    q1, k1 = query.clone().requires_grad_(), keys.clone().requires_grad_()
    q2, k2 = query.clone().requires_grad_(), keys.clone().requires_grad_()
    steps = PackedSteps.from_mask(mask)
    dense = dense_unit(q1, k1, mask)
    packed = packed_unit.forward_packed(q2, k2.reshape(-1, D)[steps.pos], steps)
    g = torch.randn_like(dense)
    (dense * g).sum().backward()
    (packed * g).sum().backward()
    torch.testing.assert_close(q2.grad, q1.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(k2.grad, torch.where(mask.unsqueeze(-1), k1.grad, 0.0), rtol=1e-4, atol=1e-6)
    for (name, p1), (_, p2) in zip(dense_unit.named_parameters(), packed_unit.named_parameters()):
        torch.testing.assert_close(p2.grad, p1.grad, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


def test_needs_a_hidden_layer():
    with pytest.raises(ValueError, match="at least one hidden layer"):
        ActivationUnit(4, dims=[])
