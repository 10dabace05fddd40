"""The seed tutorial's code runs as written (din_tutorial in place of torch_rechub) on the bundled data."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "amazon_electronics_sample.csv"


@pytest.mark.slow
def test_seed_tutorial_runs_as_written(tmp_path):
    script = (ROOT / "tests" / "seed_tutorial.py").read_text().replace("DATA_PATH", str(DATA))
    (tmp_path / "seed.py").write_text(script)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    out = subprocess.run([sys.executable, "seed.py"], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    auc = float(re.search(r"DIN test AUC: ([0-9.]+)", out.stdout).group(1))
    assert auc > 0.75, f"test AUC {auc} is not well above chance"
    assert (tmp_path / "saved" / "din" / "model.pth").exists()
    assert (tmp_path / "saved" / "din" / "din.onnx").exists()
    assert (tmp_path / "visualization" / "din.gv").exists()
