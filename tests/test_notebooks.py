"""The notebook series: present, clean (no outputs, python3 kernel), templated, with exercises; the student copy."""
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from din_tutorial.classroom import clean_notebook, notebook_problems, strip_solutions

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
SERIES = [
    "00_index", "01_data_preparation", "02_feature_definitions", "03_activation_unit", "04_dice",
    "05_training", "06_evaluation", "07_visualization", "08_onnx_export", "09_scaling_out", "10_real_data",
]


def load(name):
    return nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)


def test_the_series_is_complete_and_nothing_else_is_numbered():
    found = sorted(p.stem for p in NB_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert found == SERIES


@pytest.mark.parametrize("name", SERIES)
def test_committed_clean(name):
    assert notebook_problems(load(name)) == [], "run: python -m din_tutorial.classroom clean notebooks/*.ipynb"


@pytest.mark.parametrize("name", SERIES)
def test_template_header_setup_summary(name):
    nb = load(name)
    first = nb.cells[0].source
    for part in ("What you will learn", "Prerequisites", "Runtime"):
        assert part in first, f"{name}: the header lacks {part!r}"
    text = "\n".join(c.source for c in nb.cells)
    assert "## Summary" in text or "## Where to go next" in text
    if name != "00_index":
        assert "00_index.ipynb" in first  # a link back to the map


@pytest.mark.parametrize("name", SERIES[1:])
def test_at_least_two_exercises_with_checks(name):
    cells = [c.source for c in load(name).cells if c.cell_type == "code"]
    stubs = [i for i, s in enumerate(cells) if "raise NotImplementedError" in s]
    assert len(stubs) >= 2, f"{name}: fewer than two exercise stubs"
    for i in stubs:
        following = "\n".join(cells[i: i + 2])
        assert re.search(r"\bcheck_\w+\(", following), f"{name}: exercise in code cell {i} has no check_* call after it"
        assert re.search(r"solutions/\S+\.py", following), f"{name}: exercise in code cell {i} names no solution file"


def test_solution_files_referenced_exist():
    text = "\n".join(c.source for name in SERIES for c in load(name).cells)
    referenced = set(re.findall(r"solutions/(\S+?\.py)", text))
    assert referenced, "no solution is referenced"
    missing = [r for r in referenced if not (NB_DIR / "solutions" / r).exists()]
    assert not missing


def test_clean_notebook_and_strip_solutions_units():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)]
    cell.execution_count = 1
    nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "din-venv"}
    assert len(notebook_problems(nb)) == 3
    assert clean_notebook(nb) and notebook_problems(nb) == []
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    assert strip_solutions(src) == 'def f(x):\n    raise NotImplementedError("your code here")'
    with pytest.raises(ValueError, match="no matching"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def test_student_copy_command(tmp_path):
    dest = tmp_path / "student"
    out = subprocess.run([sys.executable, "-m", "din_tutorial.classroom", "student-copy", str(NB_DIR), str(dest)],
                         capture_output=True, text=True, check=True)
    assert "solutions stripped" in out.stdout
    assert sorted(p.stem for p in dest.glob("*.ipynb")) == SERIES
    assert not (dest / "solutions").exists()
    for name in SERIES:
        nb = nbformat.read(dest / f"{name}.ipynb", as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        assert "solutions/" not in text and "BEGIN SOLUTION" not in text
        assert notebook_problems(nb) == []
        original = "\n".join(c.source for c in load(name).cells)
        assert len(re.findall(r"\bcheck_\w+\(", text)) == len(re.findall(r"\bcheck_\w+\(", original))


@pytest.mark.parametrize("name", SERIES)
def test_din_tutorial_is_imported_before_torch(name):
    """OMP_WAIT_POLICY=PASSIVE (din_tutorial/__init__.py) reaches OpenMP only if set before torch loads it.

    Measured: 40 training steps of the seed's DIN at batch 256 on 2 threads took 7-17 s with OpenMP's
    default (spinning) waits and 1-2 s with passive waits, on this 2-core machine with other work running.
    """
    first = next(c for c in load(name).cells if c.cell_type == "code").source.splitlines()
    imports = [line for line in first if re.match(r"(import|from) (din_tutorial|torch|sklearn)\b", line)]
    heavy = [i for i, line in enumerate(imports) if not line.split()[1].startswith("din_tutorial")]
    if heavy:
        assert imports[0].startswith("import din_tutorial"), f"{name}: import din_tutorial before {imports[heavy[0]]!r}"


def _notebook_times():
    """benchmarks/notebook_times.py as a module (benchmarks/ is not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "notebook_times.py"
    spec = importlib.util.spec_from_file_location("notebook_times", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runtimes_in_the_notebooks_are_the_measured_ones():
    """00's map, its total and every header's **Runtime** line say what benchmarks/notebook_times.json measured."""
    import json

    times = _notebook_times()
    report = json.loads((times.ROOT / "benchmarks" / "notebook_times.json").read_text())
    for mode in ("full", "fast"):
        measured = {r["notebook"] for r in report["modes"][mode]["notebooks"] if r["ok"]}
        assert measured == {p.name for p in times.series(None)}, f"{mode} mode: every notebook measured, each ran to its end"
    stale = [name for name, nb in times.documented(report).items()
             if nb != json.loads((times.NOTEBOOKS / name).read_text())]
    assert not stale, f"{stale} disagree with benchmarks/notebook_times.json: run benchmarks/notebook_times.py --write-docs"
    index = "".join("".join(c["source"]) for c in json.loads((times.NOTEBOOKS / "00_index.ipynb").read_text())["cells"])
    for name in measured:
        assert times.map_cells(name, report) in index, f"00's map has {name}'s measured runtimes"
    assert times.total_row(report) in index


def test_duration_format():
    times = _notebook_times()
    assert [times.duration(s) for s in (4.4, 59.6, 60, 125.2, 1801)] == ["4 s", "1 min 00 s", "1 min 00 s",
                                                                          "2 min 05 s", "30 min 01 s"]
