"""Dropout's cost on a CPU: ``din_tutorial.layers.Dropout`` against ``torch.nn.Dropout``, forward and backward.

DIN with the seed's settings runs dropout four times a training step: on the activation unit's
``(N, 32)`` and ``(N, 16)`` hidden values (``N``, the batch's real behaviours: about 26,000 for a
batch of 1,024 on the 3-million-interaction log, about 6,500 for a batch of 256 on the bundled
data) and on the head's ``(batch, 256)`` and ``(batch, 128)``. For each size this script times
forward and backward of three forms, block after block, the order of the forms turned each block
(so all see the same noise on a shared machine): ``nn.Dropout``; ``din_tutorial.Dropout`` (an int32
integer per value); and the same arithmetic with a float uniform per value (``torch.rand_like(x)
>= p``, how ``din_tutorial.Dropout`` drew its mask before). It reports the median milliseconds,
``nn.Dropout``'s over ours, and the peak resident memory of the process so far (it only rises; the
tensors of a size are freed before the next). Prints one JSON object.

    .venv/bin/python benchmarks/dropout_mask.py [--threads 1] [--p 0.2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, peak_rss_mb  # noqa: E402

from din_tutorial.layers import Dropout  # noqa: E402


class FloatUniformDropout(torch.nn.Module):
    """``din_tutorial.Dropout``'s arithmetic with its earlier mask: one float uniform per value."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * keep.div_(1.0 - self.p)


def time_block(module: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor, steps: int) -> float:
    """Milliseconds per forward and backward of ``module`` on ``x``."""
    start = time.perf_counter()
    for _ in range(steps):
        x.grad = None
        module(x).backward(grad)
    return (time.perf_counter() - start) / steps * 1e3


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--p", type=float, default=0.2)
    p.add_argument("--blocks", type=int, default=9)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sides = {"nn.Dropout": torch.nn.Dropout(args.p).train(), "din_tutorial.Dropout": Dropout(args.p).train(),
             "float_uniform_mask": FloatUniformDropout(args.p).train()}
    sizes = []
    for shape in [(1024, 128), (1024, 256), (6_500, 32), (26_000, 16), (26_000, 32), (104_000, 32)]:
        x = torch.randn(*shape, requires_grad=True)
        grad = torch.randn(*shape)
        for module in sides.values():  # warm up
            time_block(module, x, grad, 2)
        ms: dict[str, list[float]] = {name: [] for name in sides}
        names = list(sides)
        for block in range(args.blocks):
            for name in names[block % len(names):] + names[:block % len(names)]:  # each form first in turn
                ms[name].append(time_block(sides[name], x, grad, args.steps))
        med = {name: round(statistics.median(v), 3) for name, v in ms.items()}
        sizes.append({"shape": list(shape), "ms_forward_backward": med,
                      "nn_dropout_over_ours": round(med["nn.Dropout"] / med["din_tutorial.Dropout"], 2),
                      "float_mask_minus_ours_ms": round(med["float_uniform_mask"] - med["din_tutorial.Dropout"], 3),
                      "peak_rss_mb_so_far": peak_rss_mb()})
        del x, grad
    result = {"benchmark": "dropout_mask", "p": args.p, "threads": args.threads, "sizes": sizes, "machine": machine_info()}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
