"""environment.yml (conda) and pyproject.toml (pip) name the same packages with compatible bounds."""
import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch", "python-graphviz": "graphviz"}
CONDA_ONLY = {"python", "pip", "graphviz"}  # graphviz here is the `dot` program, not the Python binding


def split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = list(project["dependencies"])
    for name, reqs in project["optional-dependencies"].items():
        pip_reqs += [r for r in reqs if not r.startswith("din-tutorial") and ";" not in r]  # markers: pip only
    pip = dict(split(r) for r in pip_reqs)

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert dep["pip"] == ["-e ."]
            continue
        name, bound = split(dep)
        if name in CONDA_ONLY:
            continue
        conda[CONDA_TO_PIP.get(name, name)] = bound
    assert set(conda) == set(pip), f"only in conda: {set(conda) - set(pip)}; only in pip: {set(pip) - set(conda)}"
    for name, bound in pip.items():
        assert conda[name] == bound, f"{name}: pip says {bound!r}, conda says {conda[name]!r}"


def test_every_conda_line_says_which_notebook_needs_it():
    lines = [ln for ln in (ROOT / "environment.yml").read_text().splitlines() if ln.strip().startswith("- ")]
    deps = [ln for ln in lines if not ln.strip().startswith("- conda-forge")]
    assert deps and all("#" in ln for ln in deps), [ln for ln in deps if "#" not in ln]


def test_python_floor_agrees():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = (ROOT / "environment.yml").read_text()
    assert project["requires-python"] == ">=3.10" and "python>=3.10" in env
