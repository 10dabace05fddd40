"""Run-time settings read in one place: fast mode, seeding and thread count.

Taught in notebooks/00_index.ipynb (how to run the series, fast mode).
"""
from __future__ import annotations

import os
import random

import numpy as np

#: Environment variable that switches the notebooks, the main job and CI to small data and few epochs.
FAST_ENV = "DIN_TUTORIAL_FAST"
#: Environment variable with PyTorch's thread count (see :func:`set_threads`).
THREADS_ENV = "DIN_TUTORIAL_THREADS"


def is_fast_mode() -> bool:
    """True when ``DIN_TUTORIAL_FAST`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def fast_or_full(fast, full):
    """Return ``fast`` in fast mode and ``full`` otherwise (notebooks ask this for sizes and epochs)."""
    return fast if is_fast_mode() else full


def seed_everything(seed: int = 2022) -> None:
    """Seed Python, NumPy and PyTorch so that a run is repeatable on the CPU."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(n: int | None = None) -> int:
    """Set PyTorch's intra-op thread count (default: ``DIN_TUTORIAL_THREADS``, else the cores shared among
    the processes ``torchrun`` started on this machine, at most 4 each).

    On a small, busy machine torch's default threading can collapse; a fixed count keeps runs steady,
    and N processes with all cores each would fight over them.
    """
    import torch

    if n is None:
        per_machine = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
        n = _threads_from_env() or max(1, min(4, (os.cpu_count() or 1) // per_machine))
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"the thread count must be a whole number >= 1, got {n!r}")
    torch.set_num_threads(int(n))
    return int(n)


def _threads_from_env() -> int | None:
    """``DIN_TUTORIAL_THREADS`` as a positive integer; None when unset, empty or 0 (the default count)."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text.isdigit():
        if text:
            raise ValueError(f"{THREADS_ENV}={text!r} is not a whole number; set it to e.g. 2, or unset it")
        return None
    return int(text) or None
