"""The main job: ``python -m din_tutorial`` (or ``din-tutorial``) runs the seed's pipeline end to end.

Prepares the data, trains DIN and the paper's BaseModel, evaluates them (AUC, GAUC, log loss,
RelaImpr, and an item-popularity baseline), exports DIN to ONNX, draws it, prints a table and
writes everything to an output folder. ``--help`` lists the options.

A user's mistake ends in one line on stderr that names the option, path or column and says how
to fix it, with exit status 2 and no traceback: the options are checked as they are parsed, then
``--out``, ``--device`` and the data, all before anything is written, so an earlier run's results
in the same ``--out`` stay as they were. An ``InputError`` or ``ValueError`` that the package
raises later is turned into the same one line; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

PROG = "din-tutorial"
#: The exit status of a user's mistake (argparse's, too).
USAGE_ERROR = 2
#: A user needs this many behaviours for a training sample: the last is the test target, the one
#: before it the validation target, and the behaviours before those are the training targets, each
#: with at least one earlier behaviour as its history (din_tutorial.data.draw_samples).
MIN_BEHAVIOURS_TO_TRAIN = 4


class UsageError(Exception):
    """A mistake in the command line or its inputs: the message is the one line the user sees."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints the whole usage first; one line is enough
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _whole_number(low: int, high: int | None = None, example: int = 1):
    """An argparse type: an integer in ``[low, high]``, with a message that gives the range and an example."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bounds}, got {text!r} (e.g. {example})")
        return value

    parse.__name__ = "whole number"
    return parse


def _device(text: str) -> str:
    name = text.strip().lower()
    kind, _, index = name.partition(":")
    if (kind in ("cpu", "mps", "auto") and not index) or (kind == "cuda" and (not index or index.isdigit())):
        return name
    raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu, cuda, cuda:0, mps or auto")


def _formats() -> tuple[str, ...]:
    from .datasets.load import FORMATS

    return FORMATS


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog=PROG,
        description="Train and evaluate DIN and BaseModel on the bundled data (or your own), export and draw DIN.",
    )
    ap.add_argument("--data", default=None,
                    help="a data file or folder (default: the bundled synthetic Amazon-like sample)")
    ap.add_argument("--format", default=None, choices=_formats(),
                    help="format of --data: csv (the seed's schema), rechub_csv, amazon, ml-1m, ml-100k "
                         "(default: guessed from the path)")
    ap.add_argument("--epochs", type=_whole_number(1, example=3), default=3, help="training epochs (default 3, as the seed)")
    ap.add_argument("--device", type=_device, default="cpu", help="cpu, cuda, cuda:0, mps or auto (default cpu)")
    ap.add_argument("--seed", type=_whole_number(0, 2**32 - 1, example=2022), default=2022,
                    help="random seed, 0 to 2**32 - 1 (default 2022)")
    ap.add_argument("--out", default="din_output", help="output folder for checkpoints, ONNX, graph, results.json")
    ap.add_argument("--batch-size", type=_whole_number(1, example=2048), default=2048,
                    help="batch size (default 2048, as the seed)")
    ap.add_argument("--max-len", type=_whole_number(1, example=50), default=50, help="history length kept (default 50)")
    ap.add_argument("--threads", type=_whole_number(1, example=2), default=None,
                    help="torch threads (default: cores, at most 4)")
    ap.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    ap.add_argument("--no-draw", action="store_true", help="skip drawing the model graph")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--sync-dice", action="store_true",
                    help="under torchrun: Dice's batch statistics over all processes (as one process with the whole batch)")
    return ap


def parse_args(argv=None) -> argparse.Namespace:
    """The options, each checked as it is parsed (a bad value exits with one line and status 2)."""
    return build_parser().parse_args(argv)


# ----------------------------------------------------------------------------- checks before any write
def check_out(out: str) -> Path:
    """``--out`` must be a folder, or a path where one can be made; nothing is created here."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder; give a folder path (it is created if missing)")
    existing = path
    while not existing.exists():  # the nearest part of the path that exists must be a folder we can write in
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--out {out}: {existing} is a file, so the folder cannot be made there; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: cannot write in {existing} (permission denied); choose a folder you can write to")
    return path


def check_device(device: str) -> None:
    from .training import resolve_device

    try:
        resolve_device(device)
    except ValueError as e:
        raise UsageError(f"--device {device}: {e}") from None


def load_data(data: str | None, format: str | None):
    """The log named by ``--data`` (the bundled sample by default), checked to hold something to train on."""
    from .datasets import load_dataset

    where = f"--data {data}" if data else "the bundled sample"
    try:
        frame = load_dataset(data or "sample", format=format)
    except (OSError, ValueError, KeyError) as e:  # a missing or unreadable path, a wrong format or schema
        if isinstance(e, OSError) and e.filename is not None:
            message = f"cannot read {e.filename}: {e.strerror}; give a file or folder you can read"
        elif isinstance(e, OSError) and not _raised_by_the_package(e):  # e.g. a download without a network
            message = f"cannot get it ({type(e).__name__}: {e}); check the path, or the network for a download"
        elif _raised_by_the_package(e):  # the loaders' own message names the path or column and the fix
            message = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
            for python, option in (("pass format=", "pass --format"), ("load_dataset(..., format=...)", "--format")):
                message = message.replace(python, option)  # the loaders speak to Python callers
        else:  # the file itself could not be parsed (not text, not a CSV, empty)
            message = (f"cannot read it as {format or 'any known format'} ({type(e).__name__}: {e}); give a CSV in "
                       f"the seed's schema or a MovieLens / Amazon download, or name its kind with --format")
        raise UsageError(f"{where}: {message}") from None
    check_usable(frame, where)
    return frame


def check_usable(frame, where: str, user_col: str = "user_id") -> None:
    """Refuse a log in which no user has enough behaviours for a training sample."""
    counts = frame[user_col].value_counts() if len(frame) else None
    longest = int(counts.max()) if counts is not None else 0
    if longest < MIN_BEHAVIOURS_TO_TRAIN:
        raise UsageError(
            f"{where}: no user has {MIN_BEHAVIOURS_TO_TRAIN} or more behaviours (column {user_col!r}; the most is "
            f"{longest} in {len(frame)} rows), so there is no training sample: each user's last behaviour is the "
            f"test target, the one before the validation target, and earlier ones are trained on. Give a log "
            f"with longer user histories"
        )


def _raised_by_the_package(error: BaseException) -> bool:
    """True when the innermost frame of ``error``'s traceback is in din_tutorial (its own message, not a bug's)."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(Path(__file__).resolve().parent)


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)  # one line, whatever the message
    return USAGE_ERROR


def main(argv=None) -> int:
    """Run the main job; under ``torchrun`` every process runs it (see din_tutorial.distributed)."""
    args = parse_args(argv)
    try:  # cheapest first: the data check needs pandas only, the others torch
        check_out(args.out)
        # under torchrun only the first process of each machine reads the log (the others open its samples):
        # distributed.first_process_on_machine's rule, read from the environment here so torch loads after the check
        torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
        other = torchrun and os.environ.get("LOCAL_RANK", "0") != "0"
        data = None if other else load_data(args.data, args.format)
        from .config import set_threads

        set_threads(args.threads)
        check_device(args.device)
    except (UsageError, ValueError) as e:  # ValueError: e.g. DIN_TUTORIAL_THREADS, which config checks
        return _fail(str(e))

    from .layers.embedding import InputError
    from .pipeline import run

    try:
        run(data, epochs=args.epochs, device=args.device, seed=args.seed, out_dir=args.out,
            batch_size=args.batch_size, max_len=args.max_len, export=not args.no_export, draw=not args.no_draw,
            verbose=not args.quiet, sync_dice=args.sync_dice)
    except (InputError, ValueError) as e:
        if isinstance(e, InputError) or _raised_by_the_package(e):
            return _fail(str(e))
        raise  # a ValueError from inside a library: a bug, keep the traceback
    return 0


if __name__ == "__main__":
    if "TORCHELASTIC_RUN_ID" in os.environ:  # under torchrun
        from torch.distributed.elastic.multiprocessing.errors import record

        from .distributed import exit_process

        # record() writes a failing process's traceback where torchrun reports it as the root cause;
        # exit_process ends the process without racing gloo's threads against Python's shut-down
        exit_process(record(main)())
    sys.exit(main())
