"""What a torchrun training step costs with and without DDP's gradient all-reduce, per part of the step.

The main job under ``torchrun --standalone --nproc_per_node=2`` (``benchmarks/scale_torchrun.py``)
spends its time in training steps. This script measures, on the samples that benchmark prepared
(the 3-million-interaction log by default), the step of each model as the main job runs it
(``CTRTrainer`` with the seed's settings: DDP, dense tables, fused Adam, 1,024 rows per process) in
three forms, in turn, block after block, so that all see the same noise:

- ``every_row``: DDP as the trainer wraps the model: the gradients are averaged over the processes,
  every row of every table included (rows no batch looked up add zeros);
- ``touched_rows``: the same averages with a DDP communication hook (:func:`touched_rows_allreduce`,
  below) that sends the tables' gradients on the rows some process touched only: find the rows
  whose gradient is not zero, agree on them (one all-reduce of a byte per row), all-reduce those
  rows and the other gradients. Before timing, one step of both forms from the same weights and the
  same dropout masks is checked to give bit-for-bit the same gradients on every process (2
  processes add a + b either way; with more, gloo may add in another order: equal up to rounding),
  and the script stops if they differ; ``touched_rows_parts_ms`` times its work at the end of a
  step apart (medians: finding the rows, agreeing on them with the wait for the other process,
  packing, sending, unpacking); ``touched_rows_sent_share`` is the share of the tables' rows it sent. It is the issue's "no
  all-reduce of untouched rows" for dense tables, measured here against sending every row;
- ``no_communication``: DDP with a communication hook that returns each process's own gradients
  without sending anything. The processes then never wait for each other: this is the step's
  floor, what it would cost if the all-reduce and the waiting for the other process were free. Its
  weights drift apart, so it is a measurement, never a way to train.

It also times gloo's all-reduce alone at a few sizes (the tables' gradients are about 5 MB).
Each part of a step is reported in milliseconds: fetching the batch, forward, backward (the
all-reduce runs inside it), optimiser step. ``job_seconds_estimate`` multiplies each form's step by
the epoch's steps for one epoch of each model (training only; preparation, validation and testing
add about 15 s in the main job). Prints one JSON object.

    .venv/bin/python benchmarks/scale_torchrun.py      # once: writes the prepared samples
    .venv/bin/python benchmarks/ddp_step_floor.py [--samples /tmp/din_scale3m/out_torchrun_sparse0/samples]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, peak_rss_mb  # noqa: E402

PARTS = ("data", "forward", "backward", "optimizer")


def no_communication(state, bucket):
    """A DDP communication hook that sends nothing: each process keeps its own gradients."""
    import torch

    future = torch.futures.Future()
    future.set_result(bucket.buffer())
    return future


#: The parts of :func:`touched_rows_allreduce`'s work at the last bucket, timed apart. ``agree`` also
#: holds the wait for the other process (the first collective of the step's end absorbs it).
TOUCHED_PARTS = ("find_rows", "agree", "pack", "send_rows", "unpack")


class TouchedRows:
    """State of :func:`touched_rows_allreduce`: the tables, the buckets waiting, the rows sent and in all."""

    def __init__(self, tables: list):
        self.tables = {id(t) for t in tables}
        self.waiting = []  # (bucket buffer, its parameters, its future)
        self.rows_sent = self.rows_total = 0
        self.part_ms = {part: [] for part in TOUCHED_PARTS}  # per step, when the last bucket comes


def touched_rows_allreduce(state: TouchedRows, bucket):  # no annotation: DDP would compare it as a string
    """DDP hook: buckets without a table go through the default all-reduce; those with one wait for the last.

    At the last bucket, for the waiting ones together: mark each table's rows whose gradient is not
    zero here, all-reduce the marks (max: touched by some process), all-reduce those rows and the
    buckets' other gradients packed in one tensor (divided by the number of processes first, as
    DDP divides), write them back (the other rows stay zero: zero on every process) and complete the futures.
    """
    import torch
    import torch.distributed as dist
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    if bucket.index() == 0:
        state.waiting.clear()  # buckets left over from a backward pass that raised
    params = bucket.parameters()
    if any(id(p) in state.tables for p in params):
        state.waiting.append((bucket.buffer(), params, torch.futures.Future()))
        future = state.waiting[-1][2]
    else:
        future = allreduce_hook(None, bucket)
    if not (bucket.is_last() and state.waiting):
        return future
    clock = [time.perf_counter()]

    def lap(part: str) -> None:
        now = time.perf_counter()
        state.part_ms[part].append((now - clock[0]) * 1e3)
        clock[0] = now

    tables, others = [], []  # (rows, dim) views of the tables' gradients; flat views of the others
    for buffer, bucket_params, _ in state.waiting:
        for grad, p in zip(buffer.split([p.numel() for p in bucket_params]), bucket_params):
            (tables.append(grad.view(p.shape)) if id(p) in state.tables else others.append(grad))
    touched = torch.cat([t.ne(0).any(dim=1) for t in tables]).to(torch.uint8)  # 1: touched here
    lap("find_rows")
    dist.all_reduce(touched, op=dist.ReduceOp.MAX)  # 1: touched by some process
    lap("agree")
    rows = [m.nonzero().squeeze(1) for m in touched.bool().split([t.shape[0] for t in tables])]
    packed = torch.cat([*others, *(t.index_select(0, r).reshape(-1) for t, r in zip(tables, rows))])
    packed.div_(dist.get_world_size())
    lap("pack")
    dist.all_reduce(packed)
    lap("send_rows")
    pieces = packed.split([g.numel() for g in others] + [r.numel() * t.shape[1] for t, r in zip(tables, rows)])
    for g, piece in zip(others, pieces):
        g.copy_(piece)
    for t, r, piece in zip(tables, rows, pieces[len(others):]):
        t.index_copy_(0, r, piece.view(-1, t.shape[1]))
    lap("unpack")
    state.rows_sent += sum(r.numel() for r in rows)
    state.rows_total += sum(t.shape[0] for t in tables)
    for buffer, _, waiting_future in state.waiting:
        waiting_future.set_result(buffer)
    state.waiting.clear()
    return future


def same_gradients(forms: dict, loss_fn, batch) -> bool:
    """One step of each form from its (identical) starting weights with the same dropout masks: equal gradients?"""
    import torch

    grads = {}
    for form in ("every_row", "touched_rows"):
        trainer, model = forms[form]
        torch.manual_seed(7)
        model.zero_grad(set_to_none=True)
        loss_fn(model(batch[0]), batch[1]).backward()
        grads[form] = [p.grad.clone() for p in trainer.model.parameters()]
        model.zero_grad(set_to_none=True)
    equal = torch.tensor(int(all(torch.equal(a, b) for a, b in zip(grads["every_row"], grads["touched_rows"]))))
    torch.distributed.all_reduce(equal, op=torch.distributed.ReduceOp.MIN)  # on every process
    return bool(equal)


def allreduce_ms(sizes_mb: list[float], repeats: int = 40) -> dict:
    """Milliseconds per gloo all-reduce of a float32 tensor of each size (MB)."""
    import torch
    import torch.distributed as dist

    out = {}
    for mb in sizes_mb:
        t = torch.ones(max(1, int(mb * 1e6 / 4)))
        for _ in range(5):
            dist.all_reduce(t)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(repeats):
            dist.all_reduce(t)
        out[f"{mb:g}"] = round((time.perf_counter() - start) / repeats * 1e3, 3)
    return out


def worker(samples_dir: str, blocks: int, steps: int) -> None:
    """One process under torchrun: time both forms of each model's step, alternately."""
    import torch

    torch.set_num_threads(1)
    from din_tutorial import distributed as D
    from din_tutorial.config import seed_everything
    from din_tutorial.pipeline import build_model, table_sizes
    from din_tutorial.samples import open_samples
    from din_tutorial.settings import SEED_OPTIMIZER_PARAMS
    from din_tutorial.training import CTRTrainer, embedding_tables

    D.init_process_group(torch.device("cpu"))
    rank, world = D.rank(), D.world_size()
    samples = open_samples(samples_dir)
    vocab = table_sizes(samples)  # the main job's tables: ids, categories and the user profile
    train_dl = samples.loader("train", batch_size=2048 // world, seed=2022, rank=rank, world_size=world)
    train_dl.set_epoch(0, seed=2022)
    result = {"models": {}}
    for kind in ("din", "basemodel"):
        forms = {}
        for form in ("every_row", "touched_rows", "no_communication"):
            seed_everything(2022)
            trainer = CTRTrainer(build_model(kind, vocab), optimizer_params=dict(SEED_OPTIMIZER_PARAMS), n_epoch=1,
                                 verbose=False, seed=2022)
            model = trainer._train_model  # what train_one_epoch runs: DistributedDataParallel under torchrun
            if form == "no_communication":
                model.register_comm_hook(None, no_communication)
            if form == "touched_rows":
                touched_state = TouchedRows([t.weight for t in embedding_tables(trainer.model)])
                model.register_comm_hook(touched_state, touched_rows_allreduce)
            model.train()
            forms[form] = (trainer, model)
        batches = iter(train_dl)
        gradients_equal = same_gradients(forms, forms["every_row"][0].loss_fn, next(batches))
        if not gradients_equal:
            raise SystemExit(f"touched_rows_allreduce gave other gradients than DDP's all-reduce ({kind})")
        ms = {form: {part: [] for part in PARTS} for form in forms}

        def block(form: str, n: int, record: bool, forms=forms, batches=batches, ms=ms) -> None:
            trainer, model = forms[form]
            sums = dict.fromkeys(PARTS, 0.0)
            for _ in range(n):
                t0 = time.perf_counter()
                x, y = next(batches)
                t1 = time.perf_counter()
                loss = trainer.loss_fn(model(x), y)
                t2 = time.perf_counter()
                for opt in trainer.optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                t3 = time.perf_counter()
                for opt in trainer.optimizers:
                    opt.step()
                loss.item()
                t4 = time.perf_counter()
                for part, dt in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    sums[part] += dt
            if record:
                for part in PARTS:
                    ms[form][part].append(sums[part] / n * 1e3)

        for form in forms:  # warm up each
            block(form, 5, record=False)
        touched_state.rows_sent = touched_state.rows_total = 0  # count and time the timed steps only
        touched_state.part_ms = {part: [] for part in TOUCHED_PARTS}
        for _ in range(blocks):
            for form in forms:
                D.barrier()
                block(form, steps, record=True)
        steps_per_epoch = len(train_dl)
        summary = {}
        for form in forms:
            parts = {part: round(statistics.median(v), 1) for part, v in ms[form].items()}
            parts["step"] = round(statistics.median([sum(t) for t in zip(*ms[form].values())]), 1)
            summary[form] = parts
        summary["steps_per_epoch"] = steps_per_epoch
        summary["all_reduce_and_wait_ms"] = {form: round(summary[form]["step"] - summary["no_communication"]["step"], 1)
                                             for form in ("every_row", "touched_rows")}
        summary["touched_rows_gradients_equal_to_every_row"] = gradients_equal
        summary["touched_rows_sent_share"] = round(touched_state.rows_sent / max(touched_state.rows_total, 1), 3)
        summary["touched_rows_parts_ms"] = {part: round(statistics.median(v), 2)
                                            for part, v in touched_state.part_ms.items() if v}
        result["models"][kind] = summary
    result["job_seconds_estimate"] = {
        form: round(sum(m[form]["step"] * m["steps_per_epoch"] for m in result["models"].values()) / 1e3, 1)
        for form in ("every_row", "touched_rows", "no_communication")}
    result["gloo_all_reduce_ms_by_mb"] = allreduce_ms([0.001, 0.08, 1.0, 5.2])
    result["peak_rss_mb_rank"] = peak_rss_mb()
    if rank == 0:
        print(json.dumps(result))
    D.exit_process(0)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":  # positional: torchrun would read options as its own
        _, _, samples_dir, blocks, steps = sys.argv
        return worker(samples_dir, int(blocks), int(steps))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", default="/tmp/din_scale3m/out_torchrun_sparse0/samples",
                    help="a prepared samples folder (benchmarks/scale_torchrun.py writes this one)")
    ap.add_argument("--blocks", type=int, default=6, help="timed blocks per form (alternating)")
    ap.add_argument("--steps", type=int, default=25, help="steps per block")
    ap.add_argument("--nproc", type=int, default=2)
    args = ap.parse_args()
    if not (Path(args.samples) / "manifest.json").exists():
        sys.exit(f"--samples {args.samples}: no prepared samples there; run benchmarks/scale_torchrun.py first "
                 f"(it writes them) or pass another folder")
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    cmd = [torchrun, "--standalone", f"--nproc_per_node={args.nproc}", str(Path(__file__).resolve()), "worker",
           args.samples, str(args.blocks), str(args.steps)]
    load_before = os.getloadavg()
    proc = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"the torchrun job failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = {"benchmark": "ddp_step_floor", "samples": args.samples, "nproc": args.nproc,
              "threads_per_process": 1, "blocks": args.blocks, "steps_per_block": args.steps, **json.loads(lines[-1]),
              "load_avg_before": [round(v, 1) for v in load_before], "machine": machine_info(),
              "command": " ".join(cmd)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
