"""Training on several processes with ``torch.distributed``: the few calls the trainer needs.

Launch any script that uses :class:`~din_tutorial.training.CTRTrainer` (the main job included)
with ``torchrun``::

    torchrun --standalone --nproc_per_node=2 -m din_tutorial --epochs 1      # 2 processes, one machine
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d \\
             --rdzv_endpoint=HOST:29400 -m din_tutorial ...                    # 2 machines of 8 GPUs

``torchrun`` starts the processes and tells each its ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` in the environment; :func:`init_process_group` reads them and joins the process
group (``gloo`` on CPUs, ``nccl`` on CUDA GPUs). Nothing here is an engine of our own: the model
is wrapped in ``torch.nn.parallel.DistributedDataParallel``, which all-reduces the gradients;
this module only adds what evaluation needs (gathering every process's predictions so that AUC
and GAUC are computed exactly over the whole split) and a broadcast for decisions one process
takes for all (early stopping).

Taught in notebooks/09_scaling_out.ipynb.
"""
from __future__ import annotations

import datetime
import os

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "launched_by_torchrun",
    "device_for_this_process",
    "init_process_group",
    "rank",
    "world_size",
    "is_main_process",
    "gather_arrays",
    "broadcast_object",
    "barrier",
]

#: Seconds a collective waits for the other processes before it raises (instead of hanging).
DEFAULT_TIMEOUT_S = 600


def launched_by_torchrun() -> bool:
    """True in a process that ``torchrun`` started with more than one process in all."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def device_for_this_process(device: torch.device) -> torch.device:
    """``cuda`` without an index means this process's GPU under ``torchrun`` (``LOCAL_RANK``); others stay."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def init_process_group(device: torch.device, timeout_s: float | None = None) -> bool:
    """Join the process group ``torchrun`` set up (from the environment); True when there is one.

    Does nothing (and returns False) outside ``torchrun`` or with one process; returns True if a
    process group already exists. The backend is ``nccl`` for a CUDA ``device``, ``gloo`` otherwise.
    ``timeout_s`` (default :data:`DEFAULT_TIMEOUT_S`, or ``DIN_TUTORIAL_DIST_TIMEOUT``) bounds how
    long a collective waits for a process that died or never came.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if not launched_by_torchrun():
        return False
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed; install a standard PyTorch wheel")
    timeout_s = timeout_s or float(os.environ.get("DIN_TUTORIAL_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return True


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside ``torch.distributed``)."""
    return dist.get_rank() if _active() else 0


def world_size() -> int:
    """Processes in the group (1 outside ``torch.distributed``)."""
    return dist.get_world_size() if _active() else 1


def is_main_process() -> bool:
    """True on rank 0, the process that prints, shows progress and writes files."""
    return rank() == 0


def _collective_device() -> torch.device:
    """Tensors in collectives live on the GPU for nccl, on the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def gather_arrays(array: np.ndarray) -> np.ndarray:
    """Concatenate every process's 1-D ``array`` in rank order (sizes may differ); the same result on every rank.

    Outside ``torch.distributed`` the array is returned as it is. Two collectives: the sizes, then
    the values padded to the largest size.
    """
    array = np.ascontiguousarray(array)
    if not _active():
        return array
    device = _collective_device()
    n = torch.tensor([array.shape[0]], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, n)
    sizes = [int(s.item()) for s in sizes]
    values = torch.zeros(max(sizes), dtype=torch.from_numpy(array[:0]).dtype, device=device)
    values[: array.shape[0]] = torch.from_numpy(array).to(device)
    parts = [torch.empty_like(values) for _ in sizes]
    dist.all_gather(parts, values)
    return np.concatenate([p[:s].cpu().numpy() for p, s in zip(parts, sizes)])


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s ``obj`` (any picklable value) on every rank; ``obj`` itself outside ``torch.distributed``."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_collective_device())
    return box[0]


def barrier() -> None:
    """Wait until every process gets here (no-op outside ``torch.distributed``)."""
    if _active():
        dist.barrier()
