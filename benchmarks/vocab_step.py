"""Benchmark: per-step training time against table size, dense against sparse updates (issue 18 item 2).

The same batch (ids drawn below the smallest table, so every size sees identical ids) trains on
tables of 10^4, 10^5 and 10^6 rows per feature:

- ``table``: one embedding of 16, batch 1024 x 20 ids, summed into a loss (the issue's scale figure);
- ``din``: the seed's DIN (user, item and category tables of that many rows each, history 20,
  batch 1024) through ``CTRTrainer``'s own optimisers (``trainer.optimizers``), one step as
  ``train_one_epoch`` takes it.

Update rules: ``dense_adam`` (the seed: dense gradients, Adam over every weight), ``sparse_adam``
(``nn.Embedding(sparse=True)``, SparseAdam for the tables, Adam for the rest: the main job's),
``sparse_adagrad`` (Adagrad for the tables). One thread. The sizes and rules are interleaved in
rounds in one process, and each figure is the median step; ``state_mb`` is the tables' weights,
gradients and optimiser state after the steps (what the update touches or keeps). The run
reports the load average before and after.

``--ddp`` runs the ``din`` case under ``torchrun --standalone --nproc_per_node=2`` (gloo, one
thread per rank, each rank half the batch): DDP all-reduces dense gradients in full and sparse
ones as the rows each rank touched. Rank 0 prints the JSON.

Run:
    python benchmarks/vocab_step.py [--sizes 10000 100000 1000000] [--steps 8] [--rounds 3] [--ddp]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, peak_rss_mb  # noqa: E402

RULES = ("dense_adam", "sparse_adam", "sparse_adagrad")
BATCH, SEQ, DIM = 1024, 20, 16


def table_case(rows: int, rule: str, ids: torch.Tensor):
    emb = torch.nn.Embedding(rows, DIM, sparse=rule != "dense_adam")
    opt = {"dense_adam": lambda p: torch.optim.Adam(p, lr=1e-3),
           "sparse_adam": lambda p: torch.optim.SparseAdam(p, lr=1e-3),
           "sparse_adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-2)}[rule](emb.parameters())

    def step():
        opt.zero_grad(set_to_none=True)
        emb(ids).sum(1).pow(2).mean().backward()
        opt.step()

    return step, [emb.weight], opt


def din_case(rows: int, rule: str, batch: dict, y: torch.Tensor, world: int = 1):
    from din_tutorial.pipeline import build_model
    from din_tutorial.training import CTRTrainer

    vocab = {"user_id": rows, "item_id": rows, "cate_id": rows}
    torch.manual_seed(0)
    model = build_model("din", vocab)
    kw = {} if rule == "dense_adam" else {"sparse_embeddings": True}
    if rule == "sparse_adagrad":
        kw.update(sparse_optimizer_fn=torch.optim.Adagrad, sparse_optimizer_params={"lr": 1e-2})
    trainer = CTRTrainer(model, optimizer_params={"lr": 1e-3, "weight_decay": 1e-5}, model_path=tempfile.mkdtemp(),
                         verbose=False, **kw)
    net = trainer._train_model  # the DDP wrapper under torchrun, the model itself in one process
    net.train()
    loss_fn = torch.nn.BCELoss()

    def step():
        loss = loss_fn(net(batch), y)
        for opt in trainer.optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in trainer.optimizers:
            opt.step()

    tables = [t.weight for t in model.embedding.tables.values()]
    return step, tables, *trainer.optimizers


def state_mb(tables, *opts) -> float:
    """Bytes of the tables, their gradients and the optimisers' state for them, in MiB."""
    total = 0
    for w in tables:
        total += w.numel() * w.element_size()
        if w.grad is not None:
            g = w.grad.coalesce() if w.grad.is_sparse else w.grad
            total += (g.values() if g.is_sparse else g).numel() * 4
        for opt in opts:
            for v in opt.state.get(w, {}).values():
                if torch.is_tensor(v):
                    total += v.numel() * v.element_size()
    return round(total / 2**20, 1)


def make_batch(world: int, rank: int, bound: int):
    rng = np.random.default_rng(0)
    n = BATCH // world
    x = {"user_id": rng.integers(0, bound, BATCH), "item_id": rng.integers(0, bound, BATCH),
         "cate_id": rng.integers(0, bound, BATCH),
         "hist_item_id": rng.integers(0, bound, (BATCH, SEQ)), "hist_cate_id": rng.integers(0, bound, (BATCH, SEQ))}
    lengths = rng.integers(1, SEQ + 1, BATCH)
    pad = np.arange(SEQ)[None, :] >= lengths[:, None]
    for k in ("hist_item_id", "hist_cate_id"):
        x[k][pad] = -1
    y = torch.as_tensor(rng.integers(0, 2, BATCH).astype(np.float32))[rank * n:(rank + 1) * n]
    return {k: torch.as_tensor(v)[rank * n:(rank + 1) * n] for k, v in x.items()}, y


def measure(cases: list[str], sizes: list[int], steps: int, rounds: int, world: int = 1, rank: int = 0) -> list[dict]:
    bound = min(sizes)  # every id fits the smallest table: the same batch for every size
    ids = torch.as_tensor(np.random.default_rng(1).integers(0, bound, (BATCH, SEQ)))
    batch, y = make_batch(world, rank, bound)
    built, times = {}, {}
    for case in cases:
        for rows in sizes:
            for rule in RULES:
                key = (case, rows, rule)
                built[key] = table_case(rows, rule, ids) if case == "table" else din_case(rows, rule, batch, y, world)
                built[key][0]()  # a first step: optimiser state allocated, caches warm
                times[key] = []
    for _ in range(rounds):  # interleaved: a burst of load hits every configuration alike
        for key, (step, *_) in built.items():
            for _ in range(steps):
                t = time.perf_counter()
                step()
                times[key].append((time.perf_counter() - t) * 1e3)
    out = []
    for (case, rows, rule), (step, tables, *opts) in built.items():
        out.append({"case": case, "rows_per_table": rows, "rule": rule,
                    "median_step_ms": round(statistics.median(times[case, rows, rule]), 2),
                    "state_mb": state_mb(tables, *opts)})
    for case in cases:
        for rule in RULES:
            small = next(r for r in out if r["case"] == case and r["rule"] == rule and r["rows_per_table"] == min(sizes))
            large = next(r for r in out if r["case"] == case and r["rule"] == rule and r["rows_per_table"] == max(sizes))
            large["ratio_to_smallest"] = round(large["median_step_ms"] / small["median_step_ms"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cases", nargs="+", default=["table", "din"], choices=["table", "din"])
    ap.add_argument("--ddp", action="store_true", help="the din case under torchrun, 2 processes (gloo)")
    ap.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.ddp and not args.ddp_worker:
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        cmd = [torchrun, "--standalone", "--nproc_per_node=2", __file__, "--ddp", "--ddp-worker", "--steps",
               str(args.steps), "--rounds", str(args.rounds), "--sizes", *map(str, args.sizes)]
        sys.exit(subprocess.call(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}))
    load_before = [round(v, 1) for v in os.getloadavg()]
    world, rank = 1, 0
    if args.ddp_worker:
        from din_tutorial import distributed as D

        D.init_process_group(torch.device("cpu"))
        world, rank = D.world_size(), D.rank()
    results = measure(["din"] if args.ddp else args.cases, args.sizes, args.steps, args.rounds, world, rank)
    if rank == 0:
        print(json.dumps({"benchmark": "vocab_step", "processes": world, "threads_per_process": 1,
                          "batch": BATCH, "seq_len": SEQ, "results": results, "peak_rss_mb_rank0": peak_rss_mb(),
                          "load_avg_before": load_before, "load_avg_after": [round(v, 1) for v in os.getloadavg()],
                          "machine": machine_info()}, indent=1))
    if args.ddp_worker:
        D.exit_process(0)


if __name__ == "__main__":
    main()
