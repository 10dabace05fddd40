"""Shared test set-up: notebooks run in fast mode unless the caller chose otherwise, and OpenMP threads sleep
rather than spin while they wait.

nbmake, the JupyterLab test and the torchrun tests start kernels and workers from this process, so they inherit
this environment; it is set here, before any test module imports torch (libgomp reads it once, when it loads).

OMP_WAIT_POLICY=PASSIVE: torch's intra-op threads (OpenMP) otherwise spin at every barrier. On a 2-core machine
with another busy process, a second thread then burns the CPU its partner needs: one training batch of notebook
05 took 6-8 s with 2 threads against 0.6-0.7 s with 1 (and 10 times the CPU), and 0.8 s with 2 threads and this
policy (measured with the machine at load 15). The numbers computed do not depend on it.
"""
import os
from pathlib import Path

# nbmake starts each notebook's kernel from this process, so the kernel inherits this.
os.environ.setdefault("DIN_TUTORIAL_FAST", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_collection_modifyitems(config, items):
    """A notebook that the JupyterLab test runs in this session is not run by nbmake as well.

    Both run the notebook in fast mode from a fresh kernel and fail on an error output; the browser test also
    checks its widgets. Running it twice cost the series' whole run time (about a quarter of CI's test time).
    Where the browser test is not collected (no chromium outside CI, -k, a single notebook path), nbmake runs
    every notebook as before.
    """
    if os.environ.get("DIN_BROWSER_NOTEBOOKS"):  # the browser test runs another folder's notebooks
        return
    in_browser = {item.callspec.params["name"] for item in items
                  if item.nodeid.startswith("tests/test_browser.py::") and hasattr(item, "callspec")}
    if not in_browser:
        return
    notebooks = Path(__file__).resolve().parent / "notebooks"
    twice = [item for item in items if item.path.suffix == ".ipynb" and item.path.parent == notebooks
             and item.path.stem in in_browser]
    if twice:
        config.hook.pytest_deselected(items=twice)
        items[:] = [item for item in items if item not in twice]
