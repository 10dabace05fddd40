"""Checks for the exercises of notebooks/03_activation_unit.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 03.1 ``check_packed_weighted_sum``: the pooling of Eq. 3, ``sum_j w_j e_j``, when only the real
  behaviours are kept (packed, one row per real step, with the sample each belongs to): the form
  DIN runs. ``check_masked_weighted_sum`` checks the padded form (kept for instructors).
* 03.2 ``check_activation_unit``: the unit's forward pass from its weights (input
  ``[q, k, q - k, q * k]``, the official code's, a PReLU hidden layer, no softmax, the mask), against
  :class:`~din_tutorial.layers.ActivationUnit`.
* 03.3 ``check_masked_softmax`` (optional): the softmax over the real behaviours, against
  ``ActivationUnit(..., use_softmax=True).weights_from_scores``.

Both refuse an answer that calls the package's ``ActivationUnit`` (or its methods): it would pass
without writing anything.

The inputs hold large junk values at padded positions, so an answer that lets padding in
cannot pass by luck (real models often have zeros there, which hides the bug until softmax,
Dice's statistics or a non-zero padding row reveal it).
"""
from __future__ import annotations

import dis

import torch

from ._core import ExerciseFailed, code_objects, compare, exercise, refuse_calls

__all__: list[str] = ["check_packed_weighted_sum", "check_masked_weighted_sum", "check_activation_unit",
                      "check_masked_softmax"]

_JUNK = 50.0  # what padded positions hold in the checks' inputs


def _mask(lengths: list[int], seq_len: int) -> torch.Tensor:
    return torch.arange(seq_len)[None, :] < torch.tensor(lengths)[:, None]  # (batch, seq_len) bool


def _cases(seed: int = 0) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(name, query, keys, mask, weights)``: several batches; padded keys and weights hold junk."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for name, lengths, seq_len, dim in (
        ("4 histories of lengths 5, 3, 1, 6 padded to 6", [5, 3, 1, 6], 6, 4),
        ("3 histories of lengths 2, 8, 0 padded to 9 (one fully padded)", [2, 8, 0], 9, 3),
    ):
        mask = _mask(lengths, seq_len)
        query = torch.randn(len(lengths), dim, generator=g)
        keys = torch.randn(len(lengths), seq_len, dim, generator=g)
        keys = torch.where(mask[..., None], keys, torch.full_like(keys, _JUNK))
        weights = torch.randn(len(lengths), seq_len, generator=g)  # negative ones too: no softmax
        weights = torch.where(mask, weights, torch.full_like(weights, 3.0))
        out.append((name, query, keys, mask, weights))
    return out


def _as_tensor(x, what: str, hint: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise ExerciseFailed(f"{what}: got {type(x).__name__}. Hint: {hint}") from None


def _diagnose(got: torch.Tensor, variants, atol: float = 1e-4) -> str | None:
    """The hint of the first known-wrong variant (``{hint: value}`` or ``(hint, value)`` pairs) that ``got`` matches."""
    for hint, value in variants.items() if isinstance(variants, dict) else variants:
        if got.shape == value.shape and torch.allclose(got.double(), value.double(), atol=atol, rtol=1e-4, equal_nan=True):
            return hint
    return None


# ---------------------------------------------------------------------------- 03.1
_SUM_HINT = ("Eq. 3 is v_U = sum_j w_j * e_j over the real behaviours: zero the weights where mask is False, "
             "multiply each key by its weight, and sum over the history axis (dim=1)")


@exercise("Exercise 03.1: masked weighted sum pooling")
def check_masked_weighted_sum(masked_weighted_sum) -> list[str]:
    """``masked_weighted_sum(weights (B, L), keys (B, L, D), mask (B, L) bool) -> (B, D)``."""
    lines = []
    for name, _, keys, mask, weights in _cases():
        got = _as_tensor(masked_weighted_sum(weights.clone(), keys.clone(), mask.clone()),
                         name, "return a tensor of shape (batch, dim)")
        w = torch.where(mask, weights, 0.0)
        want = torch.bmm(w.unsqueeze(1), keys).squeeze(1)  # the package's pooling (ActivationUnit.forward)
        real = mask.sum(1, keepdim=True).clamp_min(1).to(keys.dtype)
        total = w.sum(1, keepdim=True)
        hint = _diagnose(got, {
            "padding leaks in: the padded steps (mask False) hold junk, and your sum includes them. Set their "
            "weights to 0 (where the mask is False) before the sum": (weights.unsqueeze(-1) * keys).sum(1),
            "no normalisation in Eq. 3: the paper keeps the raw sum so that its size tells how strongly the "
            "history supports the candidate; do not divide by the sum of the weights":
                want / torch.where(total != 0, total, 1.0),
            "a sum, not a mean: do not divide by the number of behaviours": want / real,
        })
        if got.shape == keys.shape:
            hint = "you returned one vector per behaviour: sum the weighted keys over the history axis (dim=1)"
        lines.append(compare(got, want, name, hint or _SUM_HINT))
    lines.append("padded steps contribute nothing, even though they held junk; a fully padded history gives zeros")
    return lines


# ---------------------------------------------------------------------------- 03.1 (packed)
_PACKED_HINT = ("Eq. 3 per sample: each real step adds w_j * e_j to the row of ITS sample (rows[j]); a sample "
                "with no real step keeps a zero vector. Look for a tensor method that adds rows into chosen "
                "rows of another tensor")


def _packed_cases(seed: int = 11):
    """``(name, weights (N,), keys (N, D), rows (N,), batch_size)``: real steps of padded batches, packed."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for name, lengths, dim in (("4 samples with 5, 3, 1 and 6 real steps", [5, 3, 1, 6], 4),
                               ("5 samples with 2, 0, 7, 0 and 1 real steps (two without any)", [2, 0, 7, 0, 1], 3)):
        rows = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))  # (N,) sorted by sample
        n = int(rows.numel())
        out.append((name, torch.randn(n, generator=g), torch.randn(n, dim, generator=g), rows, len(lengths)))
    # the same steps in another order: the rows need not be sorted
    name, w, k, rows, b = out[0]
    perm = torch.randperm(rows.numel(), generator=g)
    out.append(("the first case with its steps shuffled", w[perm], k[perm], rows[perm], b))
    return out


@exercise("Exercise 03.1: the weighted sum over packed real steps")
def check_packed_weighted_sum(packed_weighted_sum) -> list[str]:
    """``packed_weighted_sum(weights (N,), keys (N, D), rows (N,), batch_size) -> (batch_size, D)``."""
    lines = []
    for name, weights, keys, rows, batch_size in _packed_cases():
        got = _as_tensor(packed_weighted_sum(weights.clone(), keys.clone(), rows.clone(), batch_size), name,
                         "return a tensor of shape (batch_size, D)")
        want = torch.zeros(batch_size, keys.shape[1], dtype=keys.dtype)
        for j in range(rows.numel()):  # the definition, one step at a time
            want[rows[j]] += weights[j] * keys[j]
        counts = torch.bincount(rows, minlength=batch_size).clamp_min(1).to(keys.dtype)[:, None]
        present = torch.unique(rows)
        hint = None
        if got.shape == keys.shape:
            hint = "you returned one vector per step: add the weighted steps of each sample into one row per sample"
        elif got.shape == (int(present.numel()), keys.shape[1]) and got.shape[0] != batch_size:
            hint = ("a sample without any real step still has a row, of zeros: the result has batch_size rows, "
                    "not one per sample that appears in rows")
        else:
            hint = _diagnose(got, {
                "a sum, not a mean: do not divide by the number of steps of a sample": want / counts,
                "each step is weighted by its own weight before the sum (v_U = sum_j w_j e_j), not summed and "
                "then scaled": torch.zeros_like(want).index_add(0, rows, keys)
                * torch.zeros(batch_size, dtype=keys.dtype).index_add(0, rows, weights)[:, None],
                "the weights are used as they are: no softmax or normalisation in Eq. 3":
                    want / torch.zeros(batch_size, dtype=keys.dtype).index_add(0, rows, weights)[:, None]
                    .masked_fill(torch.bincount(rows, minlength=batch_size)[:, None] == 0, 1.0),
            })
        lines.append(compare(got, want, name, hint or _PACKED_HINT))
    lines.append("every sample gets the weighted sum of its own steps, in any order; one without steps gets zeros")
    return lines


# ---------------------------------------------------------------------------- 03.2
_UNIT_METHODS = ("forward", "forward_packed", "scores", "_score", "first_layer", "first_layer_naive")


def _attributes_used(fn) -> set[str]:
    """The attribute names (``obj.name``) that a function's code, and the code nested in it, reads."""
    return {ins.argval for code in code_objects(fn) for ins in dis.get_instructions(code)
            if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(ins.argval, str)}


def _refuse_the_unit(fn) -> None:
    """03.2's answer must not run the package's unit: the check compares with it."""
    from ..layers import ActivationUnit

    what = "the unit's forward pass from its weights"
    # The methods' names are ordinary words ("scores", "forward"): refused only as attributes
    # (``unit.scores(...)``), so that a learner's own variable of that name is not.
    used = _attributes_used(fn)
    for name in _UNIT_METHODS:
        if name in used:
            raise ExerciseFailed(f"your activation_unit calls .{name} (a method of the package's ActivationUnit): the "
                                 f"exercise is to write {what} yourself, from the rule (the check compares with "
                                 f"ActivationUnit for you)")
    refuse_calls(fn, "activation_unit", {ActivationUnit: what, ActivationUnit.weights_from_scores: what})


def _unit_and_params(dim: int, hidden: int, seed: int):
    """An ActivationUnit (one PReLU hidden layer; input ``[q, k, q - k, q * k]``) with random weights, and its state dict."""
    from ..layers import ActivationUnit

    with torch.random.fork_rng(devices=[]):  # leave the learner's random state alone
        torch.manual_seed(seed)
        unit = ActivationUnit(dim, dims=[hidden], activation="prelu").eval()
        with torch.no_grad():
            unit.act.alpha.uniform_(-0.5, 0.5)  # slopes that differ from ReLU's 0 and from each other
            unit.rest.output.bias.fill_(0.3)
    return unit, {k: v.detach().clone() for k, v in unit.state_dict().items()}


def _variant_weights(params: dict, query, keys, mask, parts: str = "qkdp", act: str = "prelu"):
    """Scores of a (possibly wrong) unit: ``parts`` picks the pieces of the input, in order."""
    q = query.unsqueeze(1).expand_as(keys)
    pieces = {"q": q, "k": keys, "d": q - keys, "r": keys - q, "p": q * keys,
              "t": (q * keys).sum(-1, keepdim=True).expand_as(keys)}
    h = torch.nn.functional.linear(torch.cat([pieces[c] for c in parts], -1), params["first.weight"],
                                   params["first.bias"])
    if act == "prelu":
        h = torch.where(h > 0, h, params["act.alpha"] * h)
    else:
        h = torch.relu(h)
    return torch.nn.functional.linear(h, params["rest.output.weight"], params["rest.output.bias"]).squeeze(-1)


_UNIT_HINT = ("a(.) is Linear over [q, k, q - k, q * k] (four blocks of D numbers, in that order), the PReLU "
              "hidden layer (slope params['act.alpha'] where h <= 0), then Linear to one score per behaviour; "
              "the weights are those scores, set to 0 on padding (no softmax), and v_U = sum_j w_j k_j")


@exercise("Exercise 03.2: the activation unit's forward pass")
def check_activation_unit(activation_unit) -> list[str]:
    """``activation_unit(query (B, D), keys (B, L, D), mask (B, L), params) -> (pooled (B, D), weights (B, L))``.

    ``params`` is the state dict of ``ActivationUnit(D, dims=[H], activation="prelu")``:
    ``first.weight`` (H, 4D), ``first.bias`` (H,), ``act.alpha`` (H,), ``rest.output.weight`` (1, H),
    ``rest.output.bias`` (1,). An answer that runs the package's ``ActivationUnit`` is refused.
    """
    _refuse_the_unit(activation_unit)
    lines = []
    for i, (name, query, keys, mask, _) in enumerate(_cases(seed=3)):
        dim = query.shape[1]
        unit, params = _unit_and_params(dim, hidden=5, seed=i)
        try:
            out = activation_unit(query.clone(), keys.clone(), mask.clone(), dict(params))
        except RuntimeError as err:
            if "parameter numbers" in str(err) and "channel" in str(err):  # F.prelu / nn.PReLU on (B, L, H)
                raise ExerciseFailed(
                    f"{name}: your function raised {type(err).__name__}: {err}. Hint: PyTorch's F.prelu and "
                    f"nn.PReLU take the channels on dimension 1, but the hidden layer is (batch, seq_len, H) with "
                    f"its H channels last, so they read the history axis as the channels. Apply the slopes "
                    f"params['act.alpha'] where h <= 0 yourself (they broadcast along the last axis), or move the "
                    f"channels to dimension 1 and back") from None
            if "shape" in str(err) or "size" in str(err):
                raise ExerciseFailed(
                    f"{name}: your function raised {type(err).__name__}: {err}. Hint: params['first.weight'] has "
                    f"4 * D = {4 * dim} inputs: [q, k, q - k, q * k] side by side, each block D numbers per "
                    f"behaviour (q repeated along the history; q * k is the element-wise product, not a dot or an "
                    f"outer product)") from None
            raise
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseFailed(f"{name}: got {type(out).__name__}. Hint: return two tensors, (pooled, weights)")
        pooled = _as_tensor(out[0], name, "return (pooled, weights) as tensors")
        weights = _as_tensor(out[1], name, "return (pooled, weights) as tensors")
        with torch.no_grad():
            want_pooled, want_w = unit(query, keys, mask, return_weights=True, naive=True)
            raw = _variant_weights(params, query, keys, mask)
        low = torch.finfo(raw.dtype).min
        variants = {
            "you left the padded steps in: their weights must be exactly 0 wherever the mask is False, "
            "or junk behaviours leak into v_U": raw,
            "no softmax: the paper drops it (section 4.3) so that the sum of the weights keeps the intensity of "
            "the interest; use the raw a(.) outputs as weights":
                torch.where(mask, torch.softmax(raw.masked_fill(~mask, low), -1), 0.0),
            "no softmax (and if there were one, padding would first have to be masked): use the raw a(.) "
            "outputs as weights": torch.softmax(raw, -1),
            "the third block is q - k (the candidate minus the behaviour), not k - q":
                torch.where(mask, _variant_weights(params, query, keys, mask, "qkrp"), 0.0),
            "the first two blocks are q then k (the candidate first), then q - k":
                torch.where(mask, _variant_weights(params, query, keys, mask, "kqrp"), 0.0),
            "the first two blocks are q then k (the candidate first)":
                torch.where(mask, _variant_weights(params, query, keys, mask, "kqdp"), 0.0),
            "the fourth block q * k is the element-wise product (the paper's 'out product', as the first "
            "author explained in the official repository's issues), D numbers, not the dot product":
                torch.where(mask, _variant_weights(params, query, keys, mask, "qkdt"), 0.0),
            "the hidden activation is PReLU, with the learned slopes params['act.alpha'] on the negative side, "
            "not ReLU": torch.where(mask, _variant_weights(params, query, keys, mask, act="relu"), 0.0),
        }
        hint = _diagnose(weights, variants)
        lines.append(compare(weights, want_w, f"{name}: weights", hint or _UNIT_HINT))
        lines.append(compare(pooled, want_pooled, f"{name}: pooled v_U", hint or _UNIT_HINT))
    lines.append("matches ActivationUnit(D, dims=[5], activation='prelu'), its first layer on the full input "
                 "[q, k, q - k, q * k] (naive=True)")
    return lines


# ---------------------------------------------------------------------------- 03.3
def _softmax_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    mask = _mask([4, 2, 6, 0], 6)
    scores = torch.randn(4, 6, generator=g) * 2
    scores = torch.where(mask, scores, torch.full_like(scores, 5.0))  # padded scores are junk, and high
    big = torch.tensor([[1000.0, 999.0, 990.0, 0.0]])  # exp(1000) overflows: stability matters
    return [("4 rows of lengths 4, 2, 6, 0 (junk scores on padding)", scores, mask),
            ("one row with scores near 1000", big, _mask([3], 4))]


@exercise("Exercise 03.3: masked softmax")
def check_masked_softmax(masked_softmax) -> list[str]:
    """``masked_softmax(scores (B, L), mask (B, L) bool) -> (B, L)``: a softmax over the real steps, 0 on padding.

    An answer that calls the package's ``ActivationUnit`` or its ``weights_from_scores`` is refused."""
    from ..layers import ActivationUnit

    refuse_calls(masked_softmax, "masked_softmax", {ActivationUnit: "the masked softmax",
                                                    ActivationUnit.weights_from_scores: "the masked softmax"})

    reference = ActivationUnit(1, dims=[1], use_softmax=True)
    lines = []
    for name, scores, mask in _softmax_cases():
        got = _as_tensor(masked_softmax(scores.clone(), mask.clone()), name, "return a (batch, seq_len) tensor")
        want = reference.weights_from_scores(scores, mask)
        low = torch.finfo(scores.dtype).min
        if torch.isnan(got).any():
            empty = ~mask.any(1)
            if empty.any() and torch.isnan(got[empty]).any() and not torch.isnan(got[~empty]).any():
                hint = ("a history with no real behaviour has nothing to normalise: its row must be all zeros "
                        "(compute the softmax, then zero the steps where the mask is False)")
            else:
                hint = ("exp of a large score overflows: subtract each row's largest score before exp, "
                        "or use torch.softmax, which does")
            raise ExerciseFailed(f"{name}: your result holds NaN. Hint: {hint}")
        zero_fill = ("setting padded scores to 0 is not enough: exp(0) = 1 still gives them a share; fill them with a "
                     "very negative number (the smallest the dtype holds) before the softmax")
        hint = _diagnose(got, [
            ("padded steps got probability: apply the mask BEFORE the softmax (fill their scores with a very "
             "negative number), so the real steps share all of it", torch.softmax(scores, -1)),
            (zero_fill, torch.softmax(scores.masked_fill(~mask, 0.0), -1)),
            (zero_fill, torch.where(mask, torch.softmax(scores.masked_fill(~mask, 0.0), -1), 0.0)),
            ("you zeroed padding after a softmax over every step, so the real steps do not sum to 1: mask before "
             "the softmax", torch.where(mask, torch.softmax(scores, -1), 0.0)),
            ("a history with no real behaviour must get all zeros, not 1/L each: zero the padded steps after "
             "the softmax too (the mask decides which steps keep theirs)", torch.softmax(scores.masked_fill(~mask, low), -1)),
        ])
        lines.append(compare(got, want, name, hint or "softmax over the real steps only (mask first), 0 on padding"))
    lines.append("real steps sum to 1, padding gets 0, a fully padded row is all zeros, large scores do not overflow")
    return lines
