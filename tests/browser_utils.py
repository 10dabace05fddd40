"""JupyterLab in headless Chromium, for tests/test_browser.py.

`JupyterLabServer` starts JupyterLab on 127.0.0.1 with its own port, token, config, settings,
workspace, runtime and data folders, serving a temporary copy of the notebooks (so that nothing
is ever saved into the committed ones), and stops it and every process it started.
`NotebookPage` drives one notebook in a browser page: waits for the kernel, runs all cells,
reports errors and unrendered widgets, moves widgets and takes a screenshot of the whole notebook.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]

# JupyterLab user settings that keep the page quiet and the notebook fully laid out.
LAB_SETTINGS = {
    # the "Jupyter news" notice would otherwise cover the page
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    # every cell attached to the DOM (no virtual scrolling), no blank space after the last cell
    # recordTiming: each cell's kernel-side start and end in its metadata (the per-cell times in timings.txt)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none", "scrollPastEnd": False, "recordTiming": True},
    # the copy is thrown away; no save, no "file changed on disk" dialog
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}

SERVER_CONFIG = {
    "ServerApp": {"terminals_enabled": False},
    "LabApp": {
        "expose_app_in_browser": True,  # window.jupyterapp: run commands and read the notebook model
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
    },
}

# Top-level repository entries that are not linked into the server's root.
NOT_LINKED = {".git", ".venv", "notebooks", "artifacts", "din_output", "saved", "visualization", ".pytest_cache",
              ".ipynb_checkpoints", ".hypothesis", ".ruff_cache", "build", "dist"}

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*Cell In\[\d+\], line \d+", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _descendants(pid: int) -> dict[int, str]:
    """{pid: start time} of every live descendant of pid (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            start = _proc_start_time(child)
            if start is not None and child not in found:
                found[child] = start
                todo.append(child)
    return found


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of pid, of its children it has waited for, and of its live descendants
    (a kernel's cell may run its work in subprocesses: torchrun, a worker). None when pid is gone."""
    total = 0.0
    for p in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / _TICKS  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            if p == pid:
                return None
    return total


class JupyterLabServer:
    """A throwaway JupyterLab whose root holds a copy of `notebooks` as notebooks/ and links to the repo's other
    top-level entries (data/, ...), so that relative paths in the notebooks resolve as in the repository."""

    def __init__(self, notebooks: Path, repo: Path, workdir: Path, env: dict[str, str] | None = None):
        self.notebooks, self.repo, self.workdir = Path(notebooks), Path(repo), Path(workdir)
        self.root = self.workdir / "root"
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "jupyterlab.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self._log = None

    # -- lifecycle
    def start(self, timeout: float = 180) -> None:
        # without what earlier runs left there (saved/ holds the notebooks' model cache): a fresh start, as in CI
        shutil.copytree(self.notebooks, self.root / "notebooks", ignore=shutil.ignore_patterns(
            ".ipynb_checkpoints", "__pycache__", "saved", "din_output", "visualization"))
        for entry in self.repo.iterdir():
            if entry.name not in NOT_LINKED and not (self.root / entry.name).exists():
                (self.root / entry.name).symlink_to(entry)
        dirs = {name: self.workdir / name.lower() for name in (
            "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
            "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        for rel, settings in LAB_SETTINGS.items():
            path = dirs["JUPYTERLAB_SETTINGS_DIR"] / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings, indent=1))
        (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG, indent=1))

        env = dict(os.environ, **{k: str(v) for k, v in dirs.items()}, **self.extra_env)
        env.pop("MPLBACKEND", None)  # the kernel must use the inline backend, as a learner's does
        env.pop("JUPYTER_TOKEN", None)
        # `jupyter lab` and the python3 kernel resolve to this interpreter (the venv that has din_tutorial)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        deadline = time.monotonic() + timeout
        for attempt in range(3):  # free_port() only found a free port: another process may take it first
            if attempt:
                self.port = free_port()
                self.base_url = f"http://127.0.0.1:{self.port}"
            if self._launch(env, deadline):
                return
        raise RuntimeError(f"JupyterLab did not start: its port was taken 3 times:\n{self.log_tail()}")

    def _launch(self, env: dict, deadline: float) -> bool:
        """Start the server on self.port; True once it answers, False if the port was in use."""
        cmd = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            # safety nets if this test process is killed before it can stop the server
            "--ServerApp.shutdown_no_activity_timeout=1800",
            "--MappingKernelManager.cull_idle_timeout=1800", "--MappingKernelManager.cull_interval=300",
        ]
        if self._log:
            self._log.close()
        self._log = open(self.log_path, "w")  # noqa: SIM115 (open for the server's lifetime, closed in stop)
        # its own process group, so that stopping it never signals the test process
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "already in use" in self.log_tail():
                    return False
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return True
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within the time limit:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        pid = self.proc.pid
        try:
            if self.proc.poll() is None:
                try:
                    self.shutdown_kernels()
                except (OSError, urllib.error.URLError, ValueError):
                    pass
                started = _descendants(pid)  # kernels run in their own sessions: remember them by pid
                try:
                    os.killpg(pid, signal.SIGTERM)  # the server shuts down its kernels on SIGTERM
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
                for child, start in started.items():
                    if _proc_start_time(child) == start:  # still the same process, not a reused pid
                        try:
                            os.kill(child, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        finally:
            self.proc = None
            if self._log:
                self._log.close()

    def kernel_pid(self, kernel_id: str) -> int | None:
        """The pid of the kernel process with this id (started with its connection file kernel-<id>.json)."""
        if self.proc is None or not kernel_id:
            return None
        for pid in _descendants(self.proc.pid):
            try:
                if f"kernel-{kernel_id}.json".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                continue
        return None

    # -- REST
    def api(self, method: str, path: str, timeout: float = 30):
        req = urllib.request.Request(self.base_url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def notebook_url(self, name: str) -> str:
        # ?reset: start from an empty workspace, so no earlier notebook is reopened with it
        return f"{self.base_url}/lab/tree/notebooks/{name}.ipynb?reset&token={self.token}"


# --------------------------------------------------------------------------------------------- the page

_STATE_JS = r"""
(path) => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  const s = {ready: false, statusbar: null, kernel: null, connection: null, running: [], dialog: null};
  const dialog = document.querySelector('.jp-Dialog');
  if (dialog) s.dialog = dialog.innerText.slice(0, 500);
  const item = [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
      .map(e => e.innerText.trim()).find(t => / \| \S/.test(t));
  s.statusbar = item || null;
  if (!w || !w.context || w.context.path !== path || !w.sessionContext) return s;
  s.ready = true;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  if (k) { s.kernel = k.status; s.connection = k.connectionStatus; s.kernel_id = k.id; }
  s.finished = [];  // code cells that have run: an execution count, and no longer [*]
  s.code_cells = 0;
  w.content.widgets.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    s.code_cells += 1;
    const p = cell.node.querySelector('.jp-InputPrompt');
    if (p && p.innerText.includes('*')) s.running.push(i);
    else if (cell.model.executionCount !== null) s.finished.push(i);
  });
  s.runAll = window.__dinRunAll || null;
  s.busy = window.__dinBusy || 0;
  s.iopub = window.__dinIopub || {};
  return s;
}
"""

_CELLS_JS = r"""
() => {
  const w = window.jupyterapp.shell.currentWidget;
  const WIDGET = 'application/vnd.jupyter.widget-view+json';
  const TB = new RegExp(__TRACEBACK__, 'm');
  const text = (src) => Array.isArray(src) ? src.join('') : (src || '');
  return w.content.widgets.map((cell, i) => {
    cell.node.setAttribute('data-din-cell', String(i));
    const m = cell.model.toJSON();
    const info = {index: i, type: m.cell_type, source: text(m.source).slice(0, 300)};
    if (m.cell_type !== 'code') return info;
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    info.prompt = prompt ? prompt.innerText.trim() : '';
    info.execution_count = m.execution_count;
    const ex = (m.metadata && m.metadata.execution) || {};
    const t0 = Date.parse(ex['iopub.status.busy'] || ''), t1 = Date.parse(ex['shell.execute_reply'] || '');
    info.kernel_s = (isFinite(t0) && isFinite(t1)) ? (t1 - t0) / 1000 : null;
    const outs = m.outputs || [];
    info.errors = outs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`);
    const area = cell.outputArea ? cell.outputArea.node : cell.node;
    // tracebacks rendered anywhere in the cell, also inside widget Output areas (an interact callback that raised)
    info.tracebacks = [...area.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.innerText).filter(t => TB.test(t)).map(t => t.slice(-600));
    const children = [...area.querySelectorAll(':scope > .jp-OutputArea-child > .jp-OutputArea-output')];
    const isWidget = (o) => o.data && o.data[WIDGET] && o.data[WIDGET].model_id;
    const rendered = (node) => !!node.querySelector('.jupyter-widgets')
        && !/^(Loading widget\.\.\.|Error displaying widget)/.test(node.innerText.trim());
    info.widget_outputs = outs.filter(isWidget).length;
    info.widget_problems = [];
    if (children.length === outs.length) {
      outs.forEach((o, k) => {
        if (isWidget(o) && !rendered(children[k]))
          info.widget_problems.push(`output ${k}: ` + (children[k].innerText.trim().slice(0, 200) || '(empty)'));
      });
    } else {
      const n = children.filter(rendered).length;
      if (n < info.widget_outputs) info.widget_problems.push(`${n} of ${info.widget_outputs} widgets rendered`);
    }
    const all = area.innerText;
    for (const bad of ['Loading widget...', 'Error displaying widget', 'model not found'])
      if (all.includes(bad) && !info.widget_problems.some(p => p.includes(bad))) info.widget_problems.push(bad);
    info.controls = {
      dropdowns: area.querySelectorAll('.widget-dropdown select').length,
      sliders: area.querySelectorAll('.widget-slider .noUi-handle, .widget-hslider .noUi-handle').length,
    };
    info.images_in_widget_output = area.querySelectorAll('.widget-output img, .widget-output .jp-RenderedSVG svg').length;
    return info;
  });
}
""".replace("__TRACEBACK__", json.dumps(TRACEBACK.pattern))

# What a widget-driven display shows: the images (or failing that, the text) of the Output widgets in scope.
_DISPLAY_JS = r"""
(index) => {
  const scope = index === null ? document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook')
                               : document.querySelector(`[data-din-cell="${index}"]`);
  const outs = [...scope.querySelectorAll('.widget-output')];
  const imgs = outs.flatMap(o => [...o.querySelectorAll('img')].map(i => i.src)
      .concat([...o.querySelectorAll('.jp-RenderedSVG svg')].map(s => s.outerHTML)));
  const text = outs.map(o => o.innerText).join('\n');
  return {images: imgs.length, signature: imgs.length ? imgs.join('|') : text, text: text.slice(-3000)};
}
"""


@dataclass
class Move:
    """One widget interaction and whether the display changed."""
    cell: int
    control: str
    before: str
    after: str
    changed: bool
    seconds: float
    detail: str = ""
    error: str | None = None  # the traceback the display shows instead of a figure


@dataclass
class NotebookRun:
    name: str
    load_s: float = 0.0
    run_s: float = 0.0
    cells: list = field(default_factory=list)
    moves: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)
    cell_times: list = field(default_factory=list)  # {index, at_s, wall_s}: when each code cell finished
    iopub: dict = field(default_factory=dict)  # the kernel's iopub messages during run-all, by type

    @property
    def errors(self) -> list[str]:
        found = []
        for c in self.cells:
            if c["type"] != "code":
                continue
            msgs = list(c["errors"])
            msgs += [t for t in c["tracebacks"] if not any(e.split(":")[0] in t for e in c["errors"])]
            for msg in msgs:
                found.append(f"{self.cell_label(c['index'])} ({_first_line(c['source'])!r}): {msg.strip()[-600:]}")
        return found

    @property
    def widget_problems(self) -> list[str]:
        return [f"{self.cell_label(c['index'])} ({_first_line(c['source'])!r}): {p}"
                for c in self.cells if c["type"] == "code" for p in c["widget_problems"]]

    def cell_label(self, index: int) -> str:
        """As JupyterLab's status bar counts: "cell 3/40" is the third cell, markdown cells included."""
        return f"cell {index + 1}/{len(self.cells)}"

    @property
    def widget_count(self) -> int:
        return sum(c.get("widget_outputs", 0) for c in self.cells)


def _first_line(source: str) -> str:
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return (lines[0] if lines else source.strip()[:80])[:80]


class NotebookProblem(AssertionError):
    """The notebook did not get where it should (a time limit, a dialog such as "kernel died")."""


class NotebookPage:
    """One notebook opened in its own browser page."""

    def __init__(self, context, server: JupyterLabServer, name: str):
        self.server, self.name = server, name
        self.path = f"notebooks/{name}.ipynb"
        self.page = context.new_page()
        self.result = NotebookRun(name)
        self.page.on("console", self._on_console)

    def _on_console(self, msg) -> None:
        if msg.type == "error" and len(self.result.console_errors) < 20:
            self.result.console_errors.append(msg.text[:300])

    def state(self) -> dict:
        return self.page.evaluate(_STATE_JS, self.path)

    def _wait(self, what: str, done, timeout: float, poll: float = 0.5) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            s = self.state()
            if s["dialog"]:
                raise NotebookProblem(f"{self.name}: a dialog opened while waiting for {what}: {s['dialog']!r}")
            if done(s):
                return s
            if time.monotonic() > deadline:
                raise NotebookProblem(f"{self.name}: {what} did not happen within {timeout:.0f} s; "
                                      f"last state: {self.describe(s)}")
            time.sleep(poll)

    def describe(self, s: dict) -> str:
        running = ""
        if s.get("running"):
            cells = self.page.evaluate(
                "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource()",
                s["running"][0])
            running = f", running cell {s['running'][0] + 1} ({_first_line(cells)!r})"
        return (f"status bar {s.get('statusbar')!r}, kernel {s.get('kernel')}/{s.get('connection')}"
                f"{running}, run-all {s.get('runAll')}")

    @staticmethod
    def _idle(s: dict) -> bool:
        return (s["ready"] and s["kernel"] == "idle" and s["connection"] == "connected"
                and bool(s["statusbar"]) and s["statusbar"].endswith("| Idle"))

    def open(self, timeout: float = 120) -> None:
        t0 = time.monotonic()
        self.page.goto(self.server.notebook_url(self.name), wait_until="domcontentloaded", timeout=timeout * 1000)
        # the toolbar says idle before the kernel connects: wait for the status bar and the connected kernel
        self._wait("the kernel to show Idle in the status bar", self._idle, timeout)
        # count the kernel's busy periods, to know when it has handled a widget change
        # and the kernel's iopub messages by type (a flood of widget updates shows as comm_msg)
        self.page.evaluate("""() => { window.__dinBusy = 0; window.__dinIopub = {};
            const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
            ctx.statusChanged.connect((_, status) => { if (status === 'busy') window.__dinBusy += 1; });
            ctx.iopubMessage.connect((_, msg) => { const t = msg.header.msg_type;
                window.__dinIopub[t] = (window.__dinIopub[t] || 0) + 1; }); }""")
        self.result.load_s = time.monotonic() - t0

    def run_all(self, stall_cpu_s: float, idle_s: float, limit_s: float) -> None:
        """Run every cell, and fail as soon as the run looks hung rather than slow:

        - the kernel (with the processes it started) used ``stall_cpu_s`` CPU seconds without finishing a cell
          (a cell that computes forever); CPU seconds, not wall seconds, so that a loaded machine, which
          gives the kernel a small share of a core, makes no slow cell look hung;
        - the kernel and its processes used (almost) no CPU for ``idle_s`` seconds while a cell waits
          (a deadlock, or a request the kernel lost while the cell still shows [*]);
        - past ``limit_s`` seconds in all, whatever the cause (the test stays bounded in time).

        Records when each cell finished, with the wall and kernel CPU seconds since the cell before it.
        """
        t0 = time.monotonic()
        self.page.evaluate("""() => {
            window.__dinRunAll = {done: false};
            window.jupyterapp.commands.execute('notebook:run-all-cells').then(
                (r) => { window.__dinRunAll = {done: true, result: r}; },
                (e) => { window.__dinRunAll = {done: true, error: String(e)}; });
        }""")
        seen: set[int] = set()
        pid = cpu = None
        last, last_cpu = t0, None  # when the last cell finished, and the kernel's CPU clock then
        active, active_cpu = t0, None  # when the kernel's CPU clock last moved by a second
        while True:
            s = self.state()
            now = time.monotonic()
            if s["dialog"]:
                raise NotebookProblem(f"{self.name}: a dialog opened while waiting for all cells to finish: "
                                      f"{s['dialog']!r}")
            if pid is None and s.get("kernel_id"):
                pid = self.server.kernel_pid(s["kernel_id"])
            cpu = cpu_seconds(pid) if pid is not None else None
            if cpu is not None:
                last_cpu = cpu if last_cpu is None else last_cpu
                if active_cpu is None or cpu - active_cpu >= 0.5:  # an idle kernel uses almost none
                    active, active_cpu = now, cpu
            new = [i for i in s.get("finished", []) if i not in seen]
            if new:
                for i in new:  # polled every 0.5 s or so: the first of the cells seen finished in one poll takes the time
                    self.result.cell_times.append({
                        "index": i, "at_s": round(now - t0, 1), "wall_s": round(now - last, 1),
                        "cpu_s": None if cpu is None or last_cpu is None else round(cpu - last_cpu, 1)})
                    last, last_cpu = now, cpu
                seen.update(new)
            self.result.iopub, self.result.run_s = s.get("iopub", {}), now - t0
            if self._idle(s) and not s["running"] and s["runAll"] and s["runAll"]["done"]:
                break
            where = (f"{len(seen)} of {s.get('code_cells')} code cells finished, the last {now - last:.0f} s ago"
                     + (f" (kernel CPU since: {cpu - last_cpu:.0f} s)" if cpu is not None and last_cpu is not None
                        else "") + f"; {self.describe(s)}")
            if cpu is not None and last_cpu is not None and cpu - last_cpu > stall_cpu_s:
                raise NotebookProblem(f"{self.name}: the kernel computed for {stall_cpu_s:.0f} CPU seconds without "
                                      f"finishing a cell; {where}")
            if cpu is None and now - last > stall_cpu_s:  # no kernel process to watch: wall seconds instead
                raise NotebookProblem(f"{self.name}: no cell finished for {stall_cpu_s:.0f} s (the kernel's process "
                                      f"was not found, so its CPU time is unknown); {where}")
            if cpu is not None and now - max(active, last) > idle_s:
                raise NotebookProblem(f"{self.name}: the kernel used no CPU for {idle_s:.0f} s while a cell waits "
                                      f"(a hang, or a request the kernel lost); {where}")
            if now - t0 > limit_s:
                raise NotebookProblem(f"{self.name}: the cells did not finish within {limit_s:.0f} s; {where}")
            time.sleep(0.5)

    def settle_widgets(self, timeout: float = 30) -> None:
        """Wait (a while) until no widget still shows "Loading widget..."."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.page.evaluate("() => document.body.innerText.includes('Loading widget...')"):
                break
            time.sleep(0.5)
        time.sleep(0.5)

    def collect(self) -> NotebookRun:
        self.result.cells = self.page.evaluate(_CELLS_JS)
        return self.result

    # -- widgets
    def interactive_cells(self) -> list[tuple[dict, int | None]]:
        """(cell, display scope) for each code cell whose outputs hold a control (dropdown or slider).

        The display is the plot in the cell's own Output widgets (an interact); a cell whose controls drive an
        Output widget shown elsewhere (interactive_output) is watched through all the notebook's Output widgets.
        """
        cells = [c for c in self.collect().cells if c["type"] == "code"
                 and (c["controls"]["dropdowns"] or c["controls"]["sliders"])]
        with_plot = [(c, c["index"]) for c in cells if c["images_in_widget_output"]]
        return with_plot or [(c, None) for c in cells]

    def display(self, index: int | None) -> dict:
        return self.page.evaluate(_DISPLAY_JS, index)

    def _wait_display_change(self, index: int | None, before: dict, busy_before: int, timeout: float) -> dict:
        """The display once it changed and settled; or as it is once the kernel has handled the change and
        stayed idle a few seconds without redrawing; or as it is at the time limit."""
        deadline = time.monotonic() + timeout
        last, stable_since, idle_since = None, None, None
        while time.monotonic() < deadline:
            now = self.display(index)
            s = self.state()
            if s["dialog"]:
                raise NotebookProblem(f"{self.name}: a dialog opened after moving a widget: {s['dialog']!r}")
            idle = self._idle(s) and not s["running"]
            if now["signature"] != before["signature"] and idle:
                # the kernel may redraw more than once (one message per key press): wait until it stays put
                if last is not None and now["signature"] == last["signature"]:
                    if time.monotonic() - stable_since > 1.0:
                        return now
                else:
                    stable_since = time.monotonic()
                last = now
            elif idle and s["busy"] > busy_before:  # the kernel did handle the change
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 3.0:
                    return now
            else:
                idle_since = None
            time.sleep(0.25)
        return self.display(index)

    def _move(self, cell: int, control: str, act, timeout: float, scope: int | None) -> Move:
        before, busy_before = self.display(scope), self.state()["busy"]
        t0 = time.monotonic()
        detail = act()
        after = self._wait_display_change(scope, before, busy_before, timeout)
        error = after["text"].strip()[-600:] if TRACEBACK.search(after["text"]) else None
        changed = after["signature"] != before["signature"] and bool(after["images"] or not before["images"])
        move = Move(cell, control, _short(before), _short(after), changed and not error, time.monotonic() - t0,
                    detail, error)
        self.result.moves.append(move)
        return move

    def choose_other_option(self, cell: int, scope: int | None, timeout: float = 60) -> Move:
        select = self.page.locator(f'[data-din-cell="{cell}"] .widget-dropdown select').first

        def act():
            values = select.evaluate("(s) => [...s.options].map(o => o.value)")
            current = select.input_value()
            other = next(v for v in values if v != current)
            select.select_option(other)
            return f"dropdown {current!r} -> {other!r}"
        return self._move(cell, "dropdown", act, timeout, scope)

    def press_slider(self, cell: int, scope: int | None, presses: int = 3, timeout: float = 60) -> Move:
        handle = self.page.locator(
            f'[data-din-cell="{cell}"] :is(.widget-slider, .widget-hslider) .noUi-handle').first

        def act():
            start = handle.get_attribute("aria-valuenow")
            key = "ArrowLeft" if handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax") \
                else "ArrowRight"
            handle.focus()
            for _ in range(presses):
                handle.press(key)  # keydown + keyup; continuous_update=False sends the value on the change
                time.sleep(0.2)
            return f"slider {start} -> {handle.get_attribute('aria-valuenow')} ({presses} x {key})"
        return self._move(cell, "slider", act, timeout, scope)

    # -- screenshot
    def screenshot(self, path: Path, max_height: int = 30000) -> None:
        """The whole notebook in one image: hide the side bars, then make the window as tall as the notebook."""
        from playwright.sync_api import Error as PlaywrightError

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.page.evaluate("""() => { const s = window.jupyterapp.shell;
                s.collapseLeft(); s.collapseRight(); s.mode = 'single-document'; }""")
            time.sleep(0.3)
            size = self.page.evaluate("""() => {
                const o = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
                return o ? [o.scrollHeight, o.clientHeight, window.innerHeight] : null; }""")
            if size:
                width = self.page.viewport_size["width"]
                height = min(max_height, size[0] + size[2] - size[1] + 10)
                self.page.set_viewport_size({"width": width, "height": max(height, size[2])})
                time.sleep(1.0)
        except PlaywrightError:  # a screenshot of whatever is there beats none
            pass
        self.page.screenshot(path=str(path), timeout=60_000)

    def close(self) -> None:
        from playwright.sync_api import Error as PlaywrightError

        try:
            self.page.close()
        except PlaywrightError:
            pass


def _short(display: dict) -> str:
    if display["images"]:
        return f"{display['images']} image(s), signature #{hash(display['signature']) & 0xFFFFFF:06x}"
    return f"no image; text {display['text'].strip()[:120]!r}"
