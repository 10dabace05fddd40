"""Tools for instructors and maintainers: the student copy of the series, and clean notebooks.

    python -m din_tutorial.classroom student-copy notebooks/ student_notebooks/
    python -m din_tutorial.classroom clean notebooks/*.ipynb
    python -m din_tutorial.classroom check notebooks/*.ipynb

``student-copy`` writes the series without solutions: ``notebooks/solutions/`` is left out,
code between nbgrader's ``### BEGIN SOLUTION`` and ``### END SOLUTION`` markers becomes
``raise NotImplementedError``, lines that point to a solution file (``%load solutions/...``)
are removed, and outputs are stripped. The ``check_*`` calls stay, so students can still
check their answers. Instructors who use nbgrader can use its own ``nbgrader generate_assignment``
on the same markers instead.

``clean`` strips outputs, execution counts and per-cell metadata noise and sets the
``python3`` kernel (what the tests require of committed notebooks); ``check`` only reports.

Taught in notebooks/00_index.ipynb (for instructors).
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

__all__ = ["clean_notebook", "notebook_problems", "strip_solutions", "make_student_copy"]

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_POINTER = re.compile(r"^\s*#?\s*%load\s+solutions/.*$|^.*\bsolutions/\S+\.py\b.*$", re.MULTILINE)
KEEP_CELL_METADATA = ("tags", "editable", "deletable")


def _nbformat():
    try:
        import nbformat
    except ImportError as e:  # pragma: no cover - jupyter extras missing
        raise ImportError("these tools need nbformat: pip install 'din-tutorial[notebooks]'") from e
    return nbformat


def clean_notebook(nb) -> bool:
    """Strip outputs, execution counts and cell metadata noise; set the python3 kernel. Returns True if changed."""
    before = repr(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEEP_CELL_METADATA}
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return repr(nb) != before


def notebook_problems(nb) -> list[str]:
    """What keeps a notebook from being committed: outputs, execution counts, another kernel."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.get("outputs"):
            problems.append(f"cell {i} has outputs")
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            problems.append(f"cell {i} has an execution count")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append(f"kernel is {nb.metadata.get('kernelspec', {}).get('name')!r}, not 'python3'")
    return problems


def strip_solutions(source: str) -> str:
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block with ``raise NotImplementedError``."""
    lines, out, inside, indent = source.splitlines(), [], False, ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError(\"your code here\")")
            continue
        if stripped.startswith(END):
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise ValueError(f"a {BEGIN!r} marker has no matching {END!r}")
    return "\n".join(out)


def make_student_copy(src: str | Path, dest: str | Path) -> list[Path]:
    """Write the student copy of the notebooks in ``src`` to ``dest``; returns the notebooks written."""
    nbformat = _nbformat()
    src, dest = Path(src), Path(dest)
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a folder of notebooks")
    if dest.resolve() == src.resolve():
        raise ValueError("dest must differ from src: the student copy never overwrites the instructor's notebooks")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = strip_solutions(cell.source)
            cell.source = SOLUTION_POINTER.sub("", cell.source).rstrip("\n") if "solutions/" in cell.source \
                else cell.source
        clean_notebook(nb)
        nbformat.write(nb, dest / path.name)
        written.append(dest / path.name)
    for extra in src.iterdir():  # data files or images next to the notebooks travel too; solutions do not
        if extra.is_file() and extra.suffix != ".ipynb":
            shutil.copy2(extra, dest / extra.name)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m din_tutorial.classroom", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("student-copy", help="write the series without solutions")
    s.add_argument("src")
    s.add_argument("dest")
    c = sub.add_parser("clean", help="strip outputs and set the python3 kernel, in place")
    c.add_argument("notebooks", nargs="+")
    k = sub.add_parser("check", help="list notebooks that are not clean (exit 1 if any)")
    k.add_argument("notebooks", nargs="+")
    args = ap.parse_args(argv)
    if args.cmd == "student-copy":
        written = make_student_copy(args.src, args.dest)
        print(f"wrote {len(written)} student notebooks to {args.dest} (solutions stripped, checks kept)")
        return 0
    nbformat = _nbformat()
    bad = 0
    for name in args.notebooks:
        nb = nbformat.read(name, as_version=4)
        if args.cmd == "clean":
            if clean_notebook(nb):
                nbformat.write(nb, name)
                print(f"cleaned {name}")
        else:
            for problem in notebook_problems(nb):
                print(f"{name}: {problem}")
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
