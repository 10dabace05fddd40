"""Benchmark: the main job on a 3-million-interaction log with non-contiguous raw ids, under torchrun.

Issue 18's headline: ``make_synthetic_amazon(60000, items_per_category_median=30)`` (about 3M
interactions, about 20,000 items) with user and item ids spread 10 apart (``spread_ids``: users
up to about 600,000, items up to about 200,000),
written once as CSV; then ``torchrun --standalone --nproc_per_node=2`` (OMP_NUM_THREADS=1 per
rank) runs the main job's pipeline (``din_tutorial.pipeline.run``: prepare, 1 epoch each of DIN
and BaseModel, test metrics; no export or drawing) with sparse or dense embedding updates (default: the
main job's choice, dense under torchrun, sparse in one process).
The parent samples ``/proc/<pid>/smaps_rollup`` of the whole process tree (torchrun and its
workers) every 0.5 s and reports the peak of the summed PSS (shared pages counted once), the
wall time, the CPU seconds of the tree (on a loaded machine, what the job would take
alone, times the cores it uses), the load average before and after, a speed probe before and after
(``_common.speed_probe_ms``: a fixed single-thread workload, to tell the machine's slow hours from
a slower job), and the test AUC / GAUC of both models.

``--mode threads`` instead runs one process with ``--threads`` torch threads (no torchrun): the
2 processes x 1 thread against 1 process x 2 threads comparison, read from the training
samples/s of each model (``history[...]['seconds']`` covers training and validation; the JSON
reports training samples over epoch seconds).

Prints one JSON object. Run:
    python benchmarks/scale_torchrun.py [--sparse 1] [--mode torchrun|threads] [--users 60000] [--items-per-category 30]
                                         [--epochs 1] [--folder /tmp/din_scale3m]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, speed_probe_ms  # noqa: E402


def make_log_csv(folder: Path, n_users: int, items_per_category: float, factor: int = 10) -> Path:
    """The spread-id synthetic log as CSV (made once per size)."""
    path = folder / f"log_{n_users}_ipc{items_per_category:g}_x{factor}.csv"
    if not path.exists():
        from din_tutorial.datasets import make_synthetic_amazon, spread_ids

        log = spread_ids(make_synthetic_amazon(n_users, items_per_category_median=items_per_category)[0], factor=factor)
        tmp = path.with_suffix(".tmp")
        log.to_csv(tmp, index=False)
        tmp.replace(path)
    return path


def tree_pss_mb(root: int) -> float:
    """Summed PSS (MiB) of ``root`` and every descendant (read from /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total / 1024


def worker(args) -> None:
    """One process of the job (under torchrun, or alone with --threads)."""
    import pandas as pd
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from din_tutorial.distributed import first_process_on_machine
    from din_tutorial.pipeline import run

    # as the main job (python -m din_tutorial): only the first process of a machine reads the log
    data = pd.read_csv(args.log) if first_process_on_machine() else None
    results = run(data, epochs=args.epochs, out_dir=args.out, export=False, draw=False, verbose=False,
                  sparse_embeddings=bool(args.sparse))
    if int(os.environ.get("RANK", "0")) == 0:
        Path(args.out, "bench.json").write_text(json.dumps(results, default=float))
    from din_tutorial.distributed import exit_process

    exit_process(0)  # under torchrun: end without racing gloo's threads against Python's shut-down


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=60000)
    ap.add_argument("--items-per-category", type=float, default=30.0,
                    help="median items per category of the synthetic catalogue (30: about 20,000 items)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--sparse", type=int, choices=[0, 1], default=None,
                    help="1: sparse table updates, 0: dense (default: the main job's choice, dense under torchrun and "
                         "sparse in one process; DDP's sparse all-reduce on gloo crashed the main job, see pipeline.py)")
    ap.add_argument("--mode", choices=["torchrun", "threads"], default="torchrun")
    ap.add_argument("--threads", type=int, default=0, help="--mode threads: torch threads of the one process")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--folder", default="/tmp/din_scale3m")
    if len(sys.argv) > 1 and sys.argv[1] == "worker":  # positional: torchrun would read --log as its own option
        _, _, log, out, epochs, sparse, threads = sys.argv
        return worker(argparse.Namespace(log=log, out=out, epochs=int(epochs), sparse=int(sparse), threads=int(threads)))
    args = ap.parse_args()
    if args.sparse is None:
        args.sparse = int(args.mode == "threads")
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = make_log_csv(folder, args.users, args.items_per_category)
    make_s = time.perf_counter() - t0
    out = folder / f"out_{args.mode}_sparse{args.sparse}"
    env = {**os.environ, "OMP_NUM_THREADS": "1" if args.mode == "torchrun" else str(args.threads or 2)}
    threads = 1 if args.mode == "torchrun" else (args.threads or 2)
    me = [str(Path(__file__).resolve()), "worker", str(log), str(out), str(args.epochs), str(args.sparse), str(threads)]
    if args.mode == "torchrun":
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        cmd = [torchrun, "--standalone", f"--nproc_per_node={args.nproc}", *me]
    else:
        cmd = [sys.executable, *me]
    load_before = os.getloadavg()
    probe_before = speed_probe_ms()
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env)
    peak, samples, stop = [0.0], [], threading.Event()

    def sample():
        while not stop.is_set():
            v = tree_pss_mb(p.pid)
            peak[0] = max(peak[0], v)
            samples.append((round(time.perf_counter() - start, 1), round(v)))
            stop.wait(0.5)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    rc = p.wait()
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # torchrun and its workers, each waited for
    stop.set()
    th.join()
    result = {"benchmark": "scale_torchrun", "mode": args.mode, "nproc": args.nproc if args.mode == "torchrun" else 1,
              "threads_per_process": 1 if args.mode == "torchrun" else (args.threads or 2),
              "sparse_embeddings": bool(args.sparse), "users": args.users,
              "items_per_category_median": args.items_per_category, "epochs": args.epochs, "returncode": rc,
              "log_seconds_to_make_or_reuse": round(make_s, 1), "wall_seconds": round(wall, 1),
              "cpu_seconds_of_tree": round(children.ru_utime + children.ru_stime, 1),
              "peak_tree_pss_mb": round(peak[0], 1), "pss_samples": len(samples),
              "pss_timeline_s_mb": samples[::10],  # every 5 s: where in the job the peak falls
              "load_avg_before": [round(v, 1) for v in load_before],
              "load_avg_after": [round(v, 1) for v in os.getloadavg()], "machine": machine_info(),
              "speed_probe_ms_before_after": [probe_before, speed_probe_ms()], "command": " ".join(cmd)}
    import pandas as pd

    ids = pd.read_csv(log, usecols=["user_id", "item_id"])
    result["raw_ids"] = {"max_user_id": int(ids["user_id"].max()), "max_item_id": int(ids["item_id"].max()),
                         "distinct_users": int(ids["user_id"].nunique()), "distinct_items": int(ids["item_id"].nunique())}
    bench = out / "bench.json"
    if rc == 0 and bench.exists():
        r = json.loads(bench.read_text())
        n_train = r["data"]["train_samples"]
        result["data"] = r["data"]
        for name in ("DIN", "BaseModel"):
            m, h = r["models"][name], r["history"][name]
            result[name] = {"test_auc": round(m["auc"], 4), "test_gauc": round(m["gauc"], 4),
                            "train_seconds_incl_val_and_test": round(m["train_seconds"], 1),
                            "epoch_seconds": [round(e["seconds"], 1) for e in h],
                            "train_samples_per_s_incl_val": round(n_train * len(h) / sum(e["seconds"] for e in h), 1)}
        result["din_ahead_gauc"] = result["DIN"]["test_gauc"] > result["BaseModel"]["test_gauc"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
