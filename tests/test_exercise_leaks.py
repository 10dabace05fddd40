"""An exercise is only an exercise if its answer is not on the screen above it.

For every exercise of the series (a code cell naming ``solutions/NN_name_exK.py``), no cell before
it (code or markdown), no comment in its own stub cell and no hint string of its checker's module
may contain one of the solution's *key lines*.

Key lines are the non-trivial code lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``,
normalised so that renaming variables or reformatting does not hide a copy:
- comments, blank lines, imports, ``def``/``class``/decorator lines and control-flow headers
  (``for``, ``if``, ``while``, ``else``, ``try``) are dropped;
- whitespace goes; a leading ``return`` and assignment targets (``x =``, ``a, b =``) go;
- local names become ``_``; attributes (``.mean``), keyword names (``dim=``), builtins, constants
  (``PAD_ID``) and string literals stay; the module prefixes ``torch.``, ``F.``, ``np.`` go;
- what is left must be at least ``MIN_KEY_CHARS`` characters, and more than bare names and commas
  (``return pooled, weights`` is not a key line).
A cell line "contains" a key line when the key's normalised form is a substring of the cell line's.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import keyword
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
SOLUTIONS = NB_DIR / "solutions"
MIN_KEY_CHARS = 12

# Notebooks whose leaks other engineers are fixing now (issue 11, item 2). Remove a name once its notebook
# passes; xfail(strict=False) keeps the suite green meanwhile, and the synthetic tests below show the rule bites.
PENDING: set[str] = set()  # notebooks still being fixed; every notebook passes now

_KEEP = set(dir(builtins)) | set(keyword.kwlist) | {"self"}
_MODULES = {"torch", "np", "numpy", "F", "nn", "pd", "math", "functional"}
_TOKEN = re.compile(r"""(?P<str>[rbfuRBFU]{0,2}("[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*'))"""
                    r"""|(?P<name>[A-Za-z_]\w*)|(?P<other>\S)""")
_HEADER = re.compile(r"^(def|class|for|while|if|elif|else|try|except|finally|with|import|from|@)\b")
_TARGET = re.compile(r"^[\w\[\]\.,]+?(?:\+|-|\*|/)?=(?!=)")


def _strip_comment(line: str) -> str:
    """The line without its ``#`` comment (a ``#`` inside a string literal stays)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and line[i - 1] != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def normalise(line: str) -> str:
    """One code line in the comparison form described in the module docstring ('' for a trivial line)."""
    line = _strip_comment(line).strip()
    if not line or _HEADER.match(line) or line.startswith(("%", "!", "raise ", '"""', "'''")):
        return ""
    tokens = list(_TOKEN.finditer(line))
    out, prev = [], ""
    i = 0
    while i < len(tokens):
        tok, text = tokens[i], tokens[i].group(0)
        nxt = tokens[i + 1].group(0) if i + 1 < len(tokens) else ""
        if tok.group("name"):
            if text in _MODULES and nxt == "." and prev != ".":
                i += 2  # torch.where -> where: the module prefix goes, the function's name stays
                prev = "."
                continue
            nxt2 = tokens[i + 2].group(0) if i + 2 < len(tokens) else ""
            glued = i + 1 < len(tokens) and tokens[i + 1].start() == tok.end()
            is_kwarg = nxt == "=" and nxt2 != "=" and (prev in ("(", ",") or (prev == "" and glued))
            keep = prev == "." or is_kwarg or nxt == "(" or text in _KEEP or text.isupper()
            text = text if keep else "_"
            if out and re.match(r"\w", out[-1][-1]) and re.match(r"\w", text[0]):
                text = " " + text  # keep words apart: "for x in" is not "forxin"
        out.append(text)
        prev = tok.group(0)
        i += 1
    norm = "".join(out)
    if norm.startswith("return"):
        norm = norm[len("return"):].lstrip()
    norm = _TARGET.sub("", norm, count=1)
    return norm


def key_lines(solution_source: str) -> list[str]:
    """The solution's key lines, normalised (see the module docstring)."""
    body = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", solution_source, re.S)
    assert body, "a solution file wraps its body in ### BEGIN SOLUTION / ### END SOLUTION"
    keys = []
    for line in body.group(1).splitlines() + _joined_statements(body.group(1)):
        norm = normalise(line)
        if len(norm) >= MIN_KEY_CHARS and not re.fullmatch(r"[_,()\[\]]*", norm) and norm not in keys:
            keys.append(norm)
    return keys


def _joined_statements(source: str) -> list[str]:
    """Statements that span several lines, each joined into one line (a copy may be reformatted)."""
    joined, current, depth = [], [], 0
    for line in source.splitlines():
        code = _strip_comment(line).strip()
        current.append(code)
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0:
            if len(current) > 1:
                joined.append(" ".join(current))
            current, depth = [], 0
    return joined


def _text_lines(cell_source: str) -> list[str]:
    """Candidate code lines of a cell: each line, each `inline code` span and each comment's text."""
    lines = cell_source.splitlines()
    spans = [span for line in lines for span in re.findall(r"`([^`]+)`", line)]
    comments = [line[len(_strip_comment(line)):].lstrip("#") for line in lines]
    return lines + spans + [c for c in comments if c.strip()]


def leaks_in(keys: list[str], sources: list[tuple[str, str]]) -> list[str]:
    """(where, key) descriptions of each key line found in one of ``sources`` ((where, text) pairs)."""
    found = []
    for where, text in sources:
        normalised = [normalise(line) for line in _text_lines(text)]
        for key in keys:
            if any(key in n for n in normalised):
                found.append(f"{where}: {key!r}")
    return found


def _hint_strings(check_name: str) -> list[str]:
    """Every string literal of the module that defines ``din_tutorial.checks.<check_name>`` (its hints)."""
    checks = importlib.import_module("din_tutorial.checks")
    module = inspect.getmodule(inspect.unwrap(getattr(checks, check_name)))
    strings = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.JoinedStr):
            strings.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append(node.value)
    # adjacent literals ("a " "b") are one constant already; a hint split over f-strings is joined above
    return strings


def _printed_sources(cells) -> list[tuple[str, str]]:
    """The source that a cell prints with ``inspect.getsource(name)``: it is on the learner's screen too."""
    names: dict[str, str] = {}
    for cell in cells:
        if cell.cell_type == "code":
            for module, imported in re.findall(r"^from (din_tutorial[\w.]*) import \(?([\w, ]+)", cell.source, re.M):
                names.update({n.strip(): module for n in imported.split(",") if n.strip()})
    shown = []
    for j, cell in enumerate(cells):
        for target in re.findall(r"getsource\(([\w.]+)\)", cell.source) if cell.cell_type == "code" else []:
            head, *rest = target.split(".")
            obj = importlib.import_module(names.get(head, "din_tutorial"))
            for part in [head, *rest]:
                obj = getattr(obj, part)
            shown.append((f"cell {j} prints the source of {target}", inspect.getsource(obj)))
    return shown


def exercises(notebook: Path) -> list[tuple[str, int]]:
    """(solution name, index of the stub cell) for each exercise of the notebook."""
    nb = nbformat.read(notebook, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for name in re.findall(r"solutions/(\w+)\.py", cell.source):
                found.append((name, i))
    return found


def find_leaks(notebook: Path, solution_dir: Path = SOLUTIONS, hints: bool = True) -> list[str]:
    """Every leak of every exercise of ``notebook``: an empty list is a notebook that gives nothing away."""
    nb = nbformat.read(notebook, as_version=4)
    problems = []
    for name, stub in exercises(notebook):
        source = (solution_dir / f"{name}.py").read_text()
        keys = key_lines(source)
        earlier = [(f"{name}: cell {j} ({c.cell_type})", c.source) for j, c in enumerate(nb.cells[:stub])]
        earlier += [(f"{name}: {where}", text) for where, text in _printed_sources(nb.cells[:stub])]
        stub_comments = "\n".join(line for line in nb.cells[stub].source.splitlines() if "%load" not in line)
        earlier.append((f"{name}: its stub cell {stub}", stub_comments))
        if hints:
            check = re.findall(r"^(check_\w+)\(", source, re.M)
            for check_name in check:
                earlier += [(f"{name}: a hint string of {check_name}'s module", s) for s in _hint_strings(check_name)]
        problems += leaks_in(keys, earlier)
    return problems


NOTEBOOKS = sorted(p.stem for p in NB_DIR.glob("[0-9][0-9]_*.ipynb") if p.stem != "00_index")


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason="issue 11: being fixed by another engineer", strict=False))
    if n in PENDING else n for n in NOTEBOOKS])
def test_no_exercise_answer_before_its_exercise(name):
    assert exercises(NB_DIR / f"{name}.ipynb"), f"{name}: no exercise found"
    leaks = find_leaks(NB_DIR / f"{name}.ipynb")
    assert not leaks, f"{name} shows an exercise's answer before the exercise:\n" + "\n".join(leaks)


def test_every_solution_has_key_lines():
    for path in sorted(SOLUTIONS.glob("[0-9][0-9]_*_ex*.py")):
        assert key_lines(path.read_text()), f"{path.name}: no key line, so no leak of it could ever be found"


# ---- the rule itself, on made-up material: it must be able to fail

SOLUTION = '''# Exercise 99.1
import torch
from din_tutorial.checks import check_nothing


def pooled(weights, keys, mask):
    """doc"""
    ### BEGIN SOLUTION
    w = torch.where(mask, weights, 0.0)  # padded steps weigh nothing
    return (w.unsqueeze(-1) * keys).sum(dim=1)
    ### END SOLUTION


check_nothing(pooled)
'''


def _synthetic(tmp_path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / "99_synthetic.ipynb"
    nbformat.write(nb, path)
    (tmp_path / "99_synthetic_ex1.py").write_text(SOLUTION)
    return path


STUB = nbformat.v4.new_code_cell(
    "def pooled(weights, keys, mask):\n    # Stuck? %load solutions/99_synthetic_ex1.py\n"
    "    raise NotImplementedError('Exercise 99.1: your code here')")


def test_key_lines_are_normalised_and_trivial_lines_dropped():
    assert key_lines(SOLUTION) == ["where(_,_,0.0)", "(_.unsqueeze(-1)*_).sum(dim=1)"]
    assert normalise("x = torch.cat([q, k], dim=-1)") == normalise("h=torch.cat([a,b],dim=-1)  # c") == "cat([_,_],dim=-1)"
    assert normalise("(m * s).sum(dim=1) / m.sum(dim=1)") == "(_*_).sum(dim=1)/_.sum(dim=1)"
    assert normalise("    return pooled, weights") == "_,_"
    assert normalise("import torch") == normalise("def f(x):") == normalise("# a comment") == ""


def test_a_renamed_copy_before_the_exercise_is_found(tmp_path):
    leak = nbformat.v4.new_code_cell("def by_hand(s, m, k):\n"
                                     "    a = torch.where(m,  s, 0.0)\n    return (a.unsqueeze(-1) * k).sum(dim=1)")
    path = _synthetic(tmp_path, [leak, STUB])
    leaks = find_leaks(path, solution_dir=tmp_path, hints=False)
    assert len(leaks) == 2 and all("cell 0 (code)" in x for x in leaks), leaks


def test_a_copy_in_markdown_or_in_the_stub_is_found(tmp_path):
    md = nbformat.v4.new_markdown_cell("Hint: use `(w.unsqueeze(-1) * keys).sum(dim=1)`.")
    stub = nbformat.v4.new_code_cell(STUB.source.replace("# Stuck?", "# w = torch.where(mask, weights, 0.0)\n# Stuck?"))
    leaks = find_leaks(_synthetic(tmp_path, [md, stub]), solution_dir=tmp_path, hints=False)
    assert any("cell 0 (markdown)" in x for x in leaks) and any("stub cell" in x for x in leaks), leaks


def test_the_same_code_after_the_exercise_is_allowed(tmp_path):
    check = nbformat.v4.new_code_cell("check_nothing(pooled)")
    after = nbformat.v4.new_code_cell("w = torch.where(mask, weights, 0.0)\nv = (w.unsqueeze(-1) * keys).sum(dim=1)")
    intro = nbformat.v4.new_markdown_cell("Pool the keys with the weights; padded steps must weigh nothing.")
    assert find_leaks(_synthetic(tmp_path, [intro, STUB, check, after]), solution_dir=tmp_path, hints=False) == []
