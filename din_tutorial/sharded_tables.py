"""Embedding tables bigger than one machine: DIN's tables in TorchRec's sharded collections (optional extra).

Under ``DistributedDataParallel`` every process holds every table in full and all-reduces the
table's whole gradient each step. TorchRec (https://pytorch.org/torchrec) instead *shards* the
tables: ``DistributedModelParallel`` (DMP) gives each process a slice of the rows (``row_wise``)
or whole tables (``table_wise``), sends each looked-up id to the process that owns its row and
the row back (all-to-all), and wraps only the dense rest of the model (attention, MLP) in DDP.

Here that is one swap of DIN's embedding layer, nothing else in DIN changes:

* :class:`ShardedEmbeddingLayer` is an :class:`~din_tutorial.layers.EmbeddingLayer` whose tables
  are :class:`TorchRecTable` s, each a TorchRec ``EmbeddingCollection`` (unpooled: DIN's attention
  needs every behaviour's vector, not a pooled bag). ``lookup(name, ids)`` turns the ids into a
  ``KeyedJaggedTensor`` with one id per position and length 0 for padding (:data:`PAD_ID`), so
  padding never reaches the table: the table holds the ``vocab_size`` real rows only, and padded
  positions come back as zeros, as from :class:`~din_tutorial.layers.PaddedEmbedding`.
* :func:`with_sharded_tables` copies a DIN (the same rows, the same dense weights) into that form;
  :func:`shard_tables` wraps it in DMP with a sharding plan (``row_wise`` or ``table_wise``);
  :func:`train_sharded` trains it; :func:`unsharded_state_dict` gathers the shards into a plain
  DIN's ``state_dict``.

The tables are updated by TorchRec's *fused* optimiser, applied inside the backward pass
(``apply_optimizer_in_backward``); the trainer's optimiser updates the dense weights only.
TorchRec divides the tables' gradients by the world size (``torchrec.distributed.comm_ops``,
``GRADIENT_DIVISION``), as DDP averages the dense ones, so N processes with batch B/N take the
step one process takes with batch B (tests/test_sharded_tables.py checks it).

Why a training function of its own rather than :class:`~din_tutorial.training.CTRTrainer`:
DMP replaces the model's collections *in place* by sharded ones, so ``trainer.model.state_dict()``
holds each process's rows only (``ShardedTensor`` s) and the checkpoint rank 0 writes could not be
loaded into a plain DIN; and every lookup is a collective, so every process must run the same
number of forward passes, which CTRTrainer's evaluation (contiguous blocks of a split, batch
counts that may differ by one) does not promise. :func:`train_sharded` keeps the loop explicit.

Install: ``TORCHREC=1 scripts/install.sh`` (``fbgemm-gpu-cpu==1.8.0`` first, then
``torchrec==1.8.0 --no-deps``: torchrec's metadata asks for the CUDA ``fbgemm-gpu``).

Taught in notebooks/09_scaling_out.ipynb.
"""
from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from types import ModuleType

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from . import distributed as D
from .layers.embedding import EMBED_INIT_STD, EmbeddingLayer, FeatureConfigError, check_feature_names

__all__ = [
    "SHARDING_TYPES",
    "ShardedEmbeddingLayer",
    "TorchRecTable",
    "dense_parameters",
    "require_torchrec",
    "shard_tables",
    "table_bytes",
    "train_sharded",
    "unsharded_state_dict",
    "with_sharded_tables",
]

#: The sharding types offered here (TorchRec has more: column_wise, table_row_wise, data_parallel).
SHARDING_TYPES = ("row_wise", "table_wise")

_INSTALL_HINT = (
    "TorchRec is an optional extra of din-tutorial: install it with `TORCHREC=1 scripts/install.sh` "
    "(it installs fbgemm-gpu-cpu==1.8.0 first, then torchrec==1.8.0 with --no-deps and its other "
    "requirements, keeping torch at the version of constraints.txt)"
)


def require_torchrec() -> ModuleType:
    """Import and return ``torchrec``, or raise ``ImportError`` that says how to install it.

    Taught in notebooks/09_scaling_out.ipynb.
    """
    try:
        import fbgemm_gpu  # noqa: F401  (TorchRec's kernels; the CPU build is the fbgemm-gpu-cpu wheel)
        import torchrec
    except ImportError as e:
        raise ImportError(f"sharded embedding tables need TorchRec, which is not importable here ({e}). "
                          f"{_INSTALL_HINT}") from e
    return torchrec


def table_bytes(rows: int, dim: int, world_size: int = 1, bytes_per_value: int = 4) -> int:
    """Bytes of one float32 table of ``rows x dim`` on one process when ``world_size`` processes share its rows.

    ``ceil(rows / world_size) * dim * 4`` (row-wise sharding: TorchRec gives each process a block
    of ``ceil(rows / world_size)`` rows); ``world_size=1`` is the whole table, what every process
    holds under DDP. Optimiser state (Adam: two more tables) comes on top.
    Taught in notebooks/09_scaling_out.ipynb.
    """
    for name, value in (("rows", rows), ("dim", dim), ("world_size", world_size), ("bytes_per_value", bytes_per_value)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return math.ceil(rows / world_size) * int(dim) * int(bytes_per_value)


class TorchRecTable(nn.Module):
    """One embedding table as a TorchRec ``EmbeddingCollection``, looked up like a :class:`PaddedEmbedding`.

    ``table(ids, vocab_size)`` embeds ids of any shape: ``ids.shape + (dim,)``; :data:`PAD_ID` (and an id
    outside ``[0, vocab_size)``) gives zeros and never touches the table (length 0 in the ``KeyedJaggedTensor``). The collection holds the
    ``vocab_size`` real rows; ``num_embeddings`` and ``padding_idx`` say what a ``PaddedEmbedding``
    of the same feature would (``vocab_size + 1`` rows, padding last), so DIN's checks and the
    gathered ``state_dict`` (:func:`unsharded_state_dict`) match a plain DIN's.

    Args:
        name: the table's name (the feature that owns it); also the ``KeyedJaggedTensor`` key.
        vocab_size, embed_dim: the table's size.
        init_std: rows start from ``Normal(0, init_std)``.
        device: ``"meta"`` allocates nothing: DMP then creates and initialises only each process's
            shard, which is how a table bigger than one process's memory is built.

    Taught in notebooks/09_scaling_out.ipynb.
    """

    def __init__(self, name: str, vocab_size: int, embed_dim: int, init_std: float = EMBED_INIT_STD,
                 device: str | torch.device = "cpu"):
        super().__init__()
        torchrec = require_torchrec()
        self.name = name
        self.embedding_dim = int(embed_dim)
        self.num_embeddings = int(vocab_size) + 1  # as PaddedEmbedding: the padding row is index vocab_size
        self.padding_idx = int(vocab_size)

        def init_rows(weight: Tensor) -> Tensor:
            return nn.init.normal_(weight, std=init_std)

        config = torchrec.EmbeddingConfig(name=name, embedding_dim=self.embedding_dim, num_embeddings=int(vocab_size),
                                          feature_names=[name], init_fn=init_rows)
        self.collection = torchrec.EmbeddingCollection(tables=[config], device=torch.device(device))

    @classmethod
    def from_embedding(cls, name: str, table: nn.Embedding) -> TorchRecTable:
        """A TorchRec table holding the real rows of ``table`` (a ``PaddedEmbedding``: its padding row is dropped)."""
        out = cls(name, table.num_embeddings - 1, table.embedding_dim)
        with torch.no_grad():
            out.weight_of_unsharded().copy_(table.weight[: table.num_embeddings - 1])
        return out

    def weight_of_unsharded(self) -> Tensor:
        """The ``(vocab_size, dim)`` weight while the collection is not sharded (before :func:`shard_tables`)."""
        embeddings = getattr(self.collection, "embeddings", None)
        if embeddings is None or self.name not in embeddings:
            raise RuntimeError(f"table {self.name!r} is sharded; gather it with unsharded_state_dict(model)")
        return embeddings[self.name].weight

    def forward(self, ids: Tensor, vocab_size: int | None = None) -> Tensor:
        from torchrec import KeyedJaggedTensor

        real = (ids >= 0) & (ids < (self.padding_idx if vocab_size is None else vocab_size))  # PAD_ID, unknown ids: zeros
        flat = real.reshape(-1)
        kjt = KeyedJaggedTensor.from_lengths_sync(keys=[self.name], values=ids.reshape(-1)[flat],
                                                  lengths=flat.to(torch.int32))  # one id per position, 0 for padding
        rows = self.collection(kjt)[self.name].values()  # (real positions, dim), in the order of ids
        out = rows.new_zeros(*ids.shape, self.embedding_dim)  # ids.shape + (dim,)
        out[real] = rows
        return out


class ShardedEmbeddingLayer(EmbeddingLayer):
    """:class:`~din_tutorial.layers.EmbeddingLayer` whose tables are :class:`TorchRecTable` s (ready for DMP).

    The same features, sharing (``shared_with``) and lookups as the plain layer; give it to DIN
    with ``DIN(..., embedding=ShardedEmbeddingLayer(features))`` (every feature of the model), or
    copy an existing DIN with :func:`with_sharded_tables`. Before :func:`shard_tables` it computes
    in one process what the plain layer computes. The paper's mini-batch aware regularisation
    (``mba_reg``) reads table rows directly and is not offered with sharded tables.

    Args:
        features: every feature of the model, as for ``EmbeddingLayer``.
        init_std: rows start from ``Normal(0, init_std)``.
        device: ``"cpu"`` (default) or ``"meta"``: allocate nothing; :func:`shard_tables` then creates
            and initialises only each process's rows (the way to build a table bigger than one process).

    Taught in notebooks/09_scaling_out.ipynb.
    """

    def __init__(self, features: Sequence, init_std: float = EMBED_INIT_STD, device: str | torch.device = "cpu"):
        nn.Module.__init__(self)  # not EmbeddingLayer.__init__: it would allocate every table in full first
        require_torchrec()
        features = list(features)
        check_feature_names(features)
        self.features = features
        self._by_name = {f.name: f for f in features}
        self.table_names = self.table_names_of(features)
        rows: dict[str, int] = {}
        for name, root in self.table_names.items():
            rows[root] = max(rows.get(root, 0), self._by_name[name].vocab_size)
        self.tables = nn.ModuleDict({root: TorchRecTable(root, vocab, self._by_name[root].embed_dim, init_std, device)
                                     for root, vocab in rows.items()})

    @classmethod
    def from_layer(cls, layer: EmbeddingLayer) -> ShardedEmbeddingLayer:
        """The same features and the same rows as the plain ``layer``, in TorchRec collections."""
        if not isinstance(layer, EmbeddingLayer) or isinstance(layer, ShardedEmbeddingLayer):
            raise TypeError(f"from_layer needs a plain EmbeddingLayer (e.g. model.embedding), got {type(layer).__name__}")
        out = cls.__new__(cls)
        nn.Module.__init__(out)
        out.features, out._by_name, out.table_names = layer.features, dict(layer._by_name), dict(layer.table_names)
        out.tables = nn.ModuleDict({root: TorchRecTable.from_embedding(root, t) for root, t in layer.tables.items()})
        return out


def with_sharded_tables(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (DIN or BaseModel) whose tables are TorchRec collections with the same rows.

    The dense weights (attention, Dice, MLP) are copied too, so the copy computes what ``model``
    computes (in one process) and, once sharded, trains as ``model`` would: the comparison
    notebooks/09_scaling_out.ipynb makes. Raises for ``mba_reg > 0`` (not offered with sharded tables).
    """
    embedding = getattr(model, "embedding", None)
    if not isinstance(embedding, EmbeddingLayer) or isinstance(embedding, ShardedEmbeddingLayer):
        raise TypeError(f"with_sharded_tables needs a DIN or BaseModel with a plain EmbeddingLayer, got "
                        f"{type(model).__name__} with embedding {type(embedding).__name__}")
    if getattr(model, "mba_reg", 0.0):
        raise FeatureConfigError(f"mba_reg={model.mba_reg}: the mini-batch aware regularisation reads table rows "
                                 f"directly, which sharded tables do not offer; build the model with mba_reg=0")
    sharded = ShardedEmbeddingLayer.from_layer(embedding)
    model.embedding = None  # deep-copy the dense part only
    try:
        out = copy.deepcopy(model)
    finally:
        model.embedding = embedding
    out.embedding = sharded
    return out


def _table_modules(model: nn.Module) -> dict[str, TorchRecTable]:
    layer = getattr(model, "embedding", None)
    if not isinstance(layer, ShardedEmbeddingLayer):
        raise TypeError(f"{type(model).__name__}'s embedding is {type(layer).__name__}, not a ShardedEmbeddingLayer: "
                        f"build the model with embedding=ShardedEmbeddingLayer(features) or copy it with "
                        f"with_sharded_tables(model) before sharding")
    return dict(layer.tables.items())


def shard_tables(model: nn.Module, sharding: str = "row_wise", embedding_optimizer=torch.optim.SGD,
                 embedding_optimizer_params: Mapping | None = None, device: str | torch.device = "cpu",
                 init_seed: int = 0) -> nn.Module:
    """Wrap ``model`` (with a :class:`ShardedEmbeddingLayer`) in TorchRec's ``DistributedModelParallel``.

    Every process of the ``torchrun`` job calls it with the same model (the same rows where they
    were built on ``"cpu"``): the process group is joined from the environment if needed. Each
    table is split by ``sharding`` (``"row_wise"``: a block of rows per process; ``"table_wise"``:
    each table whole on one process) with TorchRec's fused kernel, updated in the backward pass by
    ``embedding_optimizer`` (``torch.optim.SGD``, ``Adagrad`` or ``Adam``) with
    ``embedding_optimizer_params`` (default ``{"lr": 0.01}``); the dense rest of the model is
    wrapped in DDP by DMP. DMP changes ``model`` in place: its collections become sharded ones.
    Tables built on ``"meta"`` are created here, each process drawing its rows from torch's random
    generator seeded with ``init_seed + rank`` (in a forked generator state, so the caller's is
    untouched): with one seed for all, every process's block of rows would start as a copy of
    the others'.
    Returns the DMP module (train it with :func:`train_sharded`; its dense weights are
    :func:`dense_parameters`). Taught in notebooks/09_scaling_out.ipynb.
    """
    require_torchrec()
    from torchrec.distributed import DistributedModelParallel
    from torchrec.distributed.embedding import EmbeddingCollectionSharder
    from torchrec.distributed.embedding_types import EmbeddingComputeKernel
    from torchrec.distributed.planner import EmbeddingShardingPlanner, ParameterConstraints
    from torchrec.distributed.planner.storage_reservations import FixedPercentageStorageReservation
    from torchrec.distributed.planner.types import KernelConfig, TopologyFactory, TrainerConfig
    from torchrec.distributed.types import ShardingEnv
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

    if sharding not in SHARDING_TYPES:
        raise ValueError(f"sharding={sharding!r} is not offered; choose one of {SHARDING_TYPES}")
    device = torch.device(device)
    if device.type != "cpu":
        raise ValueError(f"device={str(device)!r}: this module is tested on CPUs with gloo only; use device='cpu' "
                         f"(on GPUs TorchRec needs the CUDA fbgemm-gpu wheel and nccl)")
    tables = _table_modules(model)
    if getattr(model, "mba_reg", 0.0):
        raise FeatureConfigError(f"mba_reg={model.mba_reg}: the mini-batch aware regularisation reads table rows "
                                 f"directly, which sharded tables do not offer; build the model with mba_reg=0")
    D.init_process_group(device)
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("shard_tables needs a process group: launch the script with torchrun "
                           "(torchrun --standalone --nproc_per_node=2 script.py)")
    world = dist.get_world_size()
    params = dict(embedding_optimizer_params or {"lr": 0.01})
    table_params = [p for t in tables.values() for p in t.collection.parameters()]
    apply_optimizer_in_backward(embedding_optimizer, table_params, params)  # TorchRec fuses it into the kernel
    constraints = {name: ParameterConstraints(sharding_types=[sharding],
                                              compute_kernels=[EmbeddingComputeKernel.FUSED.value])
                   for name in tables}
    sharders = [EmbeddingCollectionSharder()]
    topology = TopologyFactory.create_topology(
        trainer_config=TrainerConfig(world_size=world, local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", world))),
        kernel_config=KernelConfig(compute_device=device.type))
    # the planner keeps a share of each process's memory for the dense part (15%, TorchRec's usual figure)
    planner = EmbeddingShardingPlanner(topology=topology, constraints=constraints,
                                       storage_reservation=FixedPercentageStorageReservation(0.15))
    plan = planner.collective_plan(model, sharders, dist.group.WORLD)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed + dist.get_rank())  # meta-built shards: each process its own rows
        return DistributedModelParallel(model, env=ShardingEnv.from_process_group(dist.group.WORLD), device=device,
                                        plan=plan, sharders=sharders)


def dense_parameters(dmp: nn.Module) -> list[Tensor]:
    """The parameters a dense optimiser should update: all but the tables (which the fused optimiser updates)."""
    from torchrec.optim.optimizers import in_backward_optimizer_filter

    return [p for _, p in in_backward_optimizer_filter(dmp.named_parameters())]


def train_sharded(dmp: nn.Module, data_loader, n_epoch: int = 1, optimizer_fn=torch.optim.SGD,
                  optimizer_params: Mapping | None = None, loss_fn=None, seed: int = 2022,
                  max_steps: int | None = None) -> list[dict]:
    """Train a model wrapped by :func:`shard_tables` on this process's shard; the per-epoch records.

    The loop of :meth:`CTRTrainer.train_one_epoch <din_tutorial.training.CTRTrainer.train_one_epoch>`
    without what does not fit sharded tables (see the module docstring): ``optimizer_fn`` over the
    dense weights only (``optimizer_params``, default ``{"lr": 0.01}``), the tables stepped by the
    fused optimiser inside ``backward()``; the epoch's shuffle from ``(seed, epoch)``; at most
    ``max_steps`` steps per epoch. Each record: ``epoch``, ``train_loss`` (mean over every
    process's samples), ``steps``, ``seconds``. Taught in notebooks/09_scaling_out.ipynb.
    """
    if isinstance(n_epoch, bool) or not isinstance(n_epoch, int) or n_epoch < 1:
        raise ValueError(f"n_epoch must be a positive integer, got {n_epoch!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
    steps = D.check_training_loader(data_loader)  # this rank's shard, and as many steps on every rank
    steps = steps if max_steps is None else min(steps, max_steps)
    optimizer = optimizer_fn(dense_parameters(dmp), **dict(optimizer_params or {"lr": 0.01}))
    loss_fn = loss_fn or nn.BCELoss()
    torch.manual_seed(seed + D.rank())  # dropout: another mask on each process's rows
    history = []
    for epoch in range(n_epoch):
        if hasattr(data_loader, "set_epoch"):
            data_loader.set_epoch(epoch, seed=seed)
        dmp.train()
        start, total, count = time.perf_counter(), 0.0, 0
        for step, (x, y) in enumerate(data_loader):
            if step == steps:
                break
            loss = loss_fn(dmp(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # the tables' rows are updated here, by the fused optimiser
            optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
        totals = D.gather_arrays(np.array([total], dtype=np.float64))
        counts = D.gather_arrays(np.array([count], dtype=np.int64))
        history.append({"epoch": epoch, "train_loss": float(totals.sum() / max(counts.sum(), 1)), "steps": steps,
                        "seconds": time.perf_counter() - start})
    return history


def unsharded_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The ``state_dict`` of a plain DIN with the same weights: every table gathered whole, padding row appended.

    A collective: every process calls it and gets the same dict, loadable with
    ``DIN(...).load_state_dict`` (same features and settings) for single-process evaluation,
    export or a checkpoint. ``model`` is the DMP module or the model it wraps. It gathers each
    table into one process's memory, so it suits tables that fit one process; save bigger ones
    shard by shard (``torch.distributed.checkpoint``). Taught in notebooks/09_scaling_out.ipynb.
    """
    inner = getattr(model, "module", model)
    tables = _table_modules(inner)
    state = model.state_dict()
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        root = next((r for r in tables if key == f"embedding.tables.{r}.collection.embeddings.{r}.weight"), None)
        if root is None:
            out[key] = value.detach().clone()
            continue
        if hasattr(value, "full_tensor"):  # a DTensor (TorchRec's newer form of a sharded table)
            full = value.full_tensor().detach().clone()
        elif hasattr(value, "local_shards"):  # a ShardedTensor: this process's rows only
            mine = [(tuple(s.metadata.shard_offsets), s.tensor.detach().clone()) for s in value.local_shards()]
            parts: list = [None] * D.world_size()
            dist.all_gather_object(parts, mine)
            with warnings.catch_warnings():  # TorchRec 1.8 still gives row-wise tables as ShardedTensors: read them
                warnings.filterwarnings("ignore", "Please use DTensor instead", FutureWarning)
                full = torch.empty(tuple(value.size()), dtype=value.dtype)
            for part in parts:
                for (row, col), rows in part:
                    full[row: row + rows.shape[0], col: col + rows.shape[1]] = rows
        else:
            full = value.detach().clone()
        pad = full.new_zeros(1, full.shape[1])  # the plain table's padding row: zeros, never trained
        out[f"embedding.tables.{root}.weight"] = torch.cat([full, pad])
    return out
