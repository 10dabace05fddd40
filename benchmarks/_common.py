"""Shared helpers for the benchmark scripts: machine description and peak memory."""
from __future__ import annotations

import os
import platform
import resource


def machine_info() -> dict:
    """Cores, load average and library versions, so figures from different runs can be compared."""
    import numpy as np

    info = {
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
