"""Checks for the exercises of notebooks/04_dice.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 04.1 ``check_dice_train``: Dice in training mode from the paper's Eq. 9 (mini-batch
  statistics, biased variance, ``eps = 1e-8``, no scale or shift inside ``p``), against an
  independent float64 computation of Eq. 9: values, the gradients of ``alpha`` and of ``s``
  (through ``E[s]`` and ``Var[s]``), and a padded ``(batch, seq_len, C)`` batch with its mask.
* 04.2 ``check_dice_fold``: Dice at inference folded for serving: the per-channel ``(scale, shift)`` with
  ``p(s) = sigmoid(scale * s + shift)``, from the moving averages, against ``Dice`` in eval mode.
  ``check_dice_eval`` (Dice at inference written out; kept for instructors) checks the unfolded form.
* 04.3 ``check_masked_moments`` (optional): the mean and variance over the real steps of a
  ``(batch, seq_len, C)`` input, against the statistics the package's ``Dice`` records.

Each check refuses an answer that uses the package's ``Dice`` (or its ``normalize``, or
``F.batch_norm``, on which it is built): that copies the reference instead of writing Eq. 9; 04.3
also refuses ``running_mean`` and ``running_var``, read back from a layer that computed them.
"""
from __future__ import annotations

import torch

from ._core import ExerciseFailed, compare, exercise, refuse_calls

__all__: list[str] = ["check_dice_train", "check_dice_fold", "check_dice_eval", "check_masked_moments"]

EPS = 1e-8

def _package_dice() -> tuple:
    """The package's Dice, its normalisation and the torch call it is built on: an answer that uses them is no answer."""
    import torch.nn.functional as F

    from ..layers import Dice

    return Dice, Dice.normalize, Dice._batch_normalize, F.batch_norm, "batch_norm"  # also torch.batch_norm


def _refuse_the_package(fn, answer: str, what: str, reference: str, extra: tuple[str, ...] = ()) -> None:
    refuse_calls(fn, answer, {key: what for key in _package_dice() + extra}, reference=reference)


def _paper(s: torch.Tensor, alpha: torch.Tensor, mean, var, eps: float = EPS, swap: bool = False) -> torch.Tensor:
    """Eq. 9 in float64 with the given statistics (``swap``: p and 1 - p exchanged, a typical slip)."""
    s64, a64 = s.double(), alpha.double()
    mean, var = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(var, dtype=torch.float64)
    p = torch.sigmoid((s64 - mean) / torch.sqrt(var + eps))
    if swap:
        p = 1.0 - p
    return p * s64 + (1.0 - p) * a64 * s64


def _train_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """8 samples x 5 channels: different means and scales, a constant channel, a nearly constant one."""
    g = torch.Generator().manual_seed(4)
    s = torch.randn(8, 5, generator=g) * torch.tensor([1.0, 2.5, 0.5, 1.0, 1.0]) + torch.tensor([0.5, -1.0, 2.0, 0, 0])
    s[:, 3] = 0.5  # Var = 0: only eps keeps (s - E) / sqrt(Var + eps) finite
    s[:, 4] = 1.0 + 1e-3 * torch.tensor([1.0, -1.0, 2.0, -2.0, 1.0, -1.0, 0.5, -0.5])  # Var ~ 2e-6: eps's size shows
    alpha = torch.tensor([0.25, -0.2, 0.6, 0.1, 0.3])
    return s, alpha


def _output(out, what: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise ExerciseFailed(f"{what}: got {type(out).__name__}. Hint: return a torch tensor shaped like s, computed "
                             f"with torch operations (alpha is learned, so gradients must reach it)")
    return out


# ---------------------------------------------------------------------------- 04.1
_TRAIN_HINT = ("Eq. 9: the gate p is a sigmoid of s standardised with this batch's statistics, one mean and one "
               "variance per channel (per column), taken over every other axis; p lets s through, 1 - p scales it "
               "by alpha")
_GRAD_HINT = ("E[s] and Var[s] are functions of s: in training the gradient flows through them too (that is what "
              "makes Dice a normalisation, as in BatchNorm). Compute them with torch operations on s itself, "
              "without .detach(), torch.no_grad(), .item() or NumPy")


def _paper_train(s: torch.Tensor, alpha: torch.Tensor, mask=None, eps: float = EPS, detach: str = "") -> torch.Tensor:
    """Eq. 9 in float64 with the statistics of ``s`` over its real rows; ``detach``: "mean", "var" or both cut."""
    real = s.reshape(-1, s.shape[-1]) if mask is None else s[mask]  # (n, C)
    mean = real.mean(0)
    var = ((real - mean) ** 2).mean(0)
    if "mean" in detach:
        mean = mean.detach()
    if "var" in detach:
        var = var.detach()
    p = torch.sigmoid((s - mean) / torch.sqrt(var + eps))
    return p * s + (1.0 - p) * alpha * s


def _grads(fn, s: torch.Tensor, alpha: torch.Tensor, upstream: torch.Tensor, *args):
    """(d/ds, d/dalpha) of sum(fn(s, alpha, *args) * upstream), in the dtype of ``s``."""
    s, alpha = s.clone().requires_grad_(True), alpha.clone().requires_grad_(True)
    out = fn(s, alpha, *args)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise ExerciseFailed("your output carries no gradient. Hint: alpha is learned and s comes from the layer "
                             "below: compute with torch operations on both (no .detach(), .item() or NumPy)")
    ds, da = torch.autograd.grad((out * upstream).sum(), (s, alpha), allow_unused=True)
    ds = torch.zeros_like(s) if ds is None else ds
    da = torch.zeros_like(alpha) if da is None else da
    return ds, da


def _padded_case():
    """A (4, 6, 3) batch of 4 histories with 6, 3, 2 and 1 real steps; padded steps hold a bias, as in DIN."""
    g = torch.Generator().manual_seed(9)
    lengths = torch.tensor([6, 3, 2, 1])
    mask = torch.arange(6)[None, :] < lengths[:, None]  # (4, 6)
    x = torch.randn(4, 6, 3, generator=g) * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([1.0, -1.0, 0.3])
    x = torch.where(mask[..., None], x, torch.tensor([0.8, 2.5, -0.6]))  # the hidden layer's bias on padding
    return x, mask, torch.tensor([0.25, -0.3, 0.5])


@exercise("Exercise 04.1: Dice in training mode")
def check_dice_train(dice_train) -> list[str]:
    """``dice_train(s, alpha, mask=None)``: ``s`` (N, C) or (B, L, C), ``mask`` (B, L) bool -> Dice of ``s``.

    Checks the values (a constant and a nearly constant channel among them), the gradients of ``alpha`` and of
    ``s`` (through ``E[s]`` and ``Var[s]``: a detached statistic fails), and a padded 3-D batch with its mask
    (the statistics over the real steps only) and without one (every step counts).
    """
    _refuse_the_package(dice_train, "dice_train", "Eq. 9 with the batch's own statistics",
                        "Eq. 9 computed independently in float64")
    s, alpha0 = _train_batch()
    got = _output(dice_train(s.clone(), alpha0.clone()), "dice_train(s, alpha)")
    mean, var = s.double().mean(0), s.double().var(0, unbiased=False)
    checked = got.detach()
    if torch.isnan(checked).any():
        raise ExerciseFailed("your result holds NaN (in the channel whose values are all equal). Hint: a channel "
                             "with Var[s] = 0 gives (s - E[s]) / sqrt(0) = 0 / 0: the paper adds eps = 1e-8 "
                             "inside the square root")
    want = _paper_train(s.double(), alpha0.double())
    hint = None
    for wrong, text in (
        (_paper(s, alpha0, mean, var, eps=1e-5),
         "your eps looks like nn.BatchNorm's default, 1e-5; the paper's is 1e-8. (A BatchNorm layer with "
         "affine=True would also learn a scale and a shift inside p: Dice learns only alpha)"),
        (_paper(s, alpha0, mean, var, eps=1e-3), "your eps looks like TensorFlow's batch-normalisation default, "
                                                 "1e-3; the paper's is 1e-8"),
        (_paper(s, alpha0, mean, s.double().var(0, unbiased=True)),
         "Var[s] is the batch's biased variance E[(s - E[s])^2] (divide by N); torch.var divides by N - 1 "
         "unless unbiased=False"),
        (_paper(s, alpha0, s.double().mean(1, keepdim=True), s.double().var(1, unbiased=False, keepdim=True)),
         "the statistics are per channel: the mean and variance of each column over the batch (dim=0), "
         "not of each sample's row"),
        (_paper(s, alpha0, mean, var, swap=True), "p multiplies s and (1 - p) multiplies alpha * s: large "
                                                  "inputs pass through unchanged, small ones are scaled by alpha"),
        (_paper(s, alpha0, 0.0, 1.0),
         "normalise s with this batch's statistics before the sigmoid: in training, E[s] and Var[s] are the "
         "mini-batch's, not 0 and 1"),
        (_paper(s, alpha0, mean, var.sqrt()), "Var[s] is a variance: take sqrt(Var[s] + eps), not the standard "
                                              "deviation inside the square root"),
    ):
        if got.shape == wrong.shape and torch.allclose(checked.double(), wrong, atol=1e-4, rtol=1e-4):
            hint = text
            break
    lines = [compare(checked, want, "f(s) on 8 x 5 inputs (a constant and a nearly constant channel among them)",
                     hint or _TRAIN_HINT)]

    # gradients, on the three well-conditioned channels (float32 rounding stays far below the tolerance there)
    s3, a3 = s[:, :3].contiguous(), alpha0[:3].clone()
    upstream = torch.randn(s3.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    got_ds, got_da = _grads(dice_train, s3.double(), a3.double(), upstream)
    want_ds, want_da = _grads(_paper_train, s3.double(), a3.double(), upstream)
    if not got_da.abs().any():
        raise ExerciseFailed("no gradient reaches alpha. Hint: alpha is learned: compute with torch operations on "
                             "alpha itself (no .detach(), .item() or NumPy)")
    lines.append(compare(got_da, want_da, "gradient of alpha", "alpha must enter as in Eq. 9, multiplying s "
                                                                "where the gate is closed"))
    grad_hint = None
    for cut in ("mean", "var", "mean var"):
        wrong_ds, _ = _grads(lambda x, a: _paper_train(x, a, detach=cut), s3.double(), a3.double(), upstream)
        if torch.allclose(got_ds, wrong_ds, atol=1e-6, rtol=1e-5):
            grad_hint = f"the gradient does not flow through {' and '.join(('E[s]', 'Var[s]') if cut == 'mean var' else ('E[s]' if cut == 'mean' else 'Var[s]',))}. Hint: {_GRAD_HINT}"
            break
    if grad_hint:
        raise ExerciseFailed(f"gradient of s: {grad_hint}")
    lines.append(compare(got_ds, want_ds, "gradient of s (through E[s] and Var[s] too)", _GRAD_HINT))

    # a padded (batch, seq_len, C) batch: statistics over the real steps only
    x, mask, a = _padded_case()
    try:
        got3 = _output(dice_train(x.clone(), a.clone(), mask.clone()), "dice_train(x, alpha, mask)")
    except (TypeError, RuntimeError, IndexError) as err:
        raise ExerciseFailed(f"dice_train(x, alpha, mask) on a (4, 6, 3) batch raised {type(err).__name__}: {err}. "
                             f"Hint: the function takes a third argument, mask=None ((batch, seq_len) bool, True on "
                             f"real steps), and s may have a sequence axis: reduce over every axis but the last") from None
    want3 = _paper_train(x.double(), a.double(), mask)
    if got3.shape != x.shape:
        raise ExerciseFailed(f"a (4, 6, 3) input gave shape {tuple(got3.shape)}. Hint: return a tensor shaped "
                             f"like s; the statistics have one value per channel (the last axis)")
    got_real = got3.detach()[mask]
    hint3 = None
    for wrong, text in (
        (_paper_train(x.double(), a.double()), "padded steps are in your statistics: with a mask, E[s] and Var[s] "
                                               "are over the real steps (mask True) only"),
        (_paper(x, a, x.double().mean(0), x.double().var(0, unbiased=False)),
         "for a (batch, seq_len, C) input the statistics are per channel over the batch AND the sequence axes"),
    ):
        if torch.allclose(got_real.double(), wrong[mask], atol=1e-4, rtol=1e-4):
            hint3 = text
            break
    lines.append(compare(got_real, want3[mask], "(4, 6, 3) padded batch with its mask, on the 12 real steps",
                         hint3 or "with a mask, take E[s] and Var[s] over the real steps only, then apply the gate "
                                  "to every step"))
    up3 = torch.randn(x.shape, generator=torch.Generator().manual_seed(10), dtype=torch.float64) * mask[..., None]
    got_dx, _ = _grads(dice_train, x.double(), a.double(), up3, mask)
    want_dx, _ = _grads(_paper_train, x.double(), a.double(), up3, mask)
    lines.append(compare(got_dx[mask], want_dx[mask], "gradient of the real steps, padded batch", _GRAD_HINT))
    got_nomask = _output(dice_train(x.clone(), a.clone()), "dice_train(x, alpha)").detach()
    lines.append(compare(got_nomask, _paper_train(x.double(), a.double()), "(4, 6, 3) batch without a mask (every "
                         "step counts)", "without a mask every step is real: the statistics are over all the "
                                         "batch's and sequence's positions, per channel"))
    lines.append("Var = 0 handled by eps = 1e-8; nothing learned but alpha; padded steps stay out of the statistics")
    return lines


# ---------------------------------------------------------------------------- 04.2
def _dice_at_inference(alpha: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor):
    """The package's Dice with these parameters and running statistics, in eval mode (the reference)."""
    from ..layers import Dice

    ref = Dice(alpha.shape[-1])
    with torch.no_grad():
        ref.alpha.copy_(alpha)
        ref.running_mean.copy_(running_mean)
        ref.running_var.copy_(running_var)
    return ref.eval()


def _eval_case():
    g = torch.Generator().manual_seed(6)
    s = torch.randn(6, 4, generator=g) * 2.0 + 3.0  # this batch's statistics are far from the moving averages
    s[0, 3] = -0.5  # exactly the running mean of the channel whose running variance is 0
    s[1, 3] = -0.5 + 3e-4  # close to it: (s - m) / sqrt(0 + eps) = 3, where eps outside the root gives 3e4
    alpha = torch.tensor([0.2, 0.0, -0.3, 0.5])
    running_mean = torch.tensor([0.5, -1.0, 0.0, -0.5])
    running_var = torch.tensor([1.5, 0.25, 4.0, 0.0])
    return s, alpha, running_mean, running_var


def _divided_by_the_variance(s, alpha, mean, var, eps: float = EPS) -> torch.Tensor:
    """Eq. 9 standardised by ``var + eps`` instead of its square root (a typical slip)."""
    s64, a64 = s.double(), alpha.double()
    p = torch.sigmoid((s64 - mean.double()) / (var.double() + eps))
    return p * s64 + (1.0 - p) * a64 * s64


@exercise("Exercise 04.2: Dice at inference")
def check_dice_eval(dice_eval) -> list[str]:
    """``dice_eval(s (N, C), alpha, running_mean, running_var) -> (N, C)`` with the moving averages."""
    _refuse_the_package(dice_eval, "dice_eval", "Eq. 9 with the moving averages", "the package's Dice in eval mode")
    s, alpha, rmean, rvar = _eval_case()
    with torch.no_grad():
        got = _output(dice_eval(s.clone(), alpha.clone(), rmean.clone(), rvar.clone()), "dice_eval(...)").detach()
    ref = _dice_at_inference(alpha, rmean, rvar)
    with torch.no_grad():
        want = ref(s)
    if torch.isnan(got).any():
        raise ExerciseFailed("your result holds NaN (a channel has running_var = 0 and one input equals its running "
                             "mean). Hint: add eps = 1e-8 inside the square root, as in training")
    batch_mean, batch_var = s.double().mean(0), s.double().var(0, unbiased=False)
    hint = None
    for wrong, text in (
        (_paper(s, alpha, batch_mean, batch_var),
         "you used this batch's statistics: in eval mode Dice uses the moving averages (running_mean, "
         "running_var) recorded in training, so a prediction does not depend on the other samples of its batch"),
        (_paper(s, alpha, batch_mean, s.double().var(0, unbiased=True)),
         "you used this batch's statistics: in eval mode use running_mean and running_var"),
        (_divided_by_the_variance(s, alpha, rmean, rvar), "running_var is a variance: divide by sqrt(running_var + eps)"),
        (_paper(s, alpha, rmean, rvar, swap=True), "p multiplies s and (1 - p) multiplies alpha * s"),
    ):
        if torch.allclose(got.double(), wrong, atol=1e-4, rtol=1e-4):
            hint = text
            break
    lines = [compare(got, want, "f(s) with the moving averages (6 x 4 inputs)",
                     hint or "the same gate as in training, standardised with the moving averages (running_mean, "
                             "running_var) instead of the batch's statistics")]
    with torch.no_grad():
        rows = torch.cat([dice_eval(s[i: i + 1].clone(), alpha, rmean, rvar) for i in range(len(s))])
    lines.append(compare(rows, got, "each sample alone equals the same sample in the batch",
                         "in eval mode a prediction must not depend on the rest of its batch: use running_mean "
                         "and running_var only"))
    return lines


# ---------------------------------------------------------------------------- 04.2 (folded)
_FOLD_HINT = ("at inference the gate standardises s with fixed numbers: (s - running_mean) / sqrt(running_var + eps). "
              "Write that as scale * s + shift, one scale and one shift per channel")


@exercise("Exercise 04.2: Dice at inference, folded for serving")
def check_dice_fold(fold_dice) -> list[str]:
    """``fold_dice(running_mean (C,), running_var (C,), eps=1e-8) -> (scale (C,), shift (C,))``.

    At inference Dice's gate is ``sigmoid(scale * s + shift)``; the check compares the gate and ``f(s)`` built from
    the learner's ``(scale, shift)`` with ``Dice`` in eval mode, on a batch far from the averages and with a channel
    whose running variance is 0.
    """
    _refuse_the_package(fold_dice, "fold_dice", "the folded gate", "the package's Dice in eval mode")
    s, alpha, rmean, rvar = _eval_case()
    out = fold_dice(rmean.clone(), rvar.clone())
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ExerciseFailed(f"got {type(out).__name__}. Hint: return two tensors, (scale, shift), one value per channel")
    scale, shift = (torch.as_tensor(t).detach().double() for t in out)
    if scale.shape != rmean.shape or shift.shape != rmean.shape:
        raise ExerciseFailed(f"scale {tuple(scale.shape)} and shift {tuple(shift.shape)}: expected ({rmean.numel()},) "
                             f"each. Hint: one scale and one shift per channel")
    if not (torch.isfinite(scale).all() and torch.isfinite(shift).all()):
        raise ExerciseFailed("your scale or shift is not finite (a channel has running_var = 0). Hint: eps = 1e-8 "
                             "goes inside the square root, as in training")
    ref = _dice_at_inference(alpha, rmean, rvar)
    with torch.no_grad():
        want_gate = torch.sigmoid(ref.normalize(s)).double()
        want = ref(s).double()
    gate = torch.sigmoid(scale * s.double() + shift)
    m, v = rmean.double(), rvar.double()
    hint = _diagnose_fold(gate, s.double(), m, v)
    lines = [compare(gate, want_gate, "the gate sigmoid(scale * s + shift) (6 x 4 inputs)", hint or _FOLD_HINT)]
    folded = s.double() * (alpha.double() + (1 - alpha.double()) * gate)
    lines.append(compare(folded, want, "f(s) = p s + (1 - p) alpha s with that gate, against Dice in eval mode",
                         hint or _FOLD_HINT))
    lines.append("one multiply-add and a sigmoid per channel: what an exported Dice computes at inference")
    return lines


def _diagnose_fold(gate, s, m, v, eps: float = EPS):
    """The hint of the first known-wrong fold that gives ``gate``."""
    for wrong, text in (
        (torch.sigmoid((s + m) / torch.sqrt(v + eps)), "the shift's sign: the gate reads s MINUS the running mean"),
        (torch.sigmoid(s / torch.sqrt(v + eps) - m), "the shift is scaled too: (s - m) / d = s / d - m / d"),
        (torch.sigmoid((s - m) / (v + eps)), "running_var is a variance: the scale is 1 / sqrt(running_var + eps)"),
        (torch.sigmoid((s - m) / (torch.sqrt(v) + eps)), "eps goes inside the square root: 1 / sqrt(running_var + eps)"),
        (torch.sigmoid((s - s.mean(0)) / torch.sqrt(s.var(0, unbiased=False) + eps)),
         "at inference Dice uses the moving averages, not a batch's statistics"),
    ):
        if gate.shape == wrong.shape and torch.allclose(gate, wrong, atol=1e-5, rtol=1e-4):
            return text
    return None


# ---------------------------------------------------------------------------- 04.3
def _moments_case():
    g = torch.Generator().manual_seed(8)
    lengths = torch.tensor([5, 2, 7, 1])
    mask = torch.arange(7)[None, :] < lengths[:, None]  # (4, 7)
    x = torch.randn(4, 7, 3, generator=g) * torch.tensor([1.0, 3.0, 0.5]) + torch.tensor([2.0, -1.0, 4.0])
    bias = torch.tensor([0.7, -0.4, 0.1])  # a hidden layer's output on a padded (zero) step is its bias
    return torch.where(mask[..., None], x, bias), mask


def _moment(value) -> torch.Tensor:
    """04.3's statistics as a tensor: a tensor, a NumPy array or a list all do (no gradient is asked for)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise ExerciseFailed(f"masked_moments(x, mask) returned {type(value).__name__} values. Hint: return two "
                             f"arrays or tensors, (mean, var), one number per channel") from None


@exercise("Exercise 04.3: mean and variance over the real steps")
def check_masked_moments(masked_moments) -> list[str]:
    """``masked_moments(x (B, L, C), mask (B, L) bool) -> (mean (C,), var (C,))``, biased variance, real steps only."""
    from ..layers import Dice

    _refuse_the_package(masked_moments, "masked_moments", "the statistics over the real steps",
                        "the statistics the package's Dice records", extra=("running_mean", "running_var"))
    x, mask = _moments_case()
    out = masked_moments(x.clone(), mask.clone())
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ExerciseFailed(f"got {type(out).__name__}. Hint: return two tensors, (mean, var), one value per channel")
    mean, var = (_moment(o) for o in out)
    # the package's reference: Dice with momentum 1 keeps exactly the last batch's statistics
    ref = Dice(x.shape[-1], momentum=1.0).train()
    with torch.no_grad():
        ref(x, mask)
    n = int(mask.sum())
    want_mean, want_var = ref.running_mean.clone(), ref.running_var * (n - 1) / n  # it keeps the unbiased one
    flat = x.reshape(-1, x.shape[-1]).double()
    real = x[mask].double()  # (n, C)
    shape_hint = "one value per channel: reduce over the batch and the sequence dimensions together, shape (C,)"
    mean_hint = None
    for wrong, text in (
        (flat.mean(0), "padded steps are in your statistics: average over the real steps only (mask True)"),
        (real.sum(0) / flat.shape[0], "divide by the number of real steps (mask.sum()), not by batch * seq_len"),
    ):
        if mean.shape == wrong.shape and torch.allclose(mean.double(), wrong, atol=1e-5):
            mean_hint = text
    if mean.shape != want_mean.shape:
        mean_hint = shape_hint
    lines = [compare(mean, want_mean, "mean", mean_hint or "the mean of the real steps: the sum of x * mask over "
                                                           "batch and sequence, divided by the number of real steps")]
    var_hint = None
    for wrong, text in (
        (real.var(0, unbiased=True), "Var[s] is the biased variance (divide by the number of real steps, not by "
                                     "that number - 1)"),
        (flat.var(0, unbiased=False), "padded steps are in your variance: use the real steps only"),
        (((flat - real.mean(0)) ** 2).sum(0) / n, "padded steps are in your variance's sum: weight each squared "
                                                  "difference by the mask"),
    ):
        if var.shape == wrong.shape and torch.allclose(var.double(), wrong, atol=1e-5):
            var_hint = text
    if var.shape != want_var.shape:
        var_hint = shape_hint
    lines.append(compare(var, want_var, "variance", var_hint or "the mean of (x - mean)^2 over the real steps"))
    lines.append(f"{n} real steps of {mask.numel()}; equal to the statistics the package's Dice records with the mask")
    return lines
