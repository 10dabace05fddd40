"""What a torchrun training step costs with and without DDP's gradient all-reduce, per part of the step.

The main job under ``torchrun --standalone --nproc_per_node=2`` (``benchmarks/scale_torchrun.py``)
spends its time in training steps. This script measures, on the samples that benchmark prepared
(the 3-million-interaction log by default), the step of each model as the main job runs it
(``CTRTrainer`` with the seed's settings: DDP, dense tables, fused Adam, 1,024 rows per process) in
two forms, alternately, block after block, so that both see the same noise:

- ``ddp``: DDP as the trainer wraps the model: the gradients are averaged over the processes;
- ``no_communication``: the same, with a DDP communication hook (``register_comm_hook``) that
  returns each process's own gradients without sending anything. The processes then never wait
  for each other: this is the step's floor, what it would cost if the all-reduce and the waiting
  for the other process were free. Its weights drift apart, so it is a measurement, never a way
  to train.

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
    from din_tutorial.training import CTRTrainer

    D.init_process_group(torch.device("cpu"))
    rank, world = D.rank(), D.world_size()
    samples = open_samples(samples_dir)
    vocab = table_sizes(samples)  # the main job's tables: ids, categories and the user profile
    train_dl = samples.loader("train", batch_size=2048 // world, seed=2022, rank=rank, world_size=world)
    train_dl.set_epoch(0, seed=2022)
    result = {"models": {}}
    for kind in ("din", "basemodel"):
        forms = {}
        for form in ("ddp", "no_communication"):
            seed_everything(2022)
            trainer = CTRTrainer(build_model(kind, vocab), optimizer_params=dict(SEED_OPTIMIZER_PARAMS), n_epoch=1,
                                 verbose=False, seed=2022)
            model = trainer._train_model  # what train_one_epoch runs: DistributedDataParallel under torchrun
            if form == "no_communication":
                model.register_comm_hook(None, no_communication)
            model.train()
            forms[form] = (trainer, model)
        batches = iter(train_dl)
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

        for form in forms:  # warm up both
            block(form, 5, record=False)
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
        summary["all_reduce_and_wait_ms"] = round(summary["ddp"]["step"] - summary["no_communication"]["step"], 1)
        result["models"][kind] = summary
    result["job_seconds_estimate"] = {
        form: round(sum(m[form]["step"] * m["steps_per_epoch"] for m in result["models"].values()) / 1e3, 1)
        for form in ("ddp", "no_communication")}
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
