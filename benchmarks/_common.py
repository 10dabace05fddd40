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


def speed_probe_ms(repeats: int = 7) -> float:
    """Milliseconds of a fixed single-thread workload like a DIN step's element-wise work (median of ``repeats``).

    This project's shared 2-core machine runs the same job 30% slower in some hours than in others
    (the same code and work took 524 and 692 CPU seconds in benchmarks/scale_torchrun.py): a
    benchmark that reports this probe beside its timings says in which phase they were taken. The
    workload: products, sums and a sigmoid over ``(26000, 32)`` float32 arrays (3.3 MB each, larger
    than a core's L2 cache, as the activation unit's tensors on the 3-million-interaction log),
    then a ``(1024, 256) @ (256, 128)`` product, in NumPy (no thread pool).
    """
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.random((26000, 32), dtype=np.float32), rng.random((26000, 32), dtype=np.float32)
    m, w = rng.random((1024, 256), dtype=np.float32), rng.random((256, 128), dtype=np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            c = a * b
            c += a
            np.negative(c, out=c)
            np.exp(c, out=c)
            c += 1.0
            np.reciprocal(c, out=c)  # sigmoid(a * b + a)
            m @ w
        times.append((time.perf_counter() - start) * 1e3)
    return round(sorted(times)[len(times) // 2], 1)
