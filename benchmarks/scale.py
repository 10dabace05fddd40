"""Benchmark: memory and time of preparing samples and reading one epoch, as the log grows.

For each log size, one fresh process per path (so each peak is its own):
- ``lean``: ``din_tutorial.samples.prepare_samples`` to a folder (memory-mapped), then one
  epoch of the train, validation and test loaders;
- ``frames``: ``generate_seq_feature`` + ``df_to_dict`` + ``DataGenerator``, then the same
  epoch (the teaching path; only where it fits, by default up to one million interactions).
Each process reports its peak RSS (``getrusage``) and its peak PSS (``/proc/self/smaps_rollup``
sampled every 20 ms; PSS counts pages shared with other processes, such as a memory-mapped
folder, once across them), the memory after the imports and after building the log, and the
growth per million interactions: (peak - after imports) / millions, so the log frame itself
counts against the path.

Prints one JSON object. Run:
    python benchmarks/scale.py [--rows 1000000 5000000 20000000] [--frames-max-rows 1000000]
                               [--batch-size 2048] [--folder /tmp/din_scale]

``--popularity`` measures instead the main job's popularity baseline on a prepared folder (made
once per log size in its own process): the former way (every training history gathered in
1M-sample chunks, only to read the target ids) against ``LeanSamples.target_counts`` (a
bincount of the target ids), each in a fresh process: peak resident memory as ``VmHWM`` of
``/proc/self/status``, reset (``/proc/self/clear_refs``) after the imports and the opening, so
the figure is the baseline's own; both must give the same scores.
    python benchmarks/scale.py --popularity --rows 3000000
``--vocab`` compares tables sized by the largest raw id with tables sized by the codes
(issue 18 item 1) on ``make_synthetic_amazon(--users)`` with ids spread ``--spread`` apart:
table rows, weights + Adam's state in MB, preparation time and the median DIN training step
(the two ways alternated step by step on the same samples):
    python benchmarks/scale.py --vocab [--users 60000] [--spread 10] [--steps 20]
The log is a vectorised random log shaped like Amazon Electronics (benchmarks/data_prep.py's
``make_log``) with two profile columns. Multi-process training is to be added here.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # noqa: E402
from data_prep import make_log as make_amazon_like_log  # noqa: E402

MB = 1024 * 1024


def make_log(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """About ``n_rows`` interactions: user, item, category, time, and two user-level columns."""
    log = make_amazon_like_log(n_rows, seed)
    log["gender"] = (log.user_id.to_numpy() * 7919 % 2).astype(np.int64)
    log["age"] = (log.user_id.to_numpy() * 104729 % 7).astype(np.int64)
    return log


def current_pss_mb() -> float | None:
    """This process's proportional set size in MiB, or None where /proc lacks it."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


class PeakSampler:
    """Samples PSS in a background thread; ``peak`` is the largest value seen."""

    def __init__(self, every_s: float = 0.02):
        self.every_s, self.peak, self._stop = every_s, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_pss_mb() or 0.0)
            self._stop.wait(self.every_s)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_pss_mb() or 0.0)


def one_epoch(loaders) -> tuple[int, float]:
    """Read every batch of the loaders once; returns (samples read, seconds)."""
    t, n = time.perf_counter(), 0
    for dl in loaders:
        for _, y in dl:
            n += len(y)
    return n, time.perf_counter() - t


def run_lean(log: pd.DataFrame, folder: Path, batch_size: int) -> dict:
    """Prepare the lean samples into ``folder`` and read one epoch of the three loaders."""
    from din_tutorial.samples import prepare_samples

    t = time.perf_counter()
    samples = prepare_samples(log, folder, item_attribute_cols=["cate_id"], max_len=50, neg_ratio=1)
    prep_s = time.perf_counter() - t
    n, epoch_s = one_epoch(samples.loaders(batch_size=batch_size))
    size = sum(p.stat().st_size for p in Path(folder).iterdir())
    return {"prepare_s": round(prep_s, 2), "epoch_s": round(epoch_s, 2), "samples_read": n,
            "folder_mb": round(size / MB, 1)}


def run_frames(log: pd.DataFrame, batch_size: int) -> dict:
    """The DataFrame path: generate_seq_feature + df_to_dict + DataGenerator, then one epoch."""
    from din_tutorial import DataGenerator, df_to_dict, generate_seq_feature

    t = time.perf_counter()
    train, val, test = generate_seq_feature(log, item_attribute_cols=["cate_id"], max_len=50, neg_ratio=1)
    xs = [df_to_dict(f) for f in (train, val, test)]
    ys = [f["label"].to_numpy() for f in (train, val, test)]
    del train, val, test
    loaders = DataGenerator(xs[0], ys[0]).generate_dataloader(xs[1], ys[1], xs[2], ys[2], batch_size=batch_size)
    del xs, ys
    gc.collect()
    prep_s = time.perf_counter() - t
    n, epoch_s = one_epoch(loaders)
    return {"prepare_s": round(prep_s, 2), "epoch_s": round(epoch_s, 2), "samples_read": n}


def worker(path: str, rows: int, batch_size: int, folder: str | None) -> dict:
    """One measurement in this process: imports, log, preparation, one epoch."""
    import torch  # noqa: F401  (imported before the baseline: every path needs it)

    import din_tutorial.data  # noqa: F401
    import din_tutorial.samples  # noqa: F401

    torch.set_num_threads(1)
    base_rss, base_pss = current_rss_mb(), current_pss_mb()
    with PeakSampler() as sampler:
        log = make_log(rows)
        log_rss, log_pss = current_rss_mb(), current_pss_mb()
        out = run_lean(log, Path(folder), batch_size) if path == "lean" else run_frames(log, batch_size)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    millions = len(log) / 1e6
    return {
        "path": path,
        "interactions": len(log),
        **out,
        "rss_after_imports_mb": round(base_rss, 1),
        "rss_after_log_mb": round(log_rss, 1),
        "peak_rss_mb": round(peak_rss, 1),
        "pss_after_imports_mb": None if base_pss is None else round(base_pss, 1),
        "pss_after_log_mb": None if log_pss is None else round(log_pss, 1),
        "peak_pss_mb": round(sampler.peak, 1),
        "peak_rss_growth_mb_per_million": round((peak_rss - base_rss) / millions, 1),
        "peak_pss_growth_mb_per_million": None if base_pss is None else round((sampler.peak - base_pss) / millions, 1),
    }


def vm_kib(field: str) -> int | None:
    """A ``Vm*`` line of /proc/self/status in KiB (VmHWM: peak resident set), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset VmHWM to the current resident set (writing 5 to /proc/self/clear_refs, Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def popularity_worker(method: str, folder: str) -> dict:
    """The popularity scores of the test candidates from a prepared folder, the ``method`` way."""
    import hashlib

    from din_tutorial.pipeline import _popularity
    from din_tutorial.samples import open_samples

    samples = open_samples(folder)
    test = samples.gather("test", slice(0, samples.n_samples("test")))
    reset = reset_peak()
    rss0, t = vm_kib("VmRSS"), time.perf_counter()
    if method == "gather":  # the main job before: histories of every training sample, 1M at a time
        n_train = samples.n_samples("train")
        train_items = np.concatenate([samples.gather("train", slice(i, i + 1_000_000))["item_id"]
                                      for i in range(0, n_train, 1_000_000)])
        pop = _popularity(train_items, np.asarray(samples.labels("train")), test["item_id"])
    else:
        pop = samples.target_counts("train")[test["item_id"]].astype(np.float64)
    seconds = time.perf_counter() - t
    hwm = vm_kib("VmHWM")
    return {"method": method, "train_samples": samples.n_samples("train"), "seconds": round(seconds, 2),
            "rss_before_mb": round(rss0 / 1024, 1), "peak_mb": round(hwm / 1024, 1),
            "peak_growth_mb": round((hwm - rss0) / 1024, 1), "peak_reset": reset,
            "scores_sha256": hashlib.sha256(np.ascontiguousarray(pop).tobytes()).hexdigest()[:16]}


def prepare_worker(rows: int, folder: str) -> dict:
    from din_tutorial.samples import prepare_samples

    samples = prepare_samples(make_log(rows), folder, item_attribute_cols=["cate_id"], max_len=50, neg_ratio=1)
    return {"interactions": samples.manifest["counts"]["interactions"], "train_samples": samples.n_samples("train")}


def run_fresh(*args: str) -> dict:
    """``python scale.py --worker ...`` in a fresh process; its last stdout line is a JSON object."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"args": list(args), "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_popularity(rows_list: list[int], root: Path, repeats: int = 2) -> list[dict]:
    runs = []
    for rows in rows_list:
        folder = root / f"lean_{rows}"
        prepared = run_fresh("--worker", "prepare", "--rows", str(rows), "--folder", str(folder))
        for _ in range(repeats):  # A B A B
            for method in ("gather", "target_counts"):
                runs.append({"interactions": prepared.get("interactions"),
                             **run_fresh("--worker", f"popularity-{method}", "--rows", str(rows),
                                         "--folder", str(folder))})
        shutil.rmtree(folder, ignore_errors=True)
    return runs


def measure(path: str, rows: int, batch_size: int, folder: Path) -> dict:
    """Run ``worker`` in a fresh Python process so that its peak is its own."""
    cmd = [sys.executable, __file__, "--worker", path, "--rows", str(rows), "--batch-size", str(batch_size),
           "--folder", str(folder)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"path": path, "interactions_asked": rows, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_vocab(n_users: int, factor: int, steps: int, batch_size: int, root: Path) -> dict:
    """Tables by raw id against tables by code on a log with sparse raw ids: rows, Adam bytes, DIN step time.

    The log: ``make_synthetic_amazon(n_users)`` with its user and item ids spread ``factor`` apart
    (``din_tutorial.datasets.spread_ids``). Each way prepares the lean samples (``encode=False``:
    ids as given; ``encode=None``: the default, codes for sparse columns) and builds the seed's
    DIN on its vocabulary; then training steps (dense gradients, ``torch.optim.Adam``, one
    thread) alternate A B A B on the same samples (batch ``i`` of both loaders is the same
    samples, in raw ids and in codes), so both ways see the same machine load.
    """
    import torch

    from din_tutorial.datasets import make_synthetic_amazon, spread_ids
    from din_tutorial.pipeline import build_model, table_sizes
    from din_tutorial.samples import prepare_samples

    torch.set_num_threads(1)
    t = time.perf_counter()
    log = spread_ids(make_synthetic_amazon(n_users)[0], factor=factor)
    out = {"interactions": len(log), "log_seconds": round(time.perf_counter() - t, 1),
           "distinct": {c: int(log[c].nunique()) for c in ("user_id", "item_id", "cate_id")},
           "largest_id_plus_1": {c: int(log[c].max()) + 1 for c in ("user_id", "item_id", "cate_id")}, "ways": {}}
    ways = {}
    for name, encode in (("raw ids", False), ("codes", None)):
        t = time.perf_counter()
        samples = prepare_samples(log, root / name.replace(" ", "_"), item_attribute_cols=["cate_id"], max_len=50,
                                  encode=encode)
        prepare_s = time.perf_counter() - t
        vocab = table_sizes(samples)
        torch.manual_seed(0)
        model = build_model("din", vocab)
        batches = [b for _, b in zip(range(steps + 2), samples.loader("train", batch_size=batch_size))]
        ways[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3), batches, [])
        params = sum(p.numel() for p in model.parameters())
        out["ways"][name] = {"encoded": samples.encoded, "table_rows": vocab, "parameters": params,
                             "weights_plus_adam_mb": round(params * 4 * 3 / MB, 1), "prepare_s": round(prepare_s, 1)}
    loss_fn = torch.nn.BCELoss()
    for i in range(steps + 2):
        for model, opt, batches, times in ways.values():
            x, y = batches[i]
            t = time.perf_counter()
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i >= 2:  # the first steps create Adam's state
                times.append(time.perf_counter() - t)
    for name, (_, _, _, times) in ways.items():
        out["ways"][name]["step_ms_median"] = round(1e3 * float(np.median(times)), 1)
    raw, codes = out["ways"]["raw ids"], out["ways"]["codes"]
    out["step_speedup"] = round(raw["step_ms_median"] / codes["step_ms_median"], 2)
    out["memory_ratio"] = round(raw["weights_plus_adam_mb"] / codes["weights_plus_adam_mb"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    ap.add_argument("--frames-max-rows", type=int, default=1_000_000,
                    help="run the DataFrame path only up to this many interactions (it needs ~4 GB per million)")
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--folder", default=None, help="where the lean samples are written (a temporary folder by default)")
    ap.add_argument("--popularity", action="store_true",
                    help="measure the popularity baseline's peak memory, former gather against target_counts")
    ap.add_argument("--worker", choices=["lean", "frames", "prepare", "popularity-gather",
                                         "popularity-target_counts"], help=argparse.SUPPRESS)
    ap.add_argument("--vocab", action="store_true", help="tables by raw id against by code (issue 18 item 1)")
    ap.add_argument("--users", type=int, default=60_000, help="--vocab: users of the synthetic log")
    ap.add_argument("--spread", type=int, default=10, help="--vocab: raw ids lie about this far apart")
    ap.add_argument("--steps", type=int, default=20, help="--vocab: training steps timed per way")
    args = ap.parse_args()
    if args.vocab:
        root = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="din_vocab_"))
        try:
            result = measure_vocab(args.users, args.spread, args.steps, args.batch_size, root)
        finally:
            if not args.folder:
                shutil.rmtree(root, ignore_errors=True)
        print(json.dumps({"benchmark": "scale --vocab", "batch_size": args.batch_size, "threads": 1, **result,
                          "machine": machine_info()}, indent=2))
        return
    if args.worker in ("lean", "frames"):
        print(json.dumps(worker(args.worker, args.rows[0], args.batch_size, args.folder)))
        return
    if args.worker == "prepare":
        print(json.dumps(prepare_worker(args.rows[0], args.folder)))
        return
    if args.worker:
        print(json.dumps(popularity_worker(args.worker.split("-", 1)[1], args.folder)))
        return
    root = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="din_scale_"))
    if args.popularity:
        try:
            runs = measure_popularity(args.rows, root)
        finally:
            if not args.folder:
                shutil.rmtree(root, ignore_errors=True)
        print(json.dumps({"benchmark": "scale --popularity", "runs": runs, "machine": machine_info()}, indent=2))
        return
    runs = []
    try:
        for rows in args.rows:
            folder = root / f"lean_{rows}"
            runs.append(measure("lean", rows, args.batch_size, folder))
            shutil.rmtree(folder, ignore_errors=True)
            if rows <= args.frames_max_rows:
                runs.append(measure("frames", rows, args.batch_size, folder))
    finally:
        if not args.folder:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"benchmark": "scale", "batch_size": args.batch_size, "max_len": 50, "neg_ratio": 1,
                      "target_mb_per_million": 300, "runs": runs, "machine": machine_info()}, indent=2))


if __name__ == "__main__":
    main()
