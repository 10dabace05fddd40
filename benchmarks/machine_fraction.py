"""How close DIN's training comes to the machine: its arithmetic rate against torch.matmul's on the same shapes.

Issue 18 asks for this figure: the model's arithmetic per training sample (counted from the layer
shapes by ``torch.utils.flop_counter.FlopCounterMode`` over one forward, loss and backward; the
part in ``nn.Linear`` layers is also counted by hand, 3 x 2 x rows x in x out each), times the training samples per second,
against the rate ``torch.nn.functional.linear`` reaches on exactly the same matrix shapes on the
same threads (forward and both backward products, timed alone). The rest of the step time is then
broken down by operator with ``torch.profiler`` (self CPU time, grouped: matrix products, embedding
lookups and their gradients, element-wise and reductions, the optimiser, the rest).

The model is the seed tutorial's DIN (benchmarks/model_speed.py's ``seed`` configuration: MLP
[256, 128] with Dice, attention MLP [32, 16] with Dice, dropout 0.2, histories of 50 with about
44% padding), trained with Adam as the seed trains it. Prints one JSON object.

    .venv/bin/python benchmarks/machine_fraction.py [--threads 2] [--batch 2048] [--steps 30]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, peak_rss_mb  # noqa: E402
from model_speed import LR, SEQ_LEN, WEIGHT_DECAY, build_ours, make_data  # noqa: E402

GROUPS = [  # (group, words in an operator's name), first match wins
    ("matrix products", ("addmm", "aten::mm", "bmm", "matmul", "linear")),
    ("embedding lookups and gradients", ("embedding", "index_select", "index_add", "gather", "scatter")),
    ("optimiser", ("adam", "_foreach", "optimizer")),
    ("element-wise and reductions", ("mul", "add", "sub", "div", "sigmoid", "sum", "mean", "var", "sqrt", "pow",
                                     "where", "masked", "softmax", "dropout", "bernoulli", "binary_cross", "rsub",
                                     "exp", "clamp", "neg", "threshold", "prelu", "copy_", "fill_", "zero_", "cat",
                                     "expand", "repeat", "stack")),
]


def batches(x, y, batch: int, torch):
    n = len(y)
    tensors = {k: torch.as_tensor(v) for k, v in x.items()}
    labels = torch.as_tensor(y)
    while True:
        for start in range(0, n - batch + 1, batch):
            yield {k: v[start:start + batch] for k, v in tensors.items()}, labels[start:start + batch]


def linear_shapes(model, xb, torch) -> list[tuple[int, int, int]]:
    """(rows, in_features, out_features) of every nn.Linear call of one forward."""
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append((i[0].numel() // i[0].shape[-1], m.in_features,
                                                                    m.out_features)))
             for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model(xb)
    for h in hooks:
        h.remove()
    return shapes


def matmul_rate(shapes, torch, rounds: int = 5) -> tuple[float, float]:
    """Seconds for the forward and both backward products of these Linear shapes alone, and their FLOPs."""
    flops, times = 0.0, []
    mats = []
    for rows, fan_in, fan_out in shapes:
        a, w, g = torch.randn(rows, fan_in), torch.randn(fan_out, fan_in), torch.randn(rows, fan_out)
        mats.append((a, w, g))
        flops += 3 * 2.0 * rows * fan_in * fan_out  # y = a w^T, da = g w, dw = g^T a
    for _ in range(rounds + 1):
        start = time.perf_counter()
        for a, w, g in mats:
            torch.nn.functional.linear(a, w)
            torch.mm(g, w)
            torch.mm(g.t(), a)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), flops


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=30, help="timed training steps (after 5 warm-up steps)")
    args = ap.parse_args(argv)
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = [round(v, 1) for v in os.getloadavg()]
    x, y, pad_share = make_data(args.batch * 8, SEQ_LEN, seed=0, pad_value=-1)
    model = build_ours("seed")
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.BCELoss()
    data = batches(x, y, args.batch, torch)
    xb, yb = next(data)

    # ---- arithmetic per sample, from the shapes
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        loss_fn(model(xb), yb).backward()
    optimizer.zero_grad()
    flops_per_sample = counter.get_total_flops() / args.batch
    shapes = linear_shapes(model, xb, torch)
    hand = sum(3 * 2.0 * r * i * o for r, i, o in shapes) / args.batch

    # ---- training samples per second (the step as the seed trains: forward, loss, backward, Adam)
    def step(xb, yb):
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step(*next(data))
    blocks = []
    per_block = max(1, args.steps // 3)
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(per_block):
            step(*next(data))
        blocks.append((time.perf_counter() - start) / per_block)
    step_s = statistics.median(blocks)
    samples_per_s = args.batch / step_s

    # ---- the same matrix products alone
    mm_s, mm_flops = matmul_rate(shapes, torch)

    # ---- where the step's time goes
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step(*next(data))
    by_group, top = defaultdict(float), []
    total = 0.0
    for e in prof.key_averages():
        us = e.self_cpu_time_total
        total += us
        name = e.key.lower()
        group = next((g for g, words in GROUPS if any(w in name for w in words)), "other")
        by_group[group] += us
        top.append((us, e.key))
    top.sort(reverse=True)

    result = {
        "benchmark": "machine_fraction", "threads": args.threads, "batch": args.batch, "history_len": SEQ_LEN,
        "history_padding_share": round(pad_share, 3),
        "train_flops_per_sample": round(flops_per_sample), "of_which_linear_layers_hand_count": round(hand),
        "step_seconds": round(step_s, 4), "train_samples_per_s": round(samples_per_s),
        "train_gflops_per_s": round(flops_per_sample * samples_per_s / 1e9, 2),
        "same_linear_shapes_alone": {"seconds_per_step": round(mm_s, 4),
                                     "gflops_per_s": round(mm_flops / mm_s / 1e9, 2),
                                     "share_of_step_time": round(mm_s / step_s, 3)},
        "fraction_of_matmul_rate": round((flops_per_sample * samples_per_s) / (mm_flops / mm_s), 3),
        "profile_self_cpu_share": {g: round(v / total, 3) for g, v in sorted(by_group.items(), key=lambda kv: -kv[1])},
        "profile_top_ops": [{"op": k, "share": round(us / total, 3)} for us, k in top[:12]],
        "peak_rss_mb": round(peak_rss_mb(), 1), "torch": torch.__version__,
        "load_avg_before": load_before, "load_avg_after": [round(v, 1) for v in os.getloadavg()],
        "machine": machine_info(),
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
