"""Checks for the exercises of notebooks/05_training.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 05.1 ``check_training_step(train_step)``: one optimisation step on a tiny DIN with the paper's
  mini-batch aware regularisation switched on (``mba_reg > 0``), compared weight by weight with
  :meth:`din_tutorial.training.CTRTrainer.train_one_epoch` on the same batch.
* 05.2 ``check_early_stopping(early_stop)``: the best epoch and the epoch training stops, for a
  list of validation AUCs, a patience and a ``min_delta`` (the smallest gain that counts as an
  improvement); with ``min_delta=0`` compared with what :class:`CTRTrainer` does.
"""
from __future__ import annotations

import math
import tempfile

import numpy as np

from ._core import ExerciseFailed, compare, exercise, refuse_calls  # noqa: F401

__all__: list[str] = ["check_training_step", "check_early_stopping"]


# ---------------------------------------------------------------------------- 05.1 one training step
#: The tiny model's MBA strength: large enough that a step without ``model.regularization_loss(x)`` moves the
#: embedding rows measurably differently from the trainer's (the trainer adds it to every batch's loss).
TINY_MBA_REG = 2.0


def _tiny_din():
    """A DIN small enough to step in milliseconds, with dropout and Dice (so train/eval mode matters) and
    mini-batch aware regularisation (so a step that leaves out ``model.regularization_loss(x)`` fails)."""
    from ..features import SequenceFeature, SparseFeature
    from ..models import DIN

    features = [SparseFeature("user_id", vocab_size=20, embed_dim=4), SparseFeature("gender", vocab_size=3, embed_dim=2)]
    target = [SparseFeature("item_id", vocab_size=30, embed_dim=4), SparseFeature("cate_id", vocab_size=6, embed_dim=4)]
    history = [
        SequenceFeature("hist_item_id", vocab_size=30, embed_dim=4, pooling="concat", shared_with="item_id"),
        SequenceFeature("hist_cate_id", vocab_size=6, embed_dim=4, pooling="concat", shared_with="cate_id"),
    ]
    return DIN(features, history, target, mlp_params={"dims": [16, 8], "dropout": 0.3, "activation": "dice"},
               attention_mlp={"dims": [8], "dropout": 0.3, "activation": "dice"}, mba_reg=TINY_MBA_REG)


def _batches(model, n: int = 2, batch_size: int = 16):
    import torch

    from ..export import example_batch

    out = []
    for i in range(n):
        x = example_batch(model, batch_size=batch_size, seq_len=6, seed=10 + i)
        # both history features padded at the same steps (example_batch draws each at random ids)
        pad = x["hist_item_id"] == -1
        x["hist_cate_id"] = torch.where(pad, torch.full_like(x["hist_cate_id"], -1), x["hist_cate_id"] % 6)
        y = (torch.arange(batch_size) % 3 == 0).float()
        out.append((x, y))
    return out


def _start(seed: int = 0):
    """A fresh tiny DIN left in eval mode (as after an evaluation), with SGD so every mistake shows."""
    import torch

    torch.manual_seed(seed)
    model = _tiny_din()
    model.eval()
    return model


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def _run(step, lr: float = 0.5):
    """Apply ``step(model, x, y, optimizer)`` to two batches; return the losses and the states after each."""
    import torch

    model = _start()
    batches = _batches(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses, states = [], []
    for i, (x, y) in enumerate(batches):
        torch.manual_seed(100 + i)  # the same dropout masks for the learner and the reference
        out = step(model, {k: v.clone() for k, v in x.items()}, y.clone(), opt)
        losses.append(out)
        states.append(_state(model))
        model.eval()  # as if the trainer evaluated in between: the next step must switch back
    return losses, states


def _reference_step(model, x, y, optimizer):
    """One batch through the package's own loop (``CTRTrainer.train_one_epoch``)."""
    from ..training import CTRTrainer

    # the trainer steps the optimiser handed to the learner (the one its optimizer_fn returns)
    trainer = CTRTrainer(model, optimizer_fn=lambda params, **settings: optimizer,
                         device=next(model.parameters()).device, verbose=False)
    return trainer.train_one_epoch([(x, y)])


def _variant(kind: str):
    import torch.nn.functional as F

    def step(model, x, y, optimizer):
        if kind != "no_train":
            model.train()
        p = model(x)
        loss = F.binary_cross_entropy_with_logits(p, y) if kind == "logits" else F.binary_cross_entropy(p, y)
        full = loss if kind == "no_reg" else loss + model.regularization_loss(x)
        if kind != "no_zero_grad":
            optimizer.zero_grad()
        full.backward()
        optimizer.step()
        return full.item() if kind == "returns_full" else loss.item()

    return step


def _same(states_a, states_b, tol: float = 1e-5) -> bool:
    return all(
        all(torch_allclose(a[k], b[k], tol) for k in a) for a, b in zip(states_a, states_b)
    )


def torch_allclose(a, b, tol) -> bool:
    return a.shape == b.shape and bool(np.allclose(a.numpy(), b.numpy(), atol=tol, rtol=1e-4))


def _as_float(v, what: str) -> float:
    if hasattr(v, "detach"):
        if v.numel() != 1:
            raise ExerciseFailed(f"{what} is a tensor of shape {tuple(v.shape)}. Hint: return the batch's mean loss "
                                 f"as one number (loss.item())")
        return float(v.detach())
    if v is None:
        raise ExerciseFailed(f"{what} is None. Hint: return the loss of the batch as a Python float (loss.item())")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"{what} is {type(v).__name__}. Hint: return the loss as a float (loss.item())") from None


@exercise("Exercise 05.1: one training step")
def check_training_step(train_step) -> list[str]:
    """``train_step(model, x, y, optimizer)`` runs ONE step on the batch ``(x, y)`` (log loss plus the model's
    regularisation term) and returns the batch's log loss as a float. The check steps a tiny DIN (dropout,
    Dice and ``mba_reg > 0``, handed over in eval mode) twice with SGD and compares every weight with the
    package's ``CTRTrainer.train_one_epoch`` on the same batches; an answer that runs the trainer is refused."""
    from ..training import CTRTrainer

    what = "the step (forward pass, loss, gradients, update)"
    refuse_calls(train_step, "train_step", {CTRTrainer: what, CTRTrainer.train_one_epoch: what, CTRTrainer.fit: what},
                 reference="CTRTrainer.train_one_epoch")
    got_losses, got_states = _run(train_step)
    got_losses = [_as_float(v, f"the loss returned for batch {i}") for i, v in enumerate(got_losses)]
    want_losses, want_states = _run(_reference_step)
    model0 = _start()
    start = {k: v.detach().clone() for k, v in model0.named_parameters()}  # weights only (Dice buffers move anyway)
    if all(torch_allclose(got_states[0][k], start[k], 1e-7) for k in start):
        raise ExerciseFailed("the weights did not change. Hint: computing the gradients does not move a weight; "
                             "the optimiser's step applies them")
    losses_ok = all(math.isclose(g, w, rel_tol=1e-4, abs_tol=1e-6) for g, w in zip(got_losses, want_losses))
    if not (losses_ok and _same(got_states, want_states)):
        hints = {
            "no_reg": "your step matches one that minimises the log loss alone. Hint: this model carries a "
                      "regularisation term for the batch (the paper's mini-batch aware L2, switched on here); the "
                      "trainer minimises the log loss plus that term",
            "no_train": "your step ran the model in evaluation mode (no dropout, Dice with its running statistics). "
                        "Hint: the model arrives in eval mode after an evaluation; switch it back to training mode "
                        "before the forward pass",
            "logits": "your step matches BCE-with-logits applied to the model's output. Hint: DIN's forward already "
                      "returns probabilities (a sigmoid is inside), so use the plain binary cross-entropy on them",
            "no_zero_grad": "the second step differs: the gradients of the first step were still there. Hint: PyTorch "
                            "ADDS new gradients to the old ones (they accumulate in each parameter's .grad); "
                            "clear them before the new ones are computed",
        }
        for kind, hint in hints.items():
            if _same(got_states, _run(_variant(kind))[1]):
                raise ExerciseFailed(hint)
        if _same(got_states, want_states):  # the right step, another number returned
            full_losses = _run(_variant("returns_full"))[0]
            if all(math.isclose(g, w, rel_tol=1e-4, abs_tol=1e-6) for g, w in zip(got_losses, full_losses)):
                raise ExerciseFailed("your weights are right, but the loss you returned includes the regularisation "
                                     "term. Hint: return the log loss alone, as the trainer reports it")
        if not losses_ok:
            i = next(i for i, (g, w) in enumerate(zip(got_losses, want_losses))
                     if not math.isclose(g, w, rel_tol=1e-4, abs_tol=1e-6))
            raise ExerciseFailed(f"batch {i}: your loss {got_losses[i]:.6f} differs from the reference's "
                                 f"{want_losses[i]:.6f}. Hint: return the mean binary cross-entropy between the "
                                 f"model's probabilities and y, computed in training mode before the optimiser step")
        i = next(i for i, (g, w) in enumerate(zip(got_states, want_states)) if not _same([g], [w]))
        bad = [k for k in want_states[i] if not torch_allclose(got_states[i][k], want_states[i][k], 1e-5)]
        raise ExerciseFailed(f"after step {i + 1} the weights {bad[:3]} differ from the reference. Hint: one call is "
                             f"one step: training mode, forward pass, loss, fresh gradients of that loss, one update "
                             f"by the optimiser")
    n = sum(v.numel() for v in want_states[-1].values())
    diff = max(float((got_states[-1][k] - want_states[-1][k]).abs().max()) for k in want_states[-1])
    return [
        f"losses of the two steps: {got_losses[0]:.5f}, {got_losses[1]:.5f} (reference "
        f"{want_losses[0]:.5f}, {want_losses[1]:.5f})",
        f"all {n} weights and Dice statistics after two steps equal CTRTrainer's (max |difference| = {diff:.1e})",
        "the model came in eval mode, the first step's gradients were cleared before the second, and the "
        "regularisation term was part of the step: all handled",
    ]


# ---------------------------------------------------------------------------- 05.2 early stopping
def _trainer_stops(val_aucs, patience: int) -> tuple[int, int]:
    """What CTRTrainer.fit does with these validation AUCs: (best epoch, last epoch trained), 0-based."""
    import torch

    from ..training import CTRTrainer

    scripted = list(val_aucs)

    class Scripted(CTRTrainer):
        def train_one_epoch(self, data_loader, epoch=0):
            return 0.5

        def evaluate_metrics(self, model, data_loader):
            return {"auc": scripted[len(self.history)]}

    x = {"a": torch.zeros(1)}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Scripted(torch.nn.Linear(1, 1), n_epoch=len(scripted), earlystop_patience=patience,
                           model_path=tmp, verbose=False)
        trainer.fit([(x, torch.zeros(1))], [(x, torch.zeros(1))])
    return int(trainer.best_epoch), int(trainer.history[-1]["epoch"])


def _rule(val_aucs, patience, better=lambda a, b: a > b, against_last=False, min_delta=0.0, creep=False):
    """The reference rule. ``creep=True`` is a typical mistake: a gain below ``min_delta`` still moves the best."""
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


# (val_aucs, patience, min_delta): min_delta 0 is CTRTrainer's own rule; the gaps are never within 1e-9 of min_delta
_CASES = [
    ([0.70, 0.75, 0.74, 0.75, 0.73, 0.76], 2, 0.0),  # an equal AUC is no improvement
    ([0.60, 0.65, 0.70, 0.72, 0.73], 2, 0.0),  # always improving: trains to the end
    ([0.80, 0.78, 0.79, 0.77, 0.81, 0.82], 3, 0.0),  # the previous epoch is not the best one
    ([0.70, 0.69, 0.71], 1, 0.0),  # patience 1: the first worse epoch stops
    ([0.55], 2, 0.0),  # one epoch
    ([0.700, 0.712, 0.716, 0.719, 0.722, 0.730], 2, 0.01),  # gains below min_delta do not count
    ([0.700, 0.705, 0.709, 0.7095, 0.716, 0.740], 3, 0.01),  # creeping gains: the best stays at epoch 0
    ([0.650, 0.680, 0.684, 0.700, 0.703, 0.706, 0.707], 2, 0.01),
    ([0.60, 0.62, 0.63, 0.645, 0.66], 1, 0.005),  # every gain above min_delta: trains to the end
]


def _as_pair(out, case) -> tuple[int, int]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ExerciseFailed(f"for {case} you returned {out!r}. Hint: return two integers, "
                             f"(best_epoch, stop_epoch)")
    try:
        return int(out[0]), int(out[1])
    except (TypeError, ValueError):
        raise ExerciseFailed(f"for {case} you returned {out!r}. Hint: return two integers (epoch numbers)") from None


@exercise("Exercise 05.2: the early-stopping rule, with min_delta")
def check_early_stopping(early_stop) -> list[str]:
    """``early_stop(val_aucs, patience, min_delta)`` returns ``(best_epoch, stop_epoch)``, epochs counted from 0,
    where ``stop_epoch`` is the last epoch that is trained and an epoch improves only if its AUC beats the best
    so far by more than ``min_delta``. With ``min_delta=0`` compared with what ``CTRTrainer.fit`` does."""
    from ..training import CTRTrainer

    refuse_calls(early_stop, "early_stop", {CTRTrainer: "the early-stopping rule"}, reference="CTRTrainer.fit")
    wants = [_trainer_stops(a, p) if d == 0.0 else _rule(a, p, min_delta=d) for a, p, d in _CASES]
    gots = [_as_pair(early_stop(list(a), p, d), f"val_aucs={a}, patience={p}, min_delta={d}") for a, p, d in _CASES]
    if gots == wants:
        return [f"{a}, patience {p}, min_delta {d}: best epoch {w[0]}, stops after epoch {w[1]}"
                for (a, p, d), w in zip(_CASES, wants)] + [
                    "min_delta 0: the same decisions as CTRTrainer.fit; min_delta > 0: small gains did not count"]
    i = next(i for i, (g, w) in enumerate(zip(gots, wants)) if g != w)
    aucs, patience, delta = _CASES[i]
    case = (f"val_aucs={aucs}, patience={patience}, min_delta={delta}: you returned {gots[i]}, which is not what "
            f"the rule gives")
    variants = [
        (lambda a, p, d, w: (w[0] + 1, w[1] + 1),
         "off by one: epochs are counted from 0, like Python's indices"),
        (lambda a, p, d, w: (w[0], w[1] + 1),
         "the stop epoch is one too late: training stops AT the epoch where the count of epochs without "
         "improvement reaches the patience"),
        (lambda a, p, d, w: (w[0], w[1] - 1),
         "the stop epoch is one too early: an epoch without improvement counts 1, and training stops when "
         "the count reaches the patience (so patience 2 allows two such epochs)"),
        (lambda a, p, d, w: _rule(a, p, better=lambda x, y: x >= y, min_delta=d),
         "an AUC equal to the best so far (plus min_delta) is no improvement: only a strictly larger one resets "
         "the count"),
        (lambda a, p, d, w: _rule(a, p, against_last=True, min_delta=d),
         "you compared each epoch with the previous epoch; compare it with the BEST AUC so far"),
        (lambda a, p, d, w: _rule(a, p),
         "you ignored min_delta: with min_delta > 0 a gain counts only if it is larger than min_delta"),
        (lambda a, p, d, w: _rule(a, p, min_delta=d, creep=True),
         "a gain smaller than min_delta is no improvement, so it must not move the best AUC either (otherwise "
         "several small gains in a row never count, however much they add up to)"),
    ]
    for variant, hint in variants:
        if all(g == variant(a, p, d, w) for g, (a, p, d), w in zip(gots, _CASES, wants)):
            raise ExerciseFailed(f"{case}. Hint: {hint}")
    if gots[i][0] != wants[i][0]:
        raise ExerciseFailed(f"{case}. Hint: the best epoch is the last epoch that counted as an improvement "
                             f"(the weights a trainer keeps)")
    raise ExerciseFailed(f"{case}. Hint: count the epochs since the last improvement; stop when the count "
                         f"reaches the patience; if it never does, the last epoch is the stop epoch")
