"""The seed tutorial's code runs as written (din_tutorial in place of torch_rechub) on the bundled data."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "amazon_electronics_sample.csv"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_utils import cpu_seconds

# A hang fails on progress, not on a wall-clock total: on a loaded machine the script gets a small share of a
# core (773 s of wall time at load 20 for about 2 minutes of CPU), so a fixed 900 s limit nearly failed a
# healthy run. It fails when it has computed CPU_LIMIT_S CPU seconds (several times what it needs) or used no
# CPU for IDLE_LIMIT_S seconds (a deadlock), and in any case after WALL_LIMIT_S.
CPU_LIMIT_S, IDLE_LIMIT_S, WALL_LIMIT_S = 900, 120, 3600


def run_watched(cmd: list[str], cwd: Path, env: dict) -> tuple[int, str, str]:
    with open(cwd / "stdout.txt", "w") as out, open(cwd / "stderr.txt", "w") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        t0 = active = time.monotonic()
        active_cpu, problem = 0.0, None
        try:
            while proc.poll() is None:
                time.sleep(1.0)
                now, cpu = time.monotonic(), cpu_seconds(proc.pid)
                if cpu is None:
                    continue
                if cpu - active_cpu >= 0.2:  # a sleeping process uses none; a starved one still some
                    active, active_cpu = now, cpu
                if cpu > CPU_LIMIT_S:
                    problem = f"it computed for {cpu:.0f} CPU seconds without finishing"
                elif now - active > IDLE_LIMIT_S:
                    problem = f"it used no CPU for {IDLE_LIMIT_S} s (a hang)"
                elif now - t0 > WALL_LIMIT_S:
                    problem = f"it did not finish within {WALL_LIMIT_S} s"
                if problem:
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    stdout, stderr = (cwd / "stdout.txt").read_text(), (cwd / "stderr.txt").read_text()
    if problem:
        pytest.fail(f"the seed tutorial was stopped: {problem}\n{stderr[-3000:]}")
    return proc.returncode, stdout, stderr


@pytest.mark.slow
def test_seed_tutorial_runs_as_written(tmp_path):
    script = (ROOT / "tests" / "seed_tutorial.py").read_text().replace("DATA_PATH", str(DATA))
    (tmp_path / "seed.py").write_text(script)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    returncode, stdout, stderr = run_watched([sys.executable, "seed.py"], tmp_path, env)
    assert returncode == 0, stderr[-4000:]
    auc = float(re.search(r"DIN test AUC: ([0-9.]+)", stdout).group(1))
    assert auc > 0.75, f"test AUC {auc} is not well above chance"
    assert (tmp_path / "saved" / "din" / "model.pth").exists()
    assert (tmp_path / "saved" / "din" / "din.onnx").exists()
    assert (tmp_path / "visualization" / "din.gv").exists()
