"""Dice against the paper's formula (Eq. 9), computed independently in float64 NumPy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from din_tutorial.layers import Dice


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

EPS = 1e-8


def paper_dice(s: np.ndarray, alpha: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """f(s) = p(s) s + (1 - p(s)) alpha s,  p(s) = 1 / (1 + exp(-(s - E[s]) / sqrt(Var[s] + eps)))."""
    p = 1.0 / (1.0 + np.exp(-(s - mean) / np.sqrt(var + EPS)))
    return p * s + (1.0 - p) * alpha * s


def make_input(n=64, c=5, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g) * torch.linspace(0.5, 3.0, c) + torch.linspace(-2.0, 2.0, c)


def make_dice(c=5, seed=0) -> Dice:
    d = Dice(c)
    with torch.no_grad():
        d.alpha.copy_(torch.linspace(-0.3, 0.6, c))
    return d


def test_train_mode_uses_batch_statistics_as_the_paper():
    x = make_input()
    d = make_dice().train()
    y = d(x)
    s = x.double().numpy()
    want = paper_dice(s, d.alpha.detach().double().numpy(), s.mean(0), s.var(0))  # biased variance: E[(s - E s)^2]
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-5, atol=1e-5)


def test_train_mode_updates_moving_averages():
    x = make_input()
    d = make_dice().train()
    d(x)
    s = x.double().numpy()
    np.testing.assert_allclose(d.running_mean.numpy(), 0.1 * s.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.running_var.numpy(), 0.9 + 0.1 * s.var(0, ddof=1), rtol=1e-5)


def test_eval_mode_uses_moving_averages():
    x = make_input(seed=1)
    d = make_dice()
    with torch.no_grad():
        d.running_mean.copy_(torch.tensor([0.5, -1.0, 0.0, 2.0, 1.0]))
        d.running_var.copy_(torch.tensor([1.0, 4.0, 0.25, 2.0, 9.0]))
    d.eval()
    y = d(x)
    want = paper_dice(x.double().numpy(), d.alpha.detach().double().numpy(),
                      d.running_mean.double().numpy(), d.running_var.double().numpy())
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-5, atol=1e-6)
    # without autograd (prediction) and for 3-D inputs: the same values, and x is left as it was
    x_before = x.clone()
    with torch.inference_mode():
        np.testing.assert_allclose(d(x).numpy(), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d(x.reshape(4, 16, 5)).reshape(64, 5).numpy(), want, rtol=1e-5, atol=1e-6)
    assert torch.equal(x, x_before)
    # eval does not touch the statistics and is the same for a batch of one
    before = d.running_mean.clone()
    np.testing.assert_allclose(d(x[:1]).detach().numpy(), want[:1], rtol=1e-5, atol=1e-6)
    assert torch.equal(before, d.running_mean)


def test_no_learned_scale_or_shift_inside_p():
    d = Dice(4)
    assert [n for n, _ in d.named_parameters()] == ["alpha"]


def test_with_zero_statistics_dice_is_prelu():
    """E = 0 and Var = 0 make p the step function: Dice becomes PReLU with slope alpha."""
    d = make_dice(3)
    with torch.no_grad():
        d.running_mean.zero_()
        d.running_var.zero_()
    d.eval()
    x = torch.tensor([[-2.0, -0.5, 3.0], [1.0, 2.0, -4.0]])
    want = torch.where(x > 0, x, d.alpha.detach() * x)
    torch.testing.assert_close(d(x).detach(), want)


def test_masked_statistics_leave_padding_out():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 6, 3, generator=g) + 1.0  # (batch, seq_len, C)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]]).bool()
    x_padded = torch.where(mask.unsqueeze(-1), x, torch.tensor(1000.0))  # huge values on padding
    d = make_dice(3).train()
    y = d(x_padded, mask)
    real = x[mask].double().numpy()  # (n_real, C)
    want = paper_dice(real, d.alpha.detach().double().numpy(), real.mean(0), real.var(0))
    np.testing.assert_allclose(y[mask].detach().numpy(), want, rtol=1e-5, atol=1e-5)
    # the moving averages saw only the real steps too
    np.testing.assert_allclose(d.running_mean.numpy(), 0.1 * real.mean(0), rtol=1e-5, atol=1e-6)
    # and the packed form (real steps only, no mask) agrees with the masked dense form
    d2 = make_dice(3).train()
    torch.testing.assert_close(d2(x[mask]), y[mask])


def test_batch_of_one_in_training_is_finite_and_keeps_statistics():
    d = make_dice().train()
    y = d(make_input(n=1))
    assert torch.isfinite(y).all()
    assert torch.equal(d.running_mean, torch.zeros(5)) and torch.equal(d.running_var, torch.ones(5))


@pytest.mark.parametrize("masked", [False, True])
def test_training_gradients_flow_through_the_batch_statistics(masked):
    """Autograd through F.batch_norm equals autograd through the formula written out, E[s] and Var[s] included."""
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(3, 8, 4, generator=g, dtype=torch.float64) * 2 + 1).requires_grad_()
    mask = torch.arange(8)[None, :] < torch.tensor([8, 3, 5])[:, None] if masked else None
    d = Dice(4).double().train()
    with torch.no_grad():
        d.alpha.copy_(torch.tensor([-0.2, 0.1, 0.3, 0.7]))

    def reference(x, alpha):
        real = x[mask] if masked else x.reshape(-1, 4)
        mean = real.mean(0)
        var = ((real - mean) ** 2).mean(0)  # differentiable statistics: a detached one gives other gradients
        p = torch.sigmoid((real - mean) / torch.sqrt(var + EPS))
        return p * real + (1 - p) * alpha * real

    y = d(x, mask)
    y_real = y[mask] if masked else y.reshape(-1, 4)
    up = torch.randn(y_real.shape, dtype=torch.float64, generator=g)
    gx, ga = torch.autograd.grad(y_real, (x, d.alpha), up)
    ref = reference(x, d.alpha)
    gx_ref, ga_ref = torch.autograd.grad(ref, (x, d.alpha), up)
    torch.testing.assert_close(y_real, ref)
    torch.testing.assert_close(gx, gx_ref)
    torch.testing.assert_close(ga, ga_ref)
    if masked:
        assert torch.all(gx[~mask] == 0)  # padded steps get no gradient
    # a statistic taken as a constant would give other gradients: the test can tell them apart
    real = (x[mask] if masked else x.reshape(-1, 4))
    mean_c, var_c = real.mean(0).detach(), real.var(0, unbiased=False).detach()
    p = torch.sigmoid((real - mean_c) / torch.sqrt(var_c + EPS))
    (gx_detached,) = torch.autograd.grad(p * real + (1 - p) * d.alpha * real, x, up)
    assert not torch.allclose(gx_detached, gx_ref)
