"""Run-time settings read in one place: fast mode, seeding and thread count.

Taught in notebooks/00_index.ipynb (how to run the series, fast mode).
"""
from __future__ import annotations

import os
import random

import numpy as np

#: Environment variable that switches the notebooks, the main job and CI to small data and few epochs.
FAST_ENV = "DIN_TUTORIAL_FAST"


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
        n = int(os.environ.get("DIN_TUTORIAL_THREADS", 0)) or max(1, min(4, (os.cpu_count() or 1) // per_machine))
    torch.set_num_threads(int(n))
    return int(n)
