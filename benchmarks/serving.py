"""Serving cost of DIN's target attention: rank C candidates for one user, plain against split, two runtimes.

Prints one JSON object. For each candidate count C (10, 100, 1,000), each runtime (PyTorch,
onnxruntime) and each form (``plain``: the trained DIN on the user's row repeated C times, what
the exported graph of notebook 08 does; ``split``: :class:`din_tutorial.serving.SplitDIN`, the
first layer's history part computed once per request), on ONE thread:

- ``median_ms`` and ``p99_ms``: the wall-clock latency of one request (``repeats`` timed calls after
  a warm-up); ``cpu_median_ms`` and ``cpu_p99_ms``: the thread's CPU time per request, the work
  itself (on a busy machine the wall clock also counts the waits for a core);
  ``pairs`` = C x L (candidate, behaviour) pairs the attention scores;
- ``rss_loaded_mb`` (resident memory with the model loaded, the request built and one call made),
  ``peak_mb`` (the process's peak resident memory, VmHWM, during the timed calls: the peak is reset
  to the current size just before them, through /proc/self/clear_refs) and ``peak_extra_mb`` (their
  difference: the working memory one request adds on top of the loaded server).

Each (C, runtime, form) runs in a fresh process, so that peaks do not mix; the onnxruntime
workers never import torch. Order within each C: plain and split alternate (A B A B) over the
rounds. The model is the notebooks' DIN (seed's settings: item and category 16 each, attention MLP
32-16 with Dice, MLP 256-128) with untrained weights (the cost does not depend on their values)
on the bundled sample's vocabulary; the user is a real one of the sample with a history cut to
its most recent ``--seq-len`` steps (50, the training length). Before timing, the parent checks
that every form gives the plain PyTorch probabilities (``max_abs_diff``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serving.py            # about 2 minutes on 2 cores
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serving.py --quick    # 10 and 100 candidates, fewer repeats

Taught in notebooks/08_onnx_export.ipynb (section "Serving cost of target attention").
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, when run as a script
import numpy as np

RUNTIMES = ("torch", "onnxruntime")
FORMS = ("plain", "split")
CANDIDATE_KEYS = ("item_id", "cate_id")


def _vm(field: str) -> float:
    """A field of /proc/self/status in MiB (VmRSS: now, VmHWM: the peak so far); NaN where absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def worker(runtime: str, form: str, n: int, folder: Path, repeats: int) -> dict:
    """Time one (runtime, form, C) in this process and return its figures."""
    request = dict(np.load(folder / "request.npz"))
    # the plain feed: the first n candidates, and the user's row repeated once per candidate
    batch = {k: v[:n] if k in CANDIDATE_KEYS else np.repeat(v, n, axis=0) for k, v in request.items()}
    if runtime == "onnxruntime":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(folder / f"{form}.onnx"), sess_options=opts, providers=["CPUExecutionProvider"])
        feed = {i.name: batch[i.name] for i in session.get_inputs()}

        def call():
            return session.run(None, feed)
    else:
        import torch

        from din_tutorial.serving import SplitDIN

        torch.set_num_threads(1)
        model = torch.load(folder / "model.pt", weights_only=False).eval()
        net = SplitDIN(model) if form == "split" else model
        x = {k: torch.from_numpy(v) for k, v in batch.items()}

        def call():
            with torch.inference_mode():
                return net(x)
    call()  # one call before the reset, so that one-time set-up (allocator pools, kernel choices) counts as loading
    try:  # reset the peak to the current size (Linux >= 4.0), so the peak below is the request's, not the loading's
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    rss_loaded = _vm("VmRSS")
    # the loop of din_tutorial.serving.latency_ms, written out: importing the package would import torch
    for _ in range(5):
        call()
    wall, cpu = np.empty(repeats), np.empty(repeats)
    for i in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu[i] = 1000 * (time.thread_time() - start_cpu)
        wall[i] = 1000 * (time.perf_counter() - start_wall)
    return {"runtime": runtime, "form": form, "candidates": n, "median_ms": round(float(np.median(wall)), 3),
            "p99_ms": round(float(np.percentile(wall, 99)), 3), "cpu_median_ms": round(float(np.median(cpu)), 3),
            "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 3), "repeats": repeats,
            "rss_loaded_mb": rss_loaded, "peak_mb": _vm("VmHWM"), "peak_extra_mb": round(_vm("VmHWM") - rss_loaded, 1),
            "torch_imported": "torch" in sys.modules}


def prepare(folder: Path, seq_len: int, max_candidates: int, seed: int = 2022) -> dict:
    """Build the model and one request, export both forms to ONNX, check that they agree; return the facts."""
    import torch

    from din_tutorial import PAD_ID
    from din_tutorial.export import export_onnx, onnx_session, predict_onnx
    from din_tutorial.pipeline import PROFILE_COLUMNS, build_model, tutorial_data
    from din_tutorial.serving import SplitDIN, repeat_user

    torch.manual_seed(seed)
    data = tutorial_data()
    vocab = {c: int(data[c].max()) + 1 for c in ("user_id", "item_id", "cate_id", *PROFILE_COLUMNS) if c in data}
    model = build_model("din", vocab).eval()
    counts = data["user_id"].value_counts()
    user_id = int(counts[counts > seq_len].index.min())  # the first user with more than seq_len behaviours
    rows = data[data["user_id"] == user_id].sort_values("timestamp").iloc[-seq_len:]  # the most recent steps
    user = {"user_id": torch.tensor([user_id])}
    user.update({c: torch.tensor(rows[c].iloc[-1:].to_numpy()) for c in PROFILE_COLUMNS if c in vocab})
    user["hist_item_id"] = torch.tensor(rows["item_id"].to_numpy())[None, :]
    user["hist_cate_id"] = torch.tensor(rows["cate_id"].to_numpy())[None, :]
    assert not (user["hist_item_id"] == PAD_ID).any()
    item_cate = data.groupby("item_id")["cate_id"].first()
    gen = np.random.default_rng(seed)
    items = gen.choice(item_cate.index.to_numpy(), size=max_candidates, replace=False)
    candidates = {"item_id": torch.tensor(items), "cate_id": torch.tensor(item_cate.loc[items].to_numpy())}
    batch = repeat_user(user, candidates)
    np.savez(folder / "request.npz", **{k: (v.numpy() if k in candidates else v[:1].numpy()) for k, v in batch.items()})
    torch.save(model, folder / "model.pt")
    start = time.perf_counter()
    export_onnx(model, folder / "plain.onnx", data_loader=[batch])
    export_onnx(SplitDIN(model), folder / "split.onnx", data_loader=[batch])
    export_s = time.perf_counter() - start
    with torch.no_grad():
        want = model(batch).numpy()
        diffs = {"torch split": float(np.abs(SplitDIN(model)(batch).numpy() - want).max())}
    for form in FORMS:
        diffs[f"onnxruntime {form}"] = float(np.abs(predict_onnx(onnx_session(folder / f"{form}.onnx"), batch) - want).max())
    return {"user_id": user_id, "history_length": seq_len, "vocab": vocab, "export_s": round(export_s, 1),
            "max_abs_diff_vs_torch_plain": diffs,
            "model": "DIN with the seed's settings (attention MLP 32-16, MLP 256-128, Dice), untrained weights"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 and 100 candidates, 30 repeats: a smoke test")
    parser.add_argument("--seq-len", type=int, default=50, help="the user's history length (default 50)")
    parser.add_argument("--rounds", type=int, default=1, help="plain/split alternations per (C, runtime)")
    parser.add_argument("--worker", nargs=5, metavar=("RUNTIME", "FORM", "C", "FOLDER", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        runtime, form, n, folder, repeats = args.worker
        print(json.dumps(worker(runtime, form, int(n), Path(folder), int(repeats))))
        return

    from _common import machine_info

    counts = (10, 100) if args.quick else (10, 100, 1000)
    repeats = {10: 300, 100: 200, 1000: 100} if not args.quick else {10: 30, 100: 30}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        facts = prepare(folder, args.seq_len, max(counts))
        runs = []
        for n in counts:
            for runtime in RUNTIMES:
                for r in range(args.rounds):
                    for form in (FORMS if r % 2 == 0 else FORMS[::-1]):
                        out = subprocess.run([sys.executable, __file__, "--worker", runtime, form, str(n), str(folder),
                                              str(repeats[n])], capture_output=True, text=True, env=env, check=True)
                        run = json.loads(out.stdout.strip().splitlines()[-1])
                        run["round"] = r
                        run["pairs"] = n * args.seq_len
                        runs.append(run)
    summary = {}
    for n in counts:
        for runtime in RUNTIMES:
            row = {}
            for key in ("median_ms", "cpu_median_ms"):
                med = {f: float(np.median([x[key] for x in runs if (x["candidates"], x["runtime"], x["form"]) == (n, runtime, f)]))
                       for f in FORMS}
                row.update({f"plain_{key}": med["plain"], f"split_{key}": med["split"],
                            f"plain_over_split_{key}": round(med["plain"] / med["split"], 2)})
            row["peak_mb"] = {f: max(x["peak_mb"] for x in runs if (x["candidates"], x["runtime"], x["form"]) == (n, runtime, f))
                              for f in FORMS}
            summary[f"{runtime} C={n}"] = row
    print(json.dumps({
        "what": "latency of one ranking request (one user, C candidates) on one thread; plain vs split first layer",
        "threads": 1, **facts, "runs": runs, "summary": summary,
        "machine": {**machine_info(), "load_avg_1min_before": load_before, "load_avg_1min_after": round(os.getloadavg()[0], 2)},
        "paper": "section 6.7: 'in our real system we need to predict hundreds of ads for each visitor in less than "
                 "10 milliseconds' (Alibaba's CPU-GPU serving, with request batching)",
    }, indent=1))


if __name__ == "__main__":
    main()
