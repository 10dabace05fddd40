"""Benchmark: how long each notebook takes, from a fresh kernel to its last cell, in fast and full mode.

The one measured source of the runtimes that 00's map and each notebook's header state. Each mode
copies ``notebooks/`` (the notebooks and ``solutions/``) into a new temporary folder and executes the
series there IN ORDER, as a learner does, with ``jupyter nbconvert --to notebook --execute`` (one fresh
kernel per notebook): caches that a notebook leaves for a later one (``saved/``) start empty, as on a
first run, and nothing is written into the working tree. Fast mode sets ``DIN_TUTORIAL_FAST=1``; full
mode removes it. The load average (1 minute) is recorded before and after each notebook, because on a
shared machine it inflates the wall times; the CPU seconds of nbconvert and its kernel are recorded too,
which other work does not inflate (a notebook's threads add up in them).

Run (from the repository root; about 20 minutes on 2 idle cores for both modes):

    .venv/bin/python benchmarks/notebook_times.py                    # both modes, every notebook
    .venv/bin/python benchmarks/notebook_times.py --modes fast       # one mode
    .venv/bin/python benchmarks/notebook_times.py --only 03 04       # some notebooks (still in order)

It writes ``benchmarks/notebook_times.json`` (``--out``) after every notebook, so a stopped run keeps
what it measured, and prints a table at the end. Then write the figures into the notebooks:

    .venv/bin/python benchmarks/notebook_times.py --write-docs      # 00's map and every header's **Runtime** line

``--write-docs`` rewrites, from the JSON alone, the first line of each notebook's ``**Runtime**``
paragraph, the two runtime columns and the total row of 00's map, and the paragraph under the map that
says how and when the figures were measured; tests/test_notebooks.py checks that they agree.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FAST_ENV = "DIN_TUTORIAL_FAST"


def series(only: list[str] | None) -> list[Path]:
    """The numbered notebooks in order (00_index.ipynb, 01_..., ...), or those whose number is in ``only``."""
    books = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        books = [p for p in books if p.name[:2] in only]
        missing = set(only) - {p.name[:2] for p in books}
        if missing:
            raise SystemExit(f"no notebook numbered {sorted(missing)} in {NOTEBOOKS}")
    return books


def copy_series(folder: Path) -> None:
    """The notebooks and their solutions, without outputs left by an earlier run (saved/, checkpoints)."""
    for p in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy2(p, folder / p.name)
    if (NOTEBOOKS / "solutions").is_dir():
        shutil.copytree(NOTEBOOKS / "solutions", folder / "solutions",
                        ignore=shutil.ignore_patterns("__pycache__"))


def run_one(book: Path, folder: Path, env: dict, timeout_s: int) -> dict:
    """Execute one notebook in ``folder`` with a fresh kernel; its wall time, exit status and load.

    A notebook whose cell timed out is run once more: nbclient (under nbconvert and nbmake) now and then
    waits forever on a cell that creates an ipywidgets ``interact`` although the kernel has finished it
    (jupyter/nbclient#312, jupyter/nbconvert#2029; seen here on 03's and 04's widget cells, kernel idle
    and nbconvert in ``preprocess_cell``). The stalled attempt is kept in ``stalled_attempt``.
    """
    saved, before = folder / "saved", folder / ".saved-before"  # inside the temporary folder: removed with it
    shutil.rmtree(before, ignore_errors=True)
    if saved.is_dir():
        shutil.copytree(saved, before)
    first = _run_once(book, folder, env, timeout_s)
    if first["ok"] or "Timeout" not in first.get("error", ""):
        return first
    shutil.rmtree(saved, ignore_errors=True)  # the retry starts from the caches the first attempt found, no more
    if before.is_dir():
        shutil.copytree(before, saved)
    again = _run_once(book, folder, env, timeout_s)
    again["stalled_attempt"] = {k: first[k] for k in ("seconds", "cpu_seconds", "error")}
    return again


def _run_once(book: Path, folder: Path, env: dict, timeout_s: int) -> dict:
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter) if jupyter.exists() else "jupyter", "nbconvert", "--to", "notebook", "--execute",
           f"--ExecutePreprocessor.timeout={timeout_s}", "--output", f"{book.stem}.executed.ipynb", book.name]
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of nbconvert, its kernel and their children (all reaped when the notebook ends): on a machine
    # shared with other work the wall time mostly measures the others; this does not (threads add up in it)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    result = {"notebook": book.name, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
              "ok": done.returncode == 0,
              "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2)}
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout)[-2000:]
    return result


# ---------------------------------------------------------------------------- the figures in the notebooks
INDEX = "00_index.ipynb"
MAP_ROW = re.compile(r"^\| \[(\d\d) [^]]*\]\((\d\d_[a-z_]+\.ipynb)\) \|(.*)$")


def duration(seconds: float) -> str:
    """``42 s``, ``1 min 05 s``: rounded to the second."""
    s = int(round(seconds))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


def _seconds(report: dict, mode: str) -> dict[str, float]:
    return {r["notebook"]: r["seconds"] for r in report["modes"][mode]["notebooks"] if r["ok"]}


def runtime_line(name: str, report: dict) -> str:
    """The first line of notebook ``name``'s ``**Runtime**`` paragraph, from the report."""
    full, fast = _seconds(report, "full")[name], _seconds(report, "fast")[name]
    where = "the map below" if name == INDEX else "[00 · index](00_index.ipynb)"
    return (f"**Runtime** on 2 idle CPU cores: {duration(full)} in full mode, {duration(fast)} in fast mode "
            f"(`DIN_TUTORIAL_FAST=1`), from a fresh kernel; measured by `benchmarks/notebook_times.py`, the whole "
            f"series in {where}.")


def map_cells(name: str, report: dict) -> str:
    """The two runtime cells of ``name``'s row in 00's map (full, fast)."""
    return f" {duration(_seconds(report, 'full')[name])} | {duration(_seconds(report, 'fast')[name])} |"


def total_row(report: dict) -> str:
    full, fast = (sum(_seconds(report, m).values()) for m in ("full", "fast"))
    return f"| **the whole series** | one notebook after the other | {duration(full)} | {duration(fast)} |"


def measured_paragraph(report: dict) -> str:
    """The paragraph under 00's map: how, where and when the figures were measured."""
    parts = []
    for mode in ("full", "fast"):
        rec = report["modes"][mode]
        loads = [r["load_avg_1min_before"] for r in rec["notebooks"]]
        threads = rec.get("env", {}).get("OMP_NUM_THREADS", "unset")
        only = rec["command"].split("--only", 1)[1].split("--")[0].split() if "--only" in rec["command"] else []
        rerun = (f"; {', '.join(only)} rerun on their own after a change, in order, the others from the series run "
                 f"before it" if only else "")
        parts.append(f"{mode} mode on {rec['started_utc'][:10]} (load average before each notebook "
                     f"{min(loads):.1f} to {max(loads):.1f}, OMP_NUM_THREADS {threads}{rerun})")
    return ("Runtimes come from `benchmarks/notebook_times.py` (its JSON: `benchmarks/notebook_times.json`): the "
            "series executed in order by `jupyter nbconvert --execute`, one fresh kernel per notebook, in a fresh "
            "copy of `notebooks/` (so 06 to 08 find only what 05 and 06 cached), wall time including the kernel's "
            "start, on a 2-core machine with nothing else running: " + "; ".join(parts) + ". A second run is "
            "quicker where a notebook loads models it cached (`saved/`). Rerun the script for your machine's figures.")


def documented(report: dict) -> dict[str, dict]:
    """Each notebook as it should read: ``{name: notebook json}`` with the figures of ``report`` written in."""
    out = {}
    for path in series(None):
        nb = json.loads(path.read_text())
        header = nb["cells"][0]
        text = "".join(header["source"])
        new = re.sub(r"^\*\*Runtime\*\*.*$", lambda m: runtime_line(path.name, report), text, count=1, flags=re.M)
        if path.name == INDEX:
            for cell in nb["cells"]:
                body = "".join(cell["source"])
                if "## The map of the series" in body:
                    lines = [MAP_ROW.sub(lambda m: m.group(0).rsplit("|", 3)[0] + "|" + map_cells(m.group(2), report),
                                         line) for line in body.split("\n")]
                    lines = [total_row(report) if line.startswith("| **the whole series**") else line
                             for line in lines]
                    body = re.sub(r"^Runtimes come from .*?(?=\n\n)", lambda m: measured_paragraph(report),
                                  "\n".join(lines), count=1, flags=re.M | re.S)
                    cell["source"] = body.splitlines(keepends=True)
        header["source"] = new.splitlines(keepends=True)
        out[path.name] = nb
    return out


def write_docs(report: dict) -> list[str]:
    """Write the figures of ``report`` into the notebooks; the names of those that changed."""
    changed = []
    for name, nb in documented(report).items():
        path = NOTEBOOKS / name
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if text != path.read_text():
            path.write_text(text)
            changed.append(name)
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", nargs="+", choices=["fast", "full"], default=["fast", "full"])
    ap.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers, e.g. 03 04 (default: all)")
    ap.add_argument("--timeout", type=int, default=600,
                    help="per cell, seconds (nbconvert's timeout; a notebook that reaches it runs once more)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "notebook_times.json"))
    ap.add_argument("--write-docs", action="store_true",
                    help="measure nothing: write --out's figures into 00's map and the notebooks' headers")
    args = ap.parse_args()
    if args.write_docs:
        print("rewrote:", ", ".join(write_docs(json.loads(Path(args.out).read_text()))) or "nothing")
        return

    books = series(args.only)
    out = Path(args.out)
    # A mode run alone keeps the other mode's figures already in --out (each mode records its own machine state).
    report = json.loads(out.read_text()) if out.is_file() else {}
    report.update({"benchmark": "notebook_times",
                   "how": "each mode: the series in order, in a fresh copy of notebooks/, one fresh kernel per "
                          "notebook (jupyter nbconvert --execute); seconds are wall time including kernel start"})
    report.setdefault("modes", {})
    for mode in args.modes:
        env = {**os.environ}
        if mode == "fast":
            env[FAST_ENV] = "1"
        else:
            env.pop(FAST_ENV, None)
        previous = report["modes"].get(mode, {}).get("notebooks", []) if args.only else []
        record = report["modes"][mode] = {
            "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(), "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "DIN_TUTORIAL_THREADS") if k in os.environ},
            "notebooks": []}
        rows = record["notebooks"]
        with tempfile.TemporaryDirectory(prefix=f"din-notebook-times-{mode}-") as tmp:
            folder = Path(tmp)
            copy_series(folder)
            for book in books:
                row = run_one(book, folder, env, args.timeout)
                rows.append(row)
                status = "ok" if row["ok"] else "FAILED"
                print(f"{mode:<5} {book.name:<32} {row['seconds']:>7.1f} s  (CPU {row['cpu_seconds']:.0f} s)  {status}  "
                      f"(load {row['load_avg_1min_before']:.1f} -> {row['load_avg_1min_after']:.1f})", flush=True)
                record["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                # --only: the other notebooks keep their earlier rows (each row records its own load)
                names = {r["notebook"] for r in rows}
                record["notebooks"] = sorted([r for r in previous if r["notebook"] not in names] + rows,
                                             key=lambda r: r["notebook"])
                record["series_seconds"] = round(sum(r["seconds"] for r in record["notebooks"]), 1)
                out.write_text(json.dumps(report, indent=1) + "\n")
        ok = [r for r in rows if r["ok"]]
        print(f"{mode}: the series took {record['series_seconds']:.0f} s "
              f"({len(ok)} of {len(rows)} notebooks ran to the end)", flush=True)
    print(json.dumps({m: {k: v for k, v in r.items() if k != "notebooks"} for m, r in report["modes"].items()},
                     indent=1))


if __name__ == "__main__":
    main()
