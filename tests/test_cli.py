"""The main job's command line: a user's mistake is one line naming what to fix, exit status 2, no traceback.

Every case runs the real command (``python -m din_tutorial`` in a subprocess) against the output
folder of one earlier, successful run, which must stay exactly as it was: nothing is written into
``--out`` before the options, the paths and the data have been checked.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--epochs", "1", "--no-export", "--no-draw", "--quiet", "--batch-size", "256", "--max-len", "10"]


def din_tutorial(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "DIN_TUTORIAL_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "din_tutorial", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=600)


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its size, modification time and content hash."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Small logs (the first 30 users of the sample, and broken variants) and one earlier run's output folder."""
    from din_tutorial.datasets import load_dataset

    d = tmp_path_factory.mktemp("cli")
    log = load_dataset("sample")
    log = log[log["user_id"] < 30]
    log.to_csv(d / "log.csv", index=False)
    log.groupby("user_id").head(3).to_csv(d / "short.csv", index=False)  # at most 3 behaviours per user
    log.drop(columns=["timestamp"]).to_csv(d / "no_time.csv", index=False)
    log.assign(item_id=log["item_id"] - 10**6).to_csv(d / "negative.csv", index=False)
    # user 0 touched every item of this log, so no negative can be drawn for it (found while preparing, inside the run)
    full = pd.DataFrame({"user_id": [0, 0, 0, 0, 1, 1, 1, 1], "item_id": [0, 1, 0, 1, 0, 0, 0, 0], "cate_id": 0,
                         "timestamp": [1, 2, 3, 4, 1, 2, 3, 4], "gender": 0, "age": 0, "occupation": 0, "zip": 0})
    full.to_csv(d / "every_item.csv", index=False)
    (d / "a_file").write_text("not a folder\n")
    done = din_tutorial("--data", "log.csv", "--out", "out", *QUICK, cwd=d)
    assert done.returncode == 0, done.stderr
    assert (d / "out" / "results.json").exists()
    return d


MISTAKES = {
    # name: (arguments, environment, words the one line must hold)
    "epochs 0": (["--epochs", "0"], {}, ["--epochs", "'0'", ">= 1"]),
    "negative batch size": (["--batch-size", "-5"], {}, ["--batch-size", "'-5'", ">= 1"]),
    "max-len not a number": (["--max-len", "abc"], {}, ["--max-len", "'abc'", "whole number"]),
    "negative seed": (["--seed", "-1"], {}, ["--seed", "from 0"]),
    "threads 0": (["--threads", "0"], {}, ["--threads", ">= 1"]),
    "unknown device": (["--device", "gpu"], {}, ["--device", "'gpu'", "cpu"]),
    "unknown format": (["--data", "log.csv", "--format", "xml"], {}, ["--format", "'xml'", "choose from"]),
    "unknown option": (["--epoch", "2", "--bogus"], {}, ["--bogus", "--help"]),
    "out is a file": (["--data", "log.csv", "--out", "a_file"], {}, ["--out a_file", "is a file", "folder"]),
    "out below a file": (["--data", "log.csv", "--out", "a_file/run"], {}, ["--out a_file/run", "is a file"]),
    "data does not exist": (["--data", "nowhere.csv"], {}, ["--data nowhere.csv", "no such file"]),
    "data missing a column": (["--data", "no_time.csv"], {}, ["--data no_time.csv", "timestamp", "rename"]),
    "negative ids": (["--data", "negative.csv"], {}, ["--data negative.csv", "'item_id'", "negative"]),
    "no usable behaviour": (["--data", "short.csv"], {}, ["--data short.csv", "'user_id'", "4 or more", "longer"]),
    "not a data file": (["--data", "a_file", "--format", "csv"], {}, ["--data a_file", "missing column", "--format"]),
    "bad thread variable": (["--data", "log.csv"], {"DIN_TUTORIAL_THREADS": "many"}, ["DIN_TUTORIAL_THREADS", "'many'", "unset"]),
    "error found inside the run": (["--data", "every_item.csv"], {}, ["every item", "neg_ratio"]),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_mistake_is_one_line_exit_2_and_leaves_the_earlier_run_alone(workdir, name):
    args, env, words = MISTAKES[name]
    before = snapshot(workdir / "out")
    if "--out" not in args:
        args = [*args, "--out", "out"]
    done = din_tutorial(*args, *QUICK[2:], cwd=workdir, env=env)  # no --epochs here: a case may set it
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("din-tutorial: error: ")
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert snapshot(workdir / "out") == before  # the earlier results, checkpoints and samples as they were
    assert (workdir / "a_file").read_text() == "not a folder\n"
    assert not (workdir / "a_file.partial").exists() and not (workdir / "din_output").exists()
