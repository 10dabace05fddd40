"""Benchmark: DIN's ablations on the bundled data, with spread over seeds (notebooks 03 and 04).

Softmax on or off in the activation unit, one unit over the goods group or one per feature, Dice
or PReLU: each against the same small DIN (``din_tutorial.tuning.ABLATION_BASE``), on the same
data and split, over several seeds. For each variant: test GAUC per seed, mean and Student-t
interval, the paired difference to its comparison's baseline with its interval, training time
per run and the peak resident memory of the process that trained it (each variant runs in a fresh
process, so its peak is its own). Prints one JSON object and writes it to ``--out``.

Run (the notebooks' full-mode table; about 4 minutes of one core per variant on a quiet machine):
    OMP_NUM_THREADS=1 python benchmarks/ablations.py --out artifacts/ablations.json
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # noqa: E402


def _vm_hwm_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _one_variant(args: tuple) -> dict:
    """In a fresh process: prepare the data, train the variant once per seed, report runs and peak memory."""
    ablation, label, n_users, n_epoch, seeds, batch_size, threads = args
    from din_tutorial.config import set_threads
    from din_tutorial.pipeline import prepare, tutorial_data
    from din_tutorial.tuning import ABLATIONS, run_ablation

    set_threads(threads)
    prepared = prepare(tutorial_data(n_users), batch_size=batch_size)
    runs = run_ablation(prepared, {label: ABLATIONS[ablation][label]}, seeds=seeds, n_epoch=n_epoch, cache_dir=None)
    return {"ablation": ablation, "variant": label, "runs": runs.to_dict("records"), "peak_rss_mb": _vm_hwm_mb(),
            "train_samples": len(prepared.train), "test_samples": len(prepared.test)}


def main() -> None:
    from din_tutorial.tuning import ABLATION_BASE, ABLATION_SEEDS, ABLATIONS, NOTEBOOK_ABLATION_SCALE, summarize_ablation

    full = NOTEBOOK_ABLATION_SCALE["full"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ablations", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(ABLATION_SEEDS))
    ap.add_argument("--users", type=int, default=full["n_users"], help="users of the bundled sample (smallest ids)")
    ap.add_argument("--epochs", type=int, default=full["n_epoch"])
    ap.add_argument("--batch-size", type=int, default=full["batch_size"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="artifacts/ablations.json")
    args = ap.parse_args()

    import pandas as pd

    jobs = [(a, label, args.users, args.epochs, args.seeds, args.batch_size, args.threads)
            for a in args.ablations for label in ABLATIONS[a]]
    start = time.perf_counter()
    ctx = mp.get_context("spawn")  # a fresh interpreter per variant: its peak memory is its own
    results = []
    for job in jobs:  # one at a time: timings are not shared with a sibling
        with ctx.Pool(1) as pool:
            results.append(pool.apply(_one_variant, (job,)))
    out = {"benchmark": "ablations", "data": "sample", "users": args.users, "epochs": args.epochs,
           "batch_size": args.batch_size, "seeds": args.seeds, "threads": args.threads, "base": ABLATION_BASE,
           "machine": machine_info(), "ablations": {}}
    for ablation in args.ablations:
        parts = [r for r in results if r["ablation"] == ablation]
        runs = pd.DataFrame([row for r in parts for row in r["runs"]])
        table = summarize_ablation(runs)
        out["ablations"][ablation] = {
            r["variant"]: {
                "test_gauc": [round(x["test_gauc"], 4) for x in r["runs"]],
                "mean": round(float(table.loc[r["variant"], "mean"]), 4),
                "interval_95": [round(float(table.loc[r["variant"], "low"]), 4),
                                round(float(table.loc[r["variant"], "high"]), 4)],
                "diff_to_first": round(float(table.loc[r["variant"], "diff"]), 4),
                "diff_interval_95": [round(float(table.loc[r["variant"], "diff_low"]), 4),
                                     round(float(table.loc[r["variant"], "diff_high"]), 4)],
                "seconds_per_run": [round(x["seconds"], 1) for x in r["runs"]],
                "peak_rss_mb": r["peak_rss_mb"],
                "train_samples": r["train_samples"], "test_samples": r["test_samples"],
            } for r in parts}
    out["total_seconds"] = round(time.perf_counter() - start, 1)
    out["machine"]["load_avg_1min_end"] = round(__import__("os").getloadavg()[0], 2)
    text = json.dumps(out, indent=2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
