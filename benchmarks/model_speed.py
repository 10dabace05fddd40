"""How fast DIN trains and predicts on a CPU, beside torch-rechub 0.9.0's DIN, measured A B A B.

Prints one JSON object: samples per second of training (forward, BCE loss, backward, Adam step)
and of evaluation (forward in inference mode), each with the data loader included and for the
model step alone, at batch sizes 2048 and 256, with the peak resident memory of each worker.

Inputs are synthetic but shaped like the bundled log: the seed's features (user 16, gender / age /
occupation / zip 8; item and category 16, paired with their histories), histories of at most 50
steps whose real lengths vary as prefixes of log-normal user histories (about 44% padding),
and the seed's DIN settings (MLP [256, 128], attention [32, 16], Dice, dropout 0.2).

torch-rechub runs in its own virtual environment (``--rechub-python``, default
``/tmp/rechub-venv/bin/python`` or ``$RECHUB_PYTHON``). Its DIN does not accept the seed's call
(``attention_mlp`` is not a keyword, ``mlp_params["activation"]`` is passed twice, mixed embedding
sizes crash its embedding layer, its activation unit takes no dropout), so the side-by-side
comparison uses a configuration it accepts: every profile embedding 16, ``mlp_params={"dims":
[256, 128], "dropout": 0.2}`` (its MLP forces Dice and adds BatchNorm), ``attention_mlp_params=
{"dims": [32, 16], "activation": "dice"}``, no attention dropout; ours runs the same settings
(with our defaults: one activation unit over item and category side by side), and once more in
torch-rechub's own structure (``rechub-structure``: one unit per history feature), so that the JSON
separates what the architecture buys (``architecture_group_vs_per_feature``) from what the
implementation buys (``implementation_same_structure``). Padding is 0 for
torch-rechub (its convention), PAD_ID for ours. Both use the same slicing loader
(``din_tutorial.data.TensorBatchLoader``); torch-rechub is also timed with its own
``DataGenerator`` (a torch DataLoader that collates row by row), as its users run it.
Both train with ``torch.optim.Adam(lr=1e-3, weight_decay=1e-5, fused=True)``.

Each (library, batch size) runs in a fresh process; the rounds alternate libraries (A B A B)
and the JSON gives medians over three rounds, and the ratios of each round (their spread is the
noise of the machine). With two threads, another busy process on the machine can slow
torch a lot: the load average is recorded before and after.

    .venv/bin/python benchmarks/model_speed.py                 # full run (a few minutes)
    .venv/bin/python benchmarks/model_speed.py --quick         # smaller, for a smoke test
    .venv/bin/python benchmarks/model_speed.py --rechub-python none   # without torch-rechub
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECHUB = os.environ.get("RECHUB_PYTHON", "/tmp/rechub-venv/bin/python")

VOCAB = {"user_id": 8000, "gender": 2, "age": 7, "occupation": 21, "zip": 3439, "item_id": 8100, "cate_id": 542}
PROFILE = ["user_id", "gender", "age", "occupation", "zip"]
SEQ_LEN = 50
LR, WEIGHT_DECAY = 1e-3, 1e-5
BLOCKS = 5  # each measurement is the median of 5 timed blocks of steps


# ---------------------------------------------------------------------------------------- data
def make_data(n: int, seq_len: int, seed: int, pad_value: int):
    """Synthetic batch columns: ids uniform, history lengths as prefixes of log-normal histories."""
    import numpy as np

    rng = np.random.default_rng(seed)
    users = np.clip(np.round(rng.lognormal(np.log(45), 0.55, 20000)), 8, 150).astype(np.int64)
    weights = (users - 2) / (users - 2).sum()
    u = rng.choice(len(users), n, p=weights)
    lengths = np.minimum(rng.integers(1, users[u] - 1), seq_len)  # prefix length, at most seq_len
    pad = np.arange(seq_len)[None, :] >= lengths[:, None]
    x = {name: rng.integers(0, VOCAB[name], n) for name in PROFILE + ["item_id", "cate_id"]}
    for name in ("item_id", "cate_id"):
        h = rng.integers(0, VOCAB[name], (n, seq_len))
        h[pad] = pad_value
        x["hist_" + name] = h
    y = rng.integers(0, 2, n).astype(np.float32)
    return x, y, float(pad.mean())


# ---------------------------------------------------------------------------------------- models
def build_ours(config: str):
    sys.path.insert(0, str(ROOT))
    from din_tutorial import DIN, SequenceFeature, SparseFeature

    small = 8 if config == "seed" else 16
    features = [SparseFeature("user_id", VOCAB["user_id"], 16)] + [
        SparseFeature(n, VOCAB[n], small) for n in PROFILE[1:]
    ]
    target = [SparseFeature("item_id", VOCAB["item_id"], 16), SparseFeature("cate_id", VOCAB["cate_id"], 16)]
    history = [
        SequenceFeature("hist_item_id", VOCAB["item_id"], 16, pooling="concat", shared_with="item_id"),
        SequenceFeature("hist_cate_id", VOCAB["cate_id"], 16, pooling="concat", shared_with="cate_id"),
    ]
    att_dropout = 0.2 if config == "seed" else 0.0
    return DIN(
        features=features,
        history_features=history,
        target_features=target,
        mlp_params={"dims": [256, 128], "dropout": 0.2, "activation": "dice"},
        attention_mlp={"dims": [32, 16], "dropout": att_dropout, "activation": "dice"},
        # torch-rechub's structure: one activation unit per history feature (ours: one for the goods group)
        attention_mode="per_feature" if config == "rechub-structure" else "group",
    )


def build_rechub():
    from torch_rechub.basic.features import SequenceFeature, SparseFeature
    from torch_rechub.models.ranking import DIN

    features = [SparseFeature(n, VOCAB[n], 16) for n in PROFILE]
    target = [SparseFeature("item_id", VOCAB["item_id"], 16), SparseFeature("cate_id", VOCAB["cate_id"], 16)]
    history = [
        SequenceFeature("hist_item_id", VOCAB["item_id"], 16, pooling="concat", shared_with="item_id"),
        SequenceFeature("hist_cate_id", VOCAB["cate_id"], 16, pooling="concat", shared_with="cate_id"),
    ]
    return DIN(
        features=features,
        history_features=history,
        target_features=target,
        mlp_params={"dims": [256, 128], "dropout": 0.2},
        attention_mlp_params={"dims": [32, 16], "activation": "dice"},
    )


# ---------------------------------------------------------------------------------------- worker
def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sys.path.insert(0, str(ROOT))
    from din_tutorial.data import TensorBatchLoader

    lib = args.worker
    batch = args.batch
    pad_value = 0 if lib == "rechub" else -1
    n_train = batch * (args.train_steps + args.warmup)
    n_eval = batch * (args.eval_steps + 1)
    x, y, pad_share = make_data(n_train, SEQ_LEN, seed=1, pad_value=pad_value)
    xe, ye, _ = make_data(n_eval, SEQ_LEN, seed=2, pad_value=pad_value)
    model = build_rechub() if lib == "rechub" else build_ours(args.config)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY, fused=True)
    loss_fn = torch.nn.BCELoss()

    def train_step(xb, yb):
        loss = loss_fn(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def blocks_of(n_steps: int) -> list[int]:
        """Split the timed steps into BLOCKS blocks; each block gives one samples/s figure."""
        base, extra = divmod(n_steps, BLOCKS)
        return [base + (i < extra) for i in range(BLOCKS) if base + (i < extra) > 0]

    def timed_train(batches) -> float:
        model.train()
        it = iter(batches)
        for _ in range(args.warmup):
            train_step(*next(it))
        rates = []
        for steps in blocks_of(args.train_steps):
            start, done = time.perf_counter(), 0
            for _ in range(steps):
                xb, yb = next(it)
                train_step(xb, yb)
                done += len(yb)
            rates.append(done / (time.perf_counter() - start))
        return statistics.median(rates)

    def timed_eval(batches) -> float:
        model.eval()
        with torch.inference_mode():
            it = iter(batches)
            model(next(it)[0])  # warm-up
            rates = []
            for steps in blocks_of(args.eval_steps):
                start, done = time.perf_counter(), 0
                for _ in range(steps):
                    xb, yb = next(it)
                    model(xb)
                    done += len(yb)
                rates.append(done / (time.perf_counter() - start))
        return statistics.median(rates)

    out = {"lib": lib, "config": args.config if lib == "ours" else "rechub-compatible", "batch": batch,
           "threads": torch.get_num_threads(), "padding_share": round(pad_share, 3)}
    train_dl = TensorBatchLoader(x, y, batch_size=batch, shuffle=True, drop_last=True)
    eval_dl = TensorBatchLoader(xe, ye, batch_size=batch)
    out["train_with_loader"] = timed_train(train_dl)
    pre = list(TensorBatchLoader(x, y, batch_size=batch, shuffle=True, drop_last=True))
    out["train_model_only"] = timed_train(pre)
    out["eval_with_loader"] = timed_eval(eval_dl)
    out["eval_model_only"] = timed_eval(list(eval_dl))
    if lib == "rechub":
        from torch_rechub.utils.data import DataGenerator

        own_train, own_eval, _ = DataGenerator(x, y).generate_dataloader(xe, ye, xe, ye, batch_size=batch)
        out["train_with_own_loader"] = timed_train(own_train)
        out["eval_with_own_loader"] = timed_eval(own_eval)
    out["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    out["load_average"] = round(os.getloadavg()[0], 2)
    return out


# ---------------------------------------------------------------------------------------- parent
def _run_worker(python: str, lib: str, config: str, batch: int, args) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", lib, "--config", config, "--batch", str(batch),
           "--threads", str(args.threads), "--train-steps", str(args.train_steps_for[batch]),
           "--eval-steps", str(args.eval_steps_for[batch]), "--warmup", str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT), check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{lib} worker failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _rechub_available(python: str | None) -> tuple[bool, str]:
    if not python or python.lower() == "none":
        return False, "not requested (--rechub-python none)"
    if not Path(python).exists():
        return False, (f"absent: {python} does not exist (create it: python3 -m venv /tmp/rechub-venv && "
                       f"/tmp/rechub-venv/bin/pip install -c <(echo torch==2.13.0) torch-rechub==0.9.0)")
    res = subprocess.run([python, "-c", "import torch_rechub, importlib.metadata as m; print(m.version('torch-rechub'))"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return False, f"absent: torch_rechub cannot be imported with {python}"
    return True, res.stdout.strip()


def _median(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if key in r]
    return round(statistics.median(vals), 1) if vals else None


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", choices=["ours", "rechub"], help=argparse.SUPPRESS)
    p.add_argument("--config", default="seed", choices=["seed", "rechub-compatible", "rechub-structure"],
                   help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--train-steps", type=int, default=20, help=argparse.SUPPRESS)
    p.add_argument("--eval-steps", type=int, default=20, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="A B rounds per measurement (medians are reported)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[2048, 256])
    p.add_argument("--rechub-python", default=DEFAULT_RECHUB, help="python of a venv with torch-rechub 0.9.0, or 'none'")
    p.add_argument("--quick", action="store_true", help="fewer steps and one round (a smoke test, not a measurement)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to this long for the 1-minute load average to fall below 0.5")
    args = p.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args)))
        return {}

    if args.quick:
        args.rounds = 1
    scale = 0.25 if args.quick else 1.0
    # about 40k training samples and 40k evaluation samples per measurement
    args.train_steps_for = {b: max(4, int(scale * 40960 / b)) for b in args.batch_sizes}
    args.eval_steps_for = {b: max(4, int(scale * 40960 / b)) for b in args.batch_sizes}
    have_rechub, rechub_note = _rechub_available(args.rechub_python)
    waited = 0.0
    while args.wait_quiet and waited < args.wait_quiet and os.getloadavg()[0] >= 0.5:
        time.sleep(10)
        waited += 10
    load_before = os.getloadavg()
    started = time.time()
    rows: list[dict] = []
    for rnd in range(args.rounds):
        for b in args.batch_sizes:
            rows.append({**_run_worker(sys.executable, "ours", "seed", b, args), "round": rnd})
            if have_rechub:
                rows.append({**_run_worker(args.rechub_python, "rechub", "rechub-compatible", b, args), "round": rnd})
                rows.append({**_run_worker(sys.executable, "ours", "rechub-compatible", b, args), "round": rnd})
                rows.append({**_run_worker(sys.executable, "ours", "rechub-structure", b, args), "round": rnd})

    import torch

    keys = ["train_with_loader", "train_model_only", "eval_with_loader", "eval_model_only",
            "train_with_own_loader", "eval_with_own_loader", "peak_rss_mib"]
    results: dict = {}
    for lib, config in [("ours", "seed"), ("ours", "rechub-compatible"), ("ours", "rechub-structure"),
                        ("rechub", "rechub-compatible")]:
        for b in args.batch_sizes:
            sel = [r for r in rows if r["lib"] == lib and r["config"] == config and r["batch"] == b]
            if not sel:
                continue
            entry = {k: _median(sel, k) for k in keys if _median(sel, k) is not None}
            entry["padding_share"] = sel[0]["padding_share"]
            results.setdefault(f"{lib}/{config}", {})[f"batch_{b}"] = entry
    ratios = {}
    if have_rechub:
        for b in args.batch_sizes:
            o = results["ours/rechub-compatible"][f"batch_{b}"]
            r = results["rechub/rechub-compatible"][f"batch_{b}"]
            ratios[f"batch_{b}"] = {k: round(o[k] / r[k], 2) for k in keys[:4]}
            ratios[f"batch_{b}"]["train_with_loader_vs_its_own_loader"] = round(
                o["train_with_loader"] / r["train_with_own_loader"], 2)
            ratios[f"batch_{b}"]["seed_config_train_with_loader_vs_its_own_loader"] = round(
                results["ours/seed"][f"batch_{b}"]["train_with_loader"] / r["train_with_own_loader"], 2)
            # like for like: the same structure (one unit per feature) separates implementation from architecture
            same = results["ours/rechub-structure"][f"batch_{b}"]
            ratios[f"batch_{b}"]["implementation_same_structure"] = {k: round(same[k] / r[k], 2) for k in keys[:4]}
            ratios[f"batch_{b}"]["architecture_group_vs_per_feature"] = {k: round(o[k] / same[k], 2) for k in keys[:4]}
    # the same ratios round by round (each round runs both libraries back to back): the spread shows the noise
    by_round = {}
    if have_rechub:
        for b in args.batch_sizes:
            per = []
            for rnd in range(args.rounds):
                pick = {r["lib"]: r for r in rows if r["round"] == rnd and r["batch"] == b and r["config"] == "rechub-compatible"}
                per.append({k: round(pick["ours"][k] / pick["rechub"][k], 2) for k in keys[:4]})
            by_round[f"batch_{b}"] = per
    report = {
        "benchmark": "model_speed",
        "unit": ("samples per second (median of 5 timed blocks per worker, then median over rounds); "
                 "peak_rss_mib: peak resident memory of the worker process (data, model, optimizer)"),
        "threads": args.threads,
        "rounds": args.rounds,
        "quick": args.quick,
        "seq_len": SEQ_LEN,
        "vocab": VOCAB,
        "optimizer": f"torch.optim.Adam(lr={LR}, weight_decay={WEIGHT_DECAY}, fused=True)",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "load_average_per_worker": [r["load_average"] for r in rows],
        "waited_for_quiet_s": waited,
        "seconds": round(time.time() - started, 1),
        "torch_rechub": rechub_note if not have_rechub else f"torch-rechub {rechub_note} in {args.rechub_python}",
        "results": results,
        "speedup_vs_torch_rechub": ratios or None,
        "speedup_vs_torch_rechub_by_round": by_round or None,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
