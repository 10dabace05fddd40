"""The machinery behind every ``check_*`` helper: run the learner's function, compare, report, hint.

A check prints what matched (shapes, values, the largest difference) and returns True; on a
mismatch it raises :class:`ExerciseFailed` with a hint about the likely mistake, never the
answer. A stub that still raises ``NotImplementedError`` is reported as "not attempted yet"
and returns False, so a notebook with untouched exercises still runs top to bottom.

Taught in notebooks/00_index.ipynb (how the exercises work).
"""
from __future__ import annotations

import dis
import functools
import inspect
import sys
import types
from collections.abc import Callable

import numpy as np

__all__ = ["ExerciseFailed", "exercise", "compare", "report", "refuse_calls", "refuse_the_checks", "references"]


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
    """Decorate a check: NotImplementedError from the learner's stub becomes "not attempted yet".

    Before the check runs, an answer that is, or uses, one of din_tutorial.checks' own functions or classes
    (the references the checks compare with) is refused: :func:`refuse_the_checks`."""

    def wrap(check: Callable[..., list[str]]):
        answer = next(iter(inspect.signature(check).parameters), "answer")  # the learner's function's name
        @functools.wraps(check)
        def run(*args, **kwargs) -> bool:
            if args and callable(args[0]):  # every check: its own reference (in din_tutorial.checks) is no answer
                refuse_the_checks(args[0], answer)
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


#: What a name refers to when the code alone cannot tell (an attribute of a local variable, an empty cell).
UNRESOLVED = object()
_NO_OBJECT = object()  # the instruction before left no object to read an attribute of


def _static_attribute(obj, name: str):
    """``obj.name`` read without running any code (no properties, no ``__getattr__``): a module's, a class's or an
    instance's attribute (an instance's method is read as its class's function)."""
    if obj is UNRESOLVED:
        return UNRESOLVED
    if isinstance(obj, types.ModuleType):
        return vars(obj).get(name, UNRESOLVED)
    try:
        return inspect.getattr_static(obj, name, UNRESOLVED)
    except (AttributeError, TypeError, ValueError):  # an exotic object: tell nothing rather than fail the check
        return UNRESOLVED


def _cell(cells: dict, name: str):
    try:
        return cells[name].cell_contents
    except (KeyError, ValueError):  # not one of this function's cells, or a cell not filled yet
        return UNRESOLVED


def _code_references(fn, code, cells: dict):
    """``(name, object)`` for each global, enclosing-scope, imported and ``module.attribute`` name ``code`` reads."""
    scope = fn.__globals__
    builtins_ = scope.get("__builtins__", {})
    builtins_ = vars(builtins_) if isinstance(builtins_, types.ModuleType) else builtins_
    current, imported = _NO_OBJECT, None
    for ins in dis.get_instructions(code):
        op, name = ins.opname, ins.argval
        if op in ("LOAD_GLOBAL", "LOAD_NAME"):
            current = scope.get(name, builtins_.get(name, UNRESOLVED))
        elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
            current = _cell(cells, name)
        elif op in ("LOAD_ATTR", "LOAD_METHOD"):
            current = UNRESOLVED if current is _NO_OBJECT else _static_attribute(current, name)
        elif op == "IMPORT_NAME":
            imported = sys.modules.get(name)
            current = imported if imported is not None else UNRESOLVED
        elif op == "IMPORT_FROM":
            current = _static_attribute(imported, name) if imported is not None else UNRESOLVED
        else:
            if op not in ("CACHE", "EXTENDED_ARG", "PRECALL", "NOP"):
                current = _NO_OBJECT
            continue
        yield name, current


def _wrapped(obj) -> tuple[list, list]:
    """What a callable hands its work to, as (what runs under the callable's name, its other ingredients): a
    partial's function (and its arguments), a bound method's function and instance, a decorated function's
    ``__wrapped__``."""
    if isinstance(obj, functools.partial):
        return [obj.func], [*obj.args, *obj.keywords.values()]
    if isinstance(obj, types.MethodType):
        return [obj.__func__, obj.__self__], []
    if isinstance(obj, types.FunctionType) and hasattr(obj, "__wrapped__"):
        return [obj.__wrapped__], []
    return [], []


def references(fn) -> list[tuple[str, object]]:
    """``(name, object)`` for everything an answer's code refers to, the answer itself first.

    The object is what the name resolves to: in the function's globals (or the builtins), in its closure
    cells, its default arguments, through ``module.attribute`` and ``Class.attribute`` chains and imports,
    and through the functions and classes the learner wrote (those sharing the answer's globals, such as
    the notebook's own helpers; a callable instance of such a class, the answer included, through its
    ``__call__``, its class and what it keeps on ``self``; a dict, list or tuple through its items),
    followed to any depth; :data:`UNRESOLVED` where the code alone cannot
    tell (an attribute of a local variable). Names built at run time (``getattr(m, "ga" + "uc")``) are
    not seen.
    """
    out: list[tuple[str, object]] = []
    home = None  # the globals of the learner's code: the answer's own
    todo: list[tuple[str, object]] = [(getattr(fn, "__name__", type(fn).__name__), fn)]
    seen: set[int] = set()
    while todo:
        name, obj = todo.pop(0)
        out.append((name, obj))
        if obj is UNRESOLVED or id(obj) in seen:
            continue
        seen.add(id(obj))
        runs, ingredients = _wrapped(obj)
        todo.extend((name, w) for w in runs)  # still under the name the answer used
        todo.extend((getattr(w, "__name__", "<argument>"), w) for w in ingredients)
        if isinstance(obj, (dict, list, tuple, set, frozenset)):  # a container the code reads from: d["g"](...)
            todo.extend((name, v) for v in (obj.values() if isinstance(obj, dict) else obj))
            continue
        call = _static_attribute(type(obj), "__call__")
        learners = obj is fn or (home is not None and type(obj).__module__ == home.get("__name__"))
        if learners and not isinstance(obj, (types.FunctionType, type)) and isinstance(call, types.FunctionType):
            todo.append((name, call))  # a callable instance: its class's __call__ runs under the answer's name,
            todo.append((type(obj).__name__, type(obj)))  # its class's other methods and what it keeps on self
            todo.extend((key, value) for key, value in getattr(obj, "__dict__", {}).items())
            continue
        if isinstance(obj, types.FunctionType):
            if home is None:
                home = obj.__globals__
            if obj.__globals__ is not home:
                continue  # library code: what it calls is its own business
            cells = dict(zip(obj.__code__.co_freevars, obj.__closure__ or ()))
            defaults = [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
            todo.extend((getattr(d, "__name__", "<default>"), d) for d in defaults)
            for code in code_objects(obj):
                todo.extend(_code_references(obj, code, cells))
        elif isinstance(obj, type) and home is not None and obj.__module__ == home.get("__name__"):
            todo.extend((getattr(b, "__name__", name), b) for b in obj.__bases__)  # the learner's own class
            for key, value in vars(obj).items():
                value = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                if isinstance(value, types.FunctionType):
                    todo.append((key, value))
    return out


def _own(obj, home_module: str | None) -> bool:
    """Whether ``obj`` is what the learner wrote (it may then carry any name): a function or class of the answer's
    module, a partial or bound method of one, or an instance of such a class."""
    if home_module is None or obj is UNRESOLVED:
        return False
    obj = obj.func if isinstance(obj, functools.partial) else obj
    obj = obj.__func__ if isinstance(obj, types.MethodType) else obj
    if not isinstance(obj, (types.FunctionType, type)):
        obj = type(obj)
        if obj.__module__ in ("builtins", None):
            return False
    return getattr(obj, "__module__", None) == home_module


def _is(obj, forbidden) -> bool:
    if obj is forbidden:
        return True
    return isinstance(obj, type) and isinstance(forbidden, type) and issubclass(obj, forbidden)


def refuse_calls(fn, answer: str, forbidden: dict, reference: str | None = None) -> None:
    """An answer that calls what the exercise asks the learner to write is no answer.

    ``forbidden`` maps what the answer may not use to the step it computes. A key is either a name (a str:
    a function, class, method or attribute) or the object itself (a function, class or method); an object
    is also refused under its own ``__name__``. The first one the answer uses raises :class:`ExerciseFailed`
    naming it. ``reference`` names what the check compares with, where that is not the refused name itself.

    What counts as "uses" is resolved, not only read (:func:`references`): the answer function itself, the
    objects its global names, closure cells and default arguments resolve to, ``module.attribute`` chains
    (``M.gauc`` with ``M`` a module), and the code of the learner's own helpers, to any depth. So an alias
    (``g = gauc`` at module level, or ``lambda ...: g(...)``) is refused like the name, and so is an
    instance of a refused class (a fitted ``PCA`` in the notebook's scope). A name is refused where the
    code cannot tell what it is (``unit.scores`` on a local variable), but not where it resolves to a
    function or class the learner wrote: a learner's own helper may carry a refused name. Deliberate
    obfuscation, names built at run time (``getattr(module, "ga" + "uc")``) or ``eval``, is not caught.
    """
    refs = references(fn)
    home = next((o.__globals__ for _, o in refs if isinstance(o, types.FunctionType)), None)
    home_module = home.get("__name__") if home is not None else None
    entries = [(key if isinstance(key, str) else getattr(key, "__name__", repr(key)),
                None if isinstance(key, str) else key, what) for key, what in forbidden.items()]

    def refuse(shown: str, alias: str, what: str):
        as_ = f" (as {alias})" if alias != shown else ""
        raise ExerciseFailed(f"your {answer} calls {shown}{as_}: the exercise is to write {what} yourself, from the "
                             f"rule (the check compares with {reference or shown} for you)")

    for shown, obj, what in entries:  # the refused names and objects themselves, under any name
        for name, got in refs:
            if obj is not None and _is(got, obj):
                refuse(shown, name, what)
            if name == shown and not _own(got, home_module):
                refuse(shown, name, what)
    for shown, obj, what in entries:  # then an instance of a refused class, e.g. a fitted estimator in scope
        if isinstance(obj, type):
            for name, got in refs:
                if isinstance(got, obj):
                    refuse(shown, name, what)


def refuse_the_checks(fn, answer: str) -> None:
    """Every check's reference lives in ``din_tutorial.checks``: an answer that uses one of its functions or
    classes (under any name: the answer itself, an alias, a closure) copies what it is compared with."""
    for name, got in references(fn):
        module = getattr(got, "__module__", None) or ""
        if (isinstance(got, (types.FunctionType, type)) and module.startswith(f"{__package__}.")
                and module != __name__ and not (isinstance(got, type) and issubclass(got, BaseException))):
            shown = got.__name__
            as_ = f" (as {name})" if name != shown else ""
            raise ExerciseFailed(f"your {answer} calls {shown}{as_}, which the checks define: the exercise is to "
                                 f"write it yourself, from the rule (the check compares with {shown} for you)")
