"""Benchmark: generate_seq_feature on a log of one million interactions (target: under 10 s).

Prints one JSON object. Run:  python benchmarks/data_prep.py [--rows 1000000] [--repeats 3]
[--rechub-python /path/to/venv/bin/python]  (the last one times torch-rechub 0.9.0's
generate_seq_feature on the same log, in its own virtual environment, A B A B).
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, peak_rss_mb  # noqa: E402

from din_tutorial import df_to_dict, generate_seq_feature  # noqa: E402

RECHUB_SNIPPET = """
import sys, time, pandas as pd
from torch_rechub.utils.data import generate_seq_feature
data = pd.read_csv(sys.argv[1])
t = time.perf_counter()
generate_seq_feature(data=data, user_col="user_id", item_col="item_id", time_col="timestamp",
                     item_attribute_cols=["cate_id"], min_item=0, shuffle=True, max_len=50)
print(time.perf_counter() - t)
"""


def make_log(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """A log shaped like Amazon Electronics: Zipf item popularity, log-normal history lengths."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(20), 0.8, size=n_rows // 5), 5, 300).astype(np.int64)
    lengths = lengths[np.cumsum(lengths) <= n_rows]
    users = np.repeat(np.arange(len(lengths)), lengths)
    n_items = 60_000
    items = (rng.zipf(1.3, size=users.size) - 1) % n_items
    times = np.sort(rng.integers(1_000_000_000, 1_400_000_000, size=users.size))
    times = times[rng.permutation(users.size)]
    return pd.DataFrame({"user_id": users, "item_id": items, "cate_id": items % 800, "timestamp": times})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rechub-python", default=None, help="python of a venv with torch-rechub==0.9.0")
    args = ap.parse_args()

    log = make_log(args.rows)
    ours, theirs = [], []
    path = None
    if args.rechub_python:
        path = Path(tempfile.mkdtemp()) / "log.csv"
        log.to_csv(path, index=False)
    for _ in range(args.repeats):  # A B A B: both see the same machine load
        train = val = test = None  # free the previous repeat's frames first (about 2 GB), untimed
        gc.collect()
        t = time.perf_counter()
        train, val, test = generate_seq_feature(log, item_attribute_cols=["cate_id"], min_item=0, shuffle=True)
        ours.append(time.perf_counter() - t)
        if path is not None:
            out = subprocess.run([args.rechub_python, "-c", RECHUB_SNIPPET, str(path)],
                                 capture_output=True, text=True, check=True)
            theirs.append(float(out.stdout.strip().splitlines()[-1]))
    gc.collect()
    t = time.perf_counter()
    df_to_dict(train)
    to_dict_s = time.perf_counter() - t
    result = {
        "benchmark": "data_prep",
        "interactions": len(log),
        "users": int(log.user_id.nunique()),
        "samples": {"train": len(train), "val": len(val), "test": len(test)},
        "generate_seq_feature_s_median": round(statistics.median(ours), 2),
        "generate_seq_feature_s_all": [round(v, 2) for v in ours],
        "df_to_dict_train_s": round(to_dict_s, 2),
        "target_s": 10.0,
        "torch_rechub_0_9_0_s_median": round(statistics.median(theirs), 2) if theirs else None,
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine_info(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
