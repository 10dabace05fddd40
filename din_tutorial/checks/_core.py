"""The machinery behind every ``check_*`` helper: run the learner's function, compare, report, hint.

A check prints what matched (shapes, values, the largest difference) and returns True; on a
mismatch it raises :class:`ExerciseFailed` with a hint about the likely mistake, never the
answer. A stub that still raises ``NotImplementedError`` is reported as "not attempted yet"
and returns False, so a notebook with untouched exercises still runs top to bottom.

Taught in notebooks/00_index.ipynb (how the exercises work).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

__all__ = ["ExerciseFailed", "exercise", "compare", "report", "refuse_calls"]


class ExerciseFailed(AssertionError):
    """The learner's answer does not match the reference; the message carries a hint."""


def report(name: str, lines: list[str]) -> None:
    print(f"[ok] {name}")
    for line in lines:
        print(f"     {line}")


def compare(got, want, what: str, hint: str, atol: float = 1e-5, rtol: float = 1e-4) -> str:
    """Compare arrays or tensors; return a one-line summary, or raise ExerciseFailed with ``hint``."""
    g = got.detach().cpu().numpy() if hasattr(got, "detach") else np.asarray(got)
    w = want.detach().cpu().numpy() if hasattr(want, "detach") else np.asarray(want)
    if g.shape != w.shape:
        raise ExerciseFailed(f"{what}: shape {tuple(g.shape)}, expected {tuple(w.shape)}. Hint: {hint}")
    if g.size == 0:
        return f"{what}: shape {tuple(g.shape)} (empty) matches"
    g64, w64 = g.astype(np.float64), w.astype(np.float64)
    if np.isnan(g64).any() and not np.isnan(w64).any():
        raise ExerciseFailed(f"{what}: your result holds NaN. Hint: {hint}")
    diff = float(np.nanmax(np.abs(g64 - w64)))
    if not np.allclose(g64, w64, atol=atol, rtol=rtol, equal_nan=True):
        raise ExerciseFailed(f"{what}: values differ from the reference (max |difference| = {diff:.3g}). Hint: {hint}")
    return f"{what}: shape {tuple(g.shape)}, max |difference| = {diff:.1e}"


def exercise(name: str):
    """Decorate a check: NotImplementedError from the learner's stub becomes "not attempted yet"."""

    def wrap(check: Callable[..., list[str]]):
        @functools.wraps(check)
        def run(*args, **kwargs) -> bool:
            try:
                lines = check(*args, **kwargs)
            except NotImplementedError:
                print(f"[todo] {name}: not attempted yet. Replace the `raise NotImplementedError` in the exercise "
                      f"cell with your code, run it, then run this check again.")
                return False
            report(name, lines or [])
            return True

        return run

    return wrap


def code_objects(fn):
    """A function's code object and every code object nested in it (comprehensions, inner functions)."""
    todo = [getattr(fn, "__code__", None)]
    while todo:
        code = todo.pop()
        if code is None:
            continue
        yield code
        todo.extend(c for c in code.co_consts if hasattr(c, "co_names"))


def names_used(fn) -> set[str]:
    """The global, attribute and enclosing-scope names a function's code (and the code nested in it) refers to."""
    return {name for code in code_objects(fn) for name in code.co_names + code.co_freevars}


def refuse_calls(fn, answer: str, forbidden: dict[str, str], reference: str | None = None) -> None:
    """An answer that calls what the exercise asks the learner to write is no answer.

    ``forbidden`` maps a name (a function, class or attribute the answer's code may refer to) to the step
    it computes; the first one the answer uses raises :class:`ExerciseFailed` naming it. ``reference``
    names what the check compares with, where that is not the refused name itself.
    """
    used = names_used(fn)
    for name, what in forbidden.items():
        if name in used:
            raise ExerciseFailed(f"your {answer} calls {name}: the exercise is to write {what} yourself, from the "
                                 f"rule (the check compares with {reference or name} for you)")
