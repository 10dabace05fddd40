"""JupyterLab in a real browser: every notebook of the series opens in headless Chromium, runs all its cells
without an error and renders every widget; in 03 and 04, moving a widget (a dropdown choice, arrow keys on a
slider) redraws the attention or Dice figure. A screenshot of each notebook goes to artifacts/browser/<name>.png.

One JupyterLab (on a throwaway copy of notebooks/, fast mode) and one Chromium serve all the notebooks;
each notebook is its own test. Knobs, for debugging:
    DIN_BROWSER_NOTEBOOKS=/some/folder  run that folder's NN_*.ipynb instead of notebooks/
    DIN_BROWSER_ARTIFACTS=/some/folder  screenshots and timings there instead of artifacts/browser/
    DIN_BROWSER_STALL=300               CPU seconds the kernel may compute without finishing a cell
    DIN_BROWSER_IDLE=180                seconds the kernel may use no CPU while a cell waits
    DIN_BROWSER_TIMEOUT=1800            seconds one notebook may take to run all its cells, at most
The limits watch progress, not the total: on a loaded machine the kernel gets a small share of a core and every
cell takes longer in wall time, but a cell that computes forever fails after DIN_BROWSER_STALL seconds of the
kernel's CPU time, and a deadlock (or a lost request, the cell showing [*] forever) after DIN_BROWSER_IDLE seconds.
artifacts/browser/timings.txt lists each notebook's slowest cells (wall and CPU seconds) and the kernel's messages.
Outside CI, the test skips when Debian's chromium or Python playwright is missing; with CI=true it fails.
"""
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = Path(os.environ.get("DIN_BROWSER_NOTEBOOKS", ROOT / "notebooks")).resolve()
ARTIFACTS = Path(os.environ.get("DIN_BROWSER_ARTIFACTS", ROOT / "artifacts" / "browser")).resolve()
CHROMIUM = Path("/usr/bin/chromium")
STALL = float(os.environ.get("DIN_BROWSER_STALL", "300"))
IDLE = float(os.environ.get("DIN_BROWSER_IDLE", "180"))
TIMEOUT = float(os.environ.get("DIN_BROWSER_TIMEOUT", "1800"))
INTERACTIVE = ("03", "04")  # notebooks whose widgets must redraw their figure when moved
NOTEBOOKS = sorted(p.stem for p in NB_DIR.glob("[0-9][0-9]_*.ipynb"))
IN_CI = os.environ.get("CI", "").lower() == "true"

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"Debian's chromium is not installed ({CHROMIUM}; apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python playwright is not installed (pip install -e '.[dev]')"
    return None


if _missing() and not IN_CI:
    pytest.skip(f"browser test skipped: {_missing()}", allow_module_level=True)

from browser_utils import CHROMIUM_ARGS, JupyterLabServer, NotebookPage, NotebookProblem


def _report(config, timings: dict) -> None:
    """Per-notebook timing, on the terminal (even under capture) and in artifacts/browser/timings.txt."""
    if not timings:
        return
    lines = []
    for name, t in timings.items():
        lines.append(f"{name:<28} {t['status']:<6} open {t['load_s']:5.1f} s  run all {t['run_s']:6.1f} s  "
                     f"total {t['total_s']:6.1f} s")
        lines += [f"{'':<36}{move}" for move in t["moves"]]
        lines += [f"{'':<36}{line}" for line in t.get("cells", [])]
    lines.append(f"{'all notebooks':<28} {'':<6} {sum(t['total_s'] for t in timings.values()):.1f} s")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.txt").write_text("\n".join(lines) + "\n")
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=1))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else _nothing():
        reporter.write_sep("-", "JupyterLab in Chromium: time per notebook")
        for line in lines:
            reporter.write_line(line)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory):
    problem = _missing()
    if problem:
        pytest.fail(f"CI=true and {problem}")
    from playwright.sync_api import sync_playwright

    for stale in [*ARTIFACTS.glob("*.png"), ARTIFACTS / "timings.txt", ARTIFACTS / "timings.json"]:  # the folder shows the latest run only
        stale.unlink(missing_ok=True)
    workdir = tmp_path_factory.mktemp("jupyterlab")
    server = JupyterLabServer(NB_DIR, ROOT, workdir,
                              env={"DIN_TUTORIAL_FAST": os.environ.get("DIN_TUTORIAL_FAST", "1")})
    timings: dict = {}
    try:
        server.start()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                yield SimpleNamespace(server=server, context=context, timings=timings)
            finally:
                browser.close()
    finally:
        server.stop()
        _report(request.config, timings)


def _slowest(run, n: int = 5) -> list[str]:
    """The cells that took longest (wall: since the cell before finished, as the test saw it; kernel: as the
    kernel timed it), and the kernel's message counts: where a slow notebook spent its time."""
    kernel = {c["index"]: c.get("kernel_s") for c in run.cells if c.get("type") == "code"}
    top = sorted(run.cell_times, key=lambda t: -t["wall_s"])[:n]
    def seconds(v):
        return f"{v:6.1f} s" if v is not None else "   n/a  "

    lines = [f"{run.cell_label(t['index'])}: wall {seconds(t['wall_s'])}, kernel CPU {seconds(t.get('cpu_s'))}, "
             f"kernel's own timing {seconds(kernel.get(t['index']))}" for t in top if run.cells]
    if run.iopub:
        lines.append("iopub messages: " + ", ".join(f"{k} {v}" for k, v in sorted(run.iopub.items())))
    return lines


def _cell_times(run) -> list[dict]:
    kernel = {c["index"]: c.get("kernel_s") for c in run.cells if c.get("type") == "code"}
    return [{**t, "kernel_s": kernel.get(t["index"])} for t in run.cell_times]


def _fail(nb, title: str, items: list[str]) -> None:
    where = f"screenshot {ARTIFACTS / (nb.name + '.png')}, server log {nb.server.log_path}"
    console = _listing("browser console errors", nb.result.console_errors[:5]) if nb.result.console_errors else ""
    pytest.fail("\n".join(filter(None, [_listing(f"{nb.name}: {title}", items), console, where])), pytrace=False)


def _listing(title: str, items: list[str]) -> str:
    return title + "\n" + "\n".join(f"  - {item}" for item in items)


def _check(nb, name: str) -> None:
    nb.open()
    nb.run_all(STALL, IDLE, TIMEOUT)
    nb.settle_widgets()
    run = nb.collect()
    if not any(c["execution_count"] is not None for c in run.cells if c["type"] == "code"):
        _fail(nb, "no cell ran", [])
    if run.errors:
        _fail(nb, "error output in JupyterLab", run.errors)
    if run.widget_problems:
        _fail(nb, "widgets not rendered", run.widget_problems)
    if name[:2] not in INTERACTIVE:
        return
    cells = nb.interactive_cells()
    if not cells:
        _fail(nb, "no interactive widget (a dropdown or a slider) found in the outputs", [])
    for cell, scope in cells:
        if cell["controls"]["dropdowns"]:
            nb.choose_other_option(cell["index"], scope)
        if cell["controls"]["sliders"] and not any(m.error for m in nb.result.moves):
            nb.press_slider(cell["index"], scope)
    moves = nb.result.moves
    raised = [f"{nb.result.cell_label(m.cell)} {m.detail}: {m.error}" for m in moves if m.error]
    if raised:
        _fail(nb, "moving a widget showed a traceback instead of the figure", raised)
    stuck = [f"{nb.result.cell_label(m.cell)} {m.detail}: display was {m.before}, then {m.after} (waited {m.seconds:.0f} s)"
             for m in moves if not m.changed]
    if stuck:
        _fail(nb, "moving a widget did not redraw its figure", stuck)
    after = nb.collect()
    if after.errors:
        _fail(nb, "error output after moving the widgets", after.errors)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(lab, name):
    nb = NotebookPage(lab.context, lab.server, name)
    t0, status = time.monotonic(), "failed"
    try:
        problem = None
        try:
            _check(nb, name)
        except NotebookProblem as exc:  # a time limit, a "kernel died" dialog: no Python traceback needed
            problem = str(exc)
        if problem:
            _fail(nb, "did not finish", [problem])
        status = "passed"
    finally:
        try:
            nb.screenshot(ARTIFACTS / f"{name}.png")
        finally:
            nb.close()
            try:
                lab.server.shutdown_kernels()
            finally:
                moves = [f"{m.detail}: {'redrawn' if m.changed else 'NOT redrawn'} in {m.seconds:.1f} s"
                         for m in nb.result.moves]
                lab.timings[name] = {"status": status, "load_s": nb.result.load_s, "run_s": nb.result.run_s,
                                     "total_s": time.monotonic() - t0, "moves": moves, "cells": _slowest(nb.result),
                                     "cell_times": _cell_times(nb.result), "iopub": nb.result.iopub}
