"""A/B of one DIN step, this working tree against a git revision, in one process (for changes of a few %).

On a shared 2-core machine two runs a minute apart can differ by 20%, more than most single
optimisations gain. This script copies ``din_tutorial`` as it is at ``--base`` (default ``HEAD``) into
a temporary folder, builds the same DIN from both copies (the inputs and settings of
``benchmarks/model_speed.py``), and times them alternately, block after block, so that both see
the same noise. It prints one JSON object: milliseconds per step of each side (median and fastest
block) and ``working_tree_speedup``, the median over blocks of the paired ratio ``base / working
tree`` (above 1: the working tree is faster).

    .venv/bin/python benchmarks/step_ab.py                         # training step, batch 256
    .venv/bin/python benchmarks/step_ab.py --mode eval --base HEAD~3
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_base(rev: str, folder: Path):
    """Import ``din_tutorial`` as of ``rev`` under the name ``din_base``."""
    target = folder / "din_base"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "din_tutorial"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target), "--strip-components=1"], input=archive.stdout, check=True)
    sys.path.insert(0, str(folder))
    return importlib.import_module("din_base")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="HEAD", help="git revision to compare against (default HEAD)")
    p.add_argument("--mode", choices=["train", "eval"], default="train")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--config", choices=["seed", "rechub-compatible"], default="rechub-compatible")
    p.add_argument("--blocks", type=int, default=12, help="timed blocks per side (alternating)")
    p.add_argument("--steps", type=int, default=15, help="steps per block")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import model_speed
    import torch

    import din_tutorial
    from din_tutorial.data import TensorBatchLoader

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        base_pkg = load_base(args.base, Path(tmp))
        x, y, _ = model_speed.make_data(args.batch * (args.steps + 5), model_speed.SEQ_LEN, seed=1, pad_value=-1)
        batches = list(TensorBatchLoader(x, y, batch_size=args.batch, shuffle=True, drop_last=True))

        def build(pkg):
            torch.manual_seed(0)
            saved = sys.modules["din_tutorial"]
            sys.modules["din_tutorial"] = pkg  # model_speed.build_ours imports din_tutorial
            try:
                model = model_speed.build_ours(args.config)
            finally:
                sys.modules["din_tutorial"] = saved
            opt = torch.optim.Adam(
                model.parameters(), lr=model_speed.LR, weight_decay=model_speed.WEIGHT_DECAY, fused=True
            )
            return model, opt

        sides = {"base": build(base_pkg), "working_tree": build(din_tutorial)}
        loss_fn = torch.nn.BCELoss()

        def run(name: str, bs) -> float:
            model, opt = sides[name]
            start = time.perf_counter()
            if args.mode == "eval":
                model.eval()
                with torch.inference_mode():
                    for xb, _ in bs:
                        model(xb)
            else:
                model.train()
                for xb, yb in bs:
                    loss = loss_fn(model(xb), yb)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
            return (time.perf_counter() - start) / len(bs) * 1e3

        for name in sides:  # warm-up
            run(name, batches[:5])
        times: dict[str, list[float]] = {name: [] for name in sides}
        for block in range(args.blocks):
            order = list(sides) if block % 2 == 0 else list(sides)[::-1]
            for name in order:
                times[name].append(run(name, batches[5:]))
    report = {
        "benchmark": "step_ab",
        "mode": args.mode,
        "batch": args.batch,
        "config": args.config,
        "base": args.base,
        "threads": args.threads,
        "ms_per_step": {
            n: {"median": round(statistics.median(v), 3), "fastest": round(min(v), 3)} for n, v in times.items()
        },
        "working_tree_speedup": round(
            statistics.median([b / w for b, w in zip(times["base"], times["working_tree"])]), 3
        ),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
