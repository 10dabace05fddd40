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
what it measured, and prints a table at the end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
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
    """Execute one notebook in ``folder`` with a fresh kernel; its wall time, exit status and load."""
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", nargs="+", choices=["fast", "full"], default=["fast", "full"])
    ap.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers, e.g. 03 04 (default: all)")
    ap.add_argument("--timeout", type=int, default=1800, help="per cell, seconds (nbconvert's timeout)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "notebook_times.json"))
    args = ap.parse_args()

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
                record["series_seconds"] = round(sum(r["seconds"] for r in rows), 1)
                out.write_text(json.dumps(report, indent=1) + "\n")
        ok = [r for r in rows if r["ok"]]
        print(f"{mode}: the series took {record['series_seconds']:.0f} s "
              f"({len(ok)} of {len(rows)} notebooks ran to the end)", flush=True)
    print(json.dumps({m: {k: v for k, v in r.items() if k != "notebooks"} for m, r in report["modes"].items()},
                     indent=1))


if __name__ == "__main__":
    main()
