"""The main job: ``python -m din_tutorial`` (or ``din-tutorial``) runs the seed's pipeline end to end.

Prepares the data, trains DIN and the paper's BaseModel, evaluates them (AUC, GAUC, log loss,
RelaImpr, and an item-popularity baseline), exports DIN to ONNX, draws it, prints a table and
writes everything to an output folder. ``--help`` lists the options.
"""
from __future__ import annotations

import argparse
import sys


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="din-tutorial",
        description="Train and evaluate DIN and BaseModel on the bundled data (or your own), export and draw DIN.",
    )
    ap.add_argument("--data", default=None,
                    help="a data file or folder (default: the bundled synthetic Amazon-like sample)")
    ap.add_argument("--format", default=None,
                    help="format of --data: csv (the seed's schema), rechub_csv, amazon, ml-1m, ml-100k "
                         "(default: guessed from the path)")
    ap.add_argument("--epochs", type=int, default=3, help="training epochs (default 3, as the seed)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda:0, mps or auto (default cpu)")
    ap.add_argument("--seed", type=int, default=2022, help="random seed (default 2022)")
    ap.add_argument("--out", default="din_output", help="output folder for checkpoints, ONNX, graph, results.json")
    ap.add_argument("--batch-size", type=int, default=2048, help="batch size (default 2048, as the seed)")
    ap.add_argument("--max-len", type=int, default=50, help="history length kept (default 50)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: cores, at most 4)")
    ap.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    ap.add_argument("--no-draw", action="store_true", help="skip drawing the model graph")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--sync-dice", action="store_true",
                    help="under torchrun: Dice's batch statistics over all processes (as one process with the whole batch)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    """Run the main job; under ``torchrun`` every process runs it (see din_tutorial.distributed)."""
    args = parse_args(argv)
    from .config import set_threads
    from .datasets import load_dataset
    from .pipeline import run

    set_threads(args.threads)
    try:
        data = load_dataset(args.data or "sample", format=args.format)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"din-tutorial: cannot load the data: {e}", file=sys.stderr)
        return 2
    run(data, epochs=args.epochs, device=args.device, seed=args.seed, out_dir=args.out,
        batch_size=args.batch_size, max_len=args.max_len, export=not args.no_export, draw=not args.no_draw,
        verbose=not args.quiet, sync_dice=args.sync_dice)
    return 0


if __name__ == "__main__":
    from torch.distributed.elastic.multiprocessing.errors import record

    # under torchrun, record() writes a failing process's traceback where torchrun reports it as the root cause
    sys.exit(record(main)())
