"""Training on several processes with ``torch.distributed``: every distributed call the package makes.

Launch any script that uses :class:`~din_tutorial.training.CTRTrainer` (the main job included)
with ``torchrun``::

    torchrun --standalone --nproc_per_node=2 -m din_tutorial --epochs 1      # 2 processes, one machine
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d \\
             --rdzv_endpoint=HOST:29400 -m din_tutorial ...                    # 2 machines of 8 GPUs

``torchrun`` starts the processes and tells each its ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` in the environment; :func:`init_process_group` reads them and joins the process
group (``gloo`` on CPUs, ``nccl`` on CUDA GPUs, each process on GPU ``LOCAL_RANK`` of its
machine). Nothing here is an engine of our own: the model is wrapped in
``torch.nn.parallel.DistributedDataParallel`` (:func:`wrap_ddp`), which all-reduces the
gradients. This module adds only what a correct job needs around it, each a few lines:

- :func:`check_training_loader`: every loader holds this process's shard, and every process
  runs the same number of steps (a rank with one more step would wait forever in its gradient
  all-reduce);
- :func:`broadcast_buffers`: rank 0's buffers (Dice's running statistics) on every process, so
  evaluation and the kept best state are one model's;
- :func:`gather_split`: every process's predictions, labels and users of an evaluation split,
  so AUC and GAUC are computed exactly over the whole split; :func:`gather_ids` for the
  mini-batch aware regularisation over the whole global batch;
- :func:`broadcast_object` for decisions one process takes for all (early stopping);
- :func:`process_group`: join, and always leave (``destroy_process_group``), the process group;
  :func:`exit_process` ends a torchrun process without the race of gloo's threads against
  Python's shut-down (see there).

Taught in notebooks/09_scaling_out.ipynb.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import sys
import traceback
from typing import NoReturn

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "launched_by_torchrun",
    "local_rank",
    "first_process_on_machine",
    "device_for_this_process",
    "init_process_group",
    "destroy_process_group",
    "process_group",
    "exit_process",
    "rank",
    "world_size",
    "is_main_process",
    "wrap_ddp",
    "loader_shard",
    "check_training_loader",
    "broadcast_buffers",
    "gather_arrays",
    "gather_ids",
    "gather_split",
    "broadcast_object",
    "barrier",
]

#: Seconds a collective waits for the other processes before it raises (instead of hanging).
DEFAULT_TIMEOUT_S = 600


def launched_by_torchrun() -> bool:
    """True in a process that ``torchrun`` started with more than one process in all."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def local_rank() -> int:
    """This process's rank on its own machine (``LOCAL_RANK`` from ``torchrun``; 0 otherwise)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def first_process_on_machine() -> bool:
    """True in the process that reads the log on its machine: the only one, or ``LOCAL_RANK`` 0 under ``torchrun``.

    The machine's other processes open the samples it prepares (:func:`din_tutorial.pipeline.prepare_lean`).
    """
    return not launched_by_torchrun() or local_rank() == 0


def device_for_this_process(device: torch.device) -> torch.device:
    """``cuda`` without an index means this process's GPU under ``torchrun`` (``LOCAL_RANK``); others stay."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank())
    return device


def init_process_group(device: torch.device, timeout_s: float | None = None) -> bool:
    """Join the process group ``torchrun`` set up (from the environment); True when there is one.

    Does nothing (and returns False) outside ``torchrun`` or with one process; returns True if a
    process group already exists. The backend is ``nccl`` for a CUDA ``device``, ``gloo`` otherwise.
    ``timeout_s`` (default :data:`DEFAULT_TIMEOUT_S`, or ``DIN_TUTORIAL_DIST_TIMEOUT``) bounds how
    long a collective waits for a process that died or never came. A group joined here is left
    again at the process's exit (:func:`destroy_process_group`) if nobody left it before: a process
    that exits with a live group can abort ("terminate called without an active exception").
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
    atexit.register(destroy_process_group)
    return True


def destroy_process_group() -> None:
    """Leave the process group, if this process is in one (safe to call twice)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_process(code: int = 0) -> NoReturn:
    """End this process with ``code``: under ``torchrun``, leave the group and exit without Python's shut-down.

    Under ``torchrun`` (more than one process): after a barrier when ``code`` is 0 (no process
    still talks to this one), leave the process group, flush stdout and stderr, and end the process
    with ``os._exit(code)``. In one process: ``sys.exit(code)``. Every ``torchrun`` entry point of
    the project ends with it: the main job, the test workers, the benchmarks and notebook 09's scripts.

    Why not a plain return: with torch 2.13, a gloo process group that ``DistributedDataParallel``
    used keeps its worker threads after ``destroy_process_group()`` (measured: 4 threads before and
    after, 1 after a group no DDP touched). Such a thread may still hold the last reference to a
    finished collective when the main thread starts Python's shut-down; releasing it frees tensors
    that Python owns, the thread asks for the GIL, a finalising interpreter ends the thread inside a
    C++ destructor, and the process aborts ("terminate called without an active exception",
    SIGABRT). A core dump of a test worker that died so showed exactly this: a gloo
    ``ProcessGroupGloo::runLoop`` thread in ``~AsyncBarrierWork`` -> ``~AsyncAllgatherWork`` ->
    ``decref_pyobject`` -> ``take_gil`` while the main thread ran ``Py_FinalizeEx``; about one
    exit in ten aborted with the other core busy. An upstream fix (pytorch/pytorch#179291) was
    abandoned. Everything the process had to write is written before this is called; ``atexit``
    handlers do not run.
    """
    if not launched_by_torchrun():
        sys.exit(code)
    try:
        if code == 0:
            barrier()
        destroy_process_group()
    except Exception:  # e.g. another process died before the barrier: say so, and do not exit 0
        traceback.print_exc()
        code = code or 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def process_group(device: torch.device, timeout_s: float | None = None):
    """``with process_group(device):`` joins the group (:func:`init_process_group`) and leaves it at the end.

    The group is destroyed in a ``finally``, also when the body raises (after a barrier when it
    does not), and only if it was joined here (a group the caller made stays the caller's).
    """
    made_here = not (dist.is_available() and dist.is_initialized())
    joined = init_process_group(device, timeout_s)
    try:
        yield joined
        if joined and made_here:
            barrier()  # no process still talks to this one when the group goes
    finally:
        if joined and made_here:
            destroy_process_group()


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


def wrap_ddp(model: torch.nn.Module, device: torch.device, **ddp_params) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` under ``torch.distributed``; ``model`` itself in one process.

    Two of DDP's settings differ from its defaults, neither changes the trained weights (``ddp_params``
    may set them back, under either name of the first):

    - no buffer broadcast before each forward (``forward_sync_buffers=False``, torch 2.13's name;
      ``broadcast_buffers=False`` before): DDP would send rank 0's buffers before every forward. In
      training Dice normalises by the batch and never reads its running statistics, and the
      models' other buffers (the regularisation's id counts) never change and are copied once when
      DDP is built; so no gradient depends on the broadcast (tests/test_distributed.py compares the
      weights both ways). During an epoch each rank's running statistics are its own;
      :func:`broadcast_buffers` copies rank 0's after each epoch and before evaluating;
    - ``gradient_as_bucket_view=True``: the gradients live in DDP's all-reduce buffers instead of
      being copied out of them.
    """
    if not _active():
        return model
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    ids = [device] if device.type == "cuda" else None
    settings = {"gradient_as_bucket_view": True, **ddp_params}
    if not {"forward_sync_buffers", "broadcast_buffers"} & set(ddp_params):
        newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
        settings["forward_sync_buffers" if newer else "broadcast_buffers"] = False
    return DistributedDataParallel(model, device_ids=ids, **settings)


# ---------------------------------------------------------------------- loaders
def _sampler(loader):
    """The sampler of a ``torch.utils.data.DataLoader`` (the one inside its batch sampler), else None."""
    sampler = getattr(getattr(loader, "batch_sampler", None), "sampler", None)
    return sampler if sampler is not None else getattr(loader, "sampler", None)


def loader_shard(loader) -> tuple[int, int] | None:
    """``(rank, world_size)`` a loader was split for, or None when it is not split.

    Our loaders (``TensorBatchLoader``, ``LeanBatchLoader``) say it as ``rank`` and
    ``world_size``; a ``DataLoader`` says it through its sampler's ``rank`` and ``num_replicas``
    (``torch.utils.data.DistributedSampler``, or any sampler with those attributes).
    """
    if hasattr(loader, "rank") and hasattr(loader, "world_size"):
        return int(loader.rank), int(loader.world_size)
    sampler = _sampler(loader)
    if hasattr(sampler, "rank") and hasattr(sampler, "num_replicas"):
        return int(sampler.rank), int(sampler.num_replicas)
    return None


def _check_shard_matches(loader, what: str) -> tuple[int, int] | None:
    shard = loader_shard(loader)
    if shard is not None and shard != (rank(), world_size()):
        raise ValueError(
            f"rank {rank()}: the {what} loader is split for rank {shard[0]} of {shard[1]} processes, but this is "
            f"rank {rank()} of {world_size()}; build it with rank={rank()}, world_size={world_size()} "
            f"(DistributedSampler(dataset) reads them from the process group)"
        )
    return shard


def _is_iterable_style(loader) -> bool:
    return isinstance(getattr(loader, "dataset", None), torch.utils.data.IterableDataset)


def check_training_loader(loader, what: str = "training") -> int:
    """Under ``torch.distributed``: the loader holds this process's shard and every process takes as many steps.

    Returns the number of steps (``len(loader)``). A loader that is not split between the
    processes (a ``DataLoader`` without a ``DistributedSampler``) would train every process on the
    whole data; loaders of different lengths would hang: the process with one more step would
    wait in the gradient all-reduce for processes that are already evaluating. Both raise a
    ``ValueError`` naming the fix, on every process at once (the step counts are all-gathered).
    Outside ``torch.distributed`` nothing is checked.
    """
    if not _active():
        return len(loader) if hasattr(loader, "__len__") else -1
    shard = _check_shard_matches(loader, what)
    if shard is None and not _is_iterable_style(loader):
        raise ValueError(
            f"the {what} loader is not split between the {world_size()} processes, so each would train on all of "
            f"the data: give the DataLoader sampler=torch.utils.data.DistributedSampler(dataset) (and no shuffle=True), "
            f"or build our loaders with rank={rank()}, world_size={world_size()}"
        )
    try:
        steps = len(loader)
    except TypeError:
        raise ValueError(f"the {what} loader has no length; under torchrun every process must know its number of "
                         f"steps to check that all take the same (give the dataset a __len__)") from None
    counts = gather_arrays(np.array([steps], dtype=np.int64)).tolist()
    if len(set(counts)) != 1:
        raise ValueError(
            f"the {what} loaders of the {world_size()} processes have {counts} batches; every process must take the "
            f"same number of steps, or the gradient all-reduce of the extra step waits forever. Shuffle the loader "
            f"(shuffle=True pads each process's shard to the same size, as DistributedSampler does) or use "
            f"torch.utils.data.DistributedSampler"
        )
    return steps


# ---------------------------------------------------------------------- collectives
def _collective_device() -> torch.device:
    """Tensors in collectives live on the GPU for nccl, on the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (Dice's running statistics) into every process's ``module``.

    ``DistributedDataParallel`` keeps the parameters equal; :func:`wrap_ddp` turns off its
    broadcast of buffers before each forward, so after training steps each process holds the
    running statistics of its own part of the batches. Called after each epoch, before evaluating
    and before keeping the best state, so that every process evaluates and restores one model.
    No-op in one process.
    """
    if not _active():
        return
    device = _collective_device()
    with torch.no_grad():
        for buffer in module.buffers():
            value = buffer.detach().to(device).contiguous()
            dist.broadcast(value, src=src)
            buffer.copy_(value)


def _gather_flat(values: torch.Tensor) -> torch.Tensor:
    """Every process's 1-D ``values`` concatenated in rank order (sizes may differ), on every process."""
    device = values.device
    n = torch.tensor([values.shape[0]], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, n)
    sizes = [int(s.item()) for s in sizes]
    padded = torch.zeros(max(sizes), dtype=values.dtype, device=device)
    padded[: values.shape[0]] = values
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])


def gather_arrays(array: np.ndarray) -> np.ndarray:
    """Concatenate every process's 1-D ``array`` in rank order (sizes may differ); the same result on every rank.

    Outside ``torch.distributed`` the array is returned as it is. Two collectives: the sizes, then
    the values padded to the largest size.
    """
    array = np.ascontiguousarray(array)
    if not _active():
        return array
    return _gather_flat(torch.from_numpy(array).to(_collective_device())).cpu().numpy()


def gather_ids(batch: dict) -> dict:
    """Every process's integer (id) columns of this step's batch, each flattened and concatenated.

    What the mini-batch aware regularisation needs to be one process's penalty over the global
    batch: which rows occur in it, and how often. Outside ``torch.distributed``: ``batch`` itself.
    """
    if not _active():
        return batch
    device = _collective_device()
    out = {}
    for key, value in batch.items():  # the same keys in the same order on every process
        if isinstance(value, torch.Tensor) and not value.is_floating_point() and not value.is_complex():
            out[key] = _gather_flat(value.reshape(-1).to(device)).to(value.device)
    return out


def _sample_indices(loader) -> np.ndarray:
    """The dataset indices a ``DataLoader`` yields on this process, in order (its sampler is deterministic)."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    if batch_sampler is not None:
        return np.fromiter((i for batch in batch_sampler for i in batch), dtype=np.int64)
    return np.fromiter(iter(loader.sampler), dtype=np.int64)


def gather_split(loader, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What every process computed over its part of an evaluation loader, as one process over the whole split.

    ``arrays`` holds 1-D arrays with one value per sample this process read (predictions, labels,
    users). How the parts are joined depends on how the loader was split:

    - our loaders (``rank``, ``world_size``): contiguous blocks, concatenated in rank order;
    - a ``DataLoader`` with a ``DistributedSampler`` (or another sampler with ``rank`` and
      ``num_replicas``): the sampler's indices are gathered too, and each sample is kept once (the
      sampler repeats a few to give every process as many), in the dataset's order;
    - a loader that is not split (every process read the whole split): nothing to gather.

    Outside ``torch.distributed``: ``arrays`` as they are.
    """
    if not _active():
        return arrays
    shard = _check_shard_matches(loader, "evaluation")
    if shard is None and not _is_iterable_style(loader):
        return arrays  # every process evaluated the whole split
    if _sampler(loader) is None or _is_iterable_style(loader):
        return {k: gather_arrays(v) for k, v in arrays.items()}
    indices = _sample_indices(loader)
    for key, value in arrays.items():
        if len(value) not in (0, len(indices)):
            raise ValueError(f"the evaluation loader yielded {len(value)} {key} values for {len(indices)} sampled "
                             f"indices; its batches must follow its sampler")
    every = gather_arrays(indices)
    first = np.unique(every, return_index=True)[1]  # each sample once (its first copy), in the dataset's order
    out = {}
    for key, value in arrays.items():
        value = gather_arrays(value)
        out[key] = value[first] if len(value) == len(every) else value  # an empty column (no users) stays empty
    return out


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
