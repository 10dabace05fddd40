"""Benchmark: test AUC, GAUC and log loss of DIN, BaseModel and item popularity on the bundled data.

The seed's settings (3 epochs, batch 2048, lr 1e-3, mlp [256, 128], attention [32, 16], Dice),
over several seeds, with RelaImpr of DIN over BaseModel on GAUC (the paper's metric).
Prints one JSON object. Run:  python benchmarks/quality.py [--seeds 1 2 3] [--epochs 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, peak_rss_mb  # noqa: E402

from din_tutorial import metrics as M  # noqa: E402
from din_tutorial.config import seed_everything, set_threads  # noqa: E402
from din_tutorial.datasets import load_dataset  # noqa: E402
from din_tutorial.pipeline import build_model, popularity_scores, prepare, train_and_evaluate  # noqa: E402


def summary(values):
    return {"mean": round(statistics.mean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "all": [round(v, 4) for v in values]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", default="sample")
    ap.add_argument("--format", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="artifacts/quality")
    args = ap.parse_args()
    set_threads(args.threads)
    data = load_dataset(args.data, format=args.format)
    runs = {"DIN": [], "BaseModel": [], "Popularity": []}
    start = time.perf_counter()
    for seed in args.seeds:
        prepared = prepare(data, seed=seed)
        for name in ("DIN", "BaseModel"):
            seed_everything(seed)
            model = build_model(name, prepared.vocab)
            _, m = train_and_evaluate(model, prepared, n_epoch=args.epochs, seed=seed,
                                      model_path=Path(args.out) / f"{name}_{seed}", verbose=False)
            runs[name].append(m)
        pop = popularity_scores(prepared.train, prepared.test)
        runs["Popularity"].append({"auc": M.auc(prepared.test.label, pop),
                                   "gauc": M.gauc(prepared.test.label, pop, prepared.test.user_id)})
    result = {"benchmark": "quality", "data": args.data, "rows": len(data), "epochs": args.epochs,
              "seeds": args.seeds, "models": {}}
    for name, ms in runs.items():
        result["models"][name] = {k: summary([m[k] for m in ms]) for k in ("auc", "gauc", "logloss") if k in ms[0]}
        if "train_seconds" in ms[0]:
            result["models"][name]["train_seconds"] = summary([m["train_seconds"] for m in ms])
    rela = [M.rela_impr(d["gauc"], b["gauc"]) for d, b in zip(runs["DIN"], runs["BaseModel"])]
    result["rela_impr_gauc_percent"] = summary(rela)
    result["goal"] = "RelaImpr >= 5% on GAUC, DIN GAUC well above 0.5"
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["peak_rss_mb"] = peak_rss_mb()
    result["machine"] = machine_info()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
