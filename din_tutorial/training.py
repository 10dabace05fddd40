"""CTRTrainer: the seed's training loop, with early stopping on validation AUC and a checkpoint.

``fit`` trains for ``n_epoch`` epochs with a ``tqdm.auto`` progress bar (a widget in
JupyterLab), evaluates AUC, GAUC and log loss on the validation loader after each epoch,
keeps them in ``trainer.history``, saves the best epoch's weights atomically under
``model_path`` and restores them at the end: the model you get back is the best one, not
the last one.

The same trainer runs unchanged in every process of a ``torchrun`` job: it joins the process
group from the environment, wraps the model in ``DistributedDataParallel``, trains on this
process's shard of each epoch (our loaders built with ``rank``/``world_size``, or any
``torch.utils.data.DataLoader`` with a ``DistributedSampler``), checks that every process takes
the same number of steps, evaluates rank 0's model exactly over the whole split by gathering
every process's predictions, takes the early-stopping decision once (rank 0) for all, and only
rank 0 prints and writes the checkpoint. The set-up is one block of ``__init__``; every call it
makes lives in :mod:`din_tutorial.distributed`.

Taught in notebooks/05_training.ipynb (and notebooks/09_scaling_out.ipynb for several processes).
"""
from __future__ import annotations

import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import distributed as D
from . import metrics as M

__all__ = ["CTRTrainer", "resolve_device", "metrics_of", "embedding_tables"]


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"mps"`` or ``"auto"`` into a device, with a clear error."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", D.local_rank())  # under torchrun: this process's GPU of its machine
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device={device!r} is not a device; use 'cpu', 'cuda:0', 'mps' or 'auto'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available on this machine; use 'cpu' or 'auto'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} but MPS is not available on this machine; use 'cpu' or 'auto'")
    return dev


def _check_settings(what: str, params, example: str) -> dict:
    """``optimizer_params`` / ``scheduler_params`` as a dict of numbers (or tuples of them), or an error naming the key."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise TypeError(f"{what} must be a dict such as {example}, got {type(params).__name__}")
    for key, value in params.items():
        values = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(v, str) for v in values):
            raise TypeError(
                f"{what}[{key!r}] is the string {value!r}; settings must be numbers, not text: write "
                f"{key!r}: {values[0].strip() if len(values) == 1 else value} without quotes (e.g. {example})"
            )
    return dict(params)


def _fused_adam_runs_on(device: torch.device) -> bool:
    """Torch's fused Adam exists for CUDA, and for CPUs from torch 2.4."""
    version = tuple(int(part) for part in re.findall(r"\d+", torch.__version__)[:2])
    return device.type == "cuda" or (device.type == "cpu" and version >= (2, 4))


def _build(what: str, fn: Callable, first, params: dict, example: str, extra: dict | None = None):
    """Call ``fn(first, **params, **extra)`` (an optimiser or scheduler); name the user's setting when torch rejects one."""
    try:
        return fn(first, **params, **(extra or {}))
    except (TypeError, ValueError) as e:
        name = getattr(fn, "__name__", repr(fn))
        raise type(e)(f"{name} rejected {what}={params!r}: {e}. Check each setting's name and value (e.g. {example})") from e


def _check_writable(model_path: str | os.PathLike) -> Path:
    """Create ``model_path`` if needed and prove we can write there, before any training starts."""
    path = Path(model_path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise PermissionError(
            f"model_path={str(model_path)!r} is not a writable folder ({e.strerror or e}); "
            f"pass a folder you can write to, e.g. model_path='./saved/din'"
        ) from None
    return path


def _save_atomic(state: dict, file: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a checkpoint."""
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, file)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def embedding_tables(model: torch.nn.Module) -> list[torch.nn.Embedding]:
    """Every ``nn.Embedding`` of ``model`` (a shared table once): the weights that sparse updates touch by rows."""
    seen, out = set(), []
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding) and id(module.weight) not in seen:
            seen.add(id(module.weight))
            out.append(module)
    if not out:
        raise ValueError("sparse_embeddings=True, but the model has no nn.Embedding table; use sparse_embeddings=False")
    return out


def check_sparse_backend(world_size: int) -> None:
    """Refuse sparse updates where DDP cannot all-reduce sparse gradients (NCCL, several processes)."""
    if world_size > 1 and torch.distributed.get_backend() != "gloo":
        raise ValueError(
            f"sparse_embeddings=True under torchrun with the {torch.distributed.get_backend()!r} backend: DDP all-reduces "
            f"sparse gradients on gloo only (NCCL does not reduce sparse tensors). Train with sparse_embeddings=False "
            f"on GPUs, or on CPUs (gloo)"
        )


class CTRTrainer:
    """Train and evaluate a CTR model (DIN, BaseModel) on ``(x, y)`` loaders.

    Args:
        model: a module mapping a batch dict to probabilities ``(batch,)``.
        optimizer_fn, optimizer_params: the optimiser class and its arguments
            (default Adam, ``{"lr": 1e-3, "weight_decay": 1e-5}``). Adam and AdamW run with
            ``fused=True`` (torch's fused implementation: each tensor's update in one operation
            instead of about ten, the same update; on a CPU from torch 2.4, on CUDA) unless
            ``optimizer_params`` sets ``fused``, ``foreach`` or ``differentiable``.
        scheduler_fn, scheduler_params: an optional learning-rate scheduler, stepped once per epoch.
        n_epoch: the most epochs to train.
        earlystop_patience: stop after this many epochs without a better validation AUC.
        device: "cpu", "cuda:0", "mps" or "auto" (under ``torchrun``, "auto" and "cuda" mean this
            process's GPU, ``cuda:LOCAL_RANK``).
        model_path: folder for the best checkpoint (``model.pth``); created if missing.
        loss_fn: defaults to binary cross-entropy on probabilities.
        seed: seeds dropout (and anything else random in training) at the start of ``fit``, and
            each epoch's shuffle (the training loader's order is a function of this seed and the
            epoch, so two models trained with one loader see the same batches in any order).
        user_col: the batch key that holds user ids, for GAUC (skipped if absent).
        verbose: show progress bars and a line per epoch (rank 0 only under ``torchrun``).
        ddp_params: extra arguments for ``DistributedDataParallel`` under ``torchrun``.
        sparse_embeddings: update the embedding tables only on the rows each batch touches
            (default False: the seed's dense updates). See "Sparse updates" below.
        sparse_optimizer_fn, sparse_optimizer_params: the tables' optimiser when
            ``sparse_embeddings`` (default ``torch.optim.SparseAdam`` with the dense optimiser's ``lr``).

    Sparse updates (``sparse_embeddings=True``; the main job's choice, ``python -m din_tutorial``).
    With dense updates every step's work grows with the tables, not the batch: the backward pass
    writes a gradient the size of each table, Adam reads and writes every row of it and its two
    moment buffers, and DDP all-reduces it. With sparse updates each table is an
    ``nn.Embedding(sparse=True)`` (its gradient holds only the looked-up rows; the padding row stays
    out of it), the tables go to ``sparse_optimizer_fn`` (``SparseAdam``: Adam's update on the rows
    the batch touched, the others left as they are, moments included: "lazy Adam") and every other
    weight to ``optimizer_fn`` with ``optimizer_params``, as before. Under ``torchrun`` DDP
    all-reduces the sparse gradients on gloo (CPUs): the rows each process touched, not the tables.
    NCCL (GPUs) does not all-reduce sparse tensors: there the trainer refuses with a clear error
    (train with ``sparse_embeddings=False``). Measured in benchmarks/vocab_step.py.

    ``weight_decay`` under sparse updates: the seed's ``{"weight_decay": 1e-5}`` is Adam's L2 term,
    added to the gradient of *every* row at *every* step, so with dense updates a row no batch
    touches still moves (towards zero; Adam normalises the tiny gradient, so by about ``lr`` per
    step). ``SparseAdam`` takes no ``weight_decay``: under sparse updates the decay applies to the
    dense weights only and a row changes only when a batch holds its id. The paper's answer to
    regularising tables is exactly that (section 5.1, Eq. 7, mini-batch aware regularisation): an
    L2 penalty on the rows a mini-batch touches, each scaled by ``1 / n_j`` (its frequency);
    build the model with ``mba_reg=...`` (``CTRModel.regularization_loss``) and its gradient
    lands on the same touched rows. Taught in notebooks/05_training.ipynb.

    Loaders yield ``(x, y)`` with ``x`` a dict of tensors: ours (``DataGenerator``,
    ``TensorBatchLoader``, the lean samples' loaders) or any ``torch.utils.data.DataLoader``.
    Under ``torchrun`` each training loader must hold this process's shard (ours built with
    ``rank``/``world_size``, a ``DataLoader`` with a ``DistributedSampler``) and give every process
    the same number of steps; an evaluation loader may be split either way or not at all.

    Under ``torchrun`` with several processes, ``trainer.model`` is the plain model (the same
    weights on every rank, and the same buffers after each epoch of ``fit``); training runs through
    its ``DistributedDataParallel`` wrapper. ``trainer.rank`` and ``trainer.world_size`` say where this process stands.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer_fn: Callable = torch.optim.Adam,
        optimizer_params: dict | None = None,
        scheduler_fn: Callable | None = None,
        scheduler_params: dict | None = None,
        n_epoch: int = 10,
        earlystop_patience: int = 10,
        device: str = "cpu",
        model_path: str = "./",
        loss_fn: Callable | None = None,
        seed: int | None = 2022,
        user_col: str = "user_id",
        verbose: bool = True,
        ddp_params: dict | None = None,
        sparse_embeddings: bool = False,
        sparse_optimizer_fn: Callable = torch.optim.SparseAdam,
        sparse_optimizer_params: dict | None = None,
    ):
        for name, value in (("n_epoch", n_epoch), ("earlystop_patience", earlystop_patience)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an integer or None, got {seed!r}")
        # ---- distributed (torchrun): the whole set-up; in one process each call does nothing ----
        self.device = D.device_for_this_process(resolve_device(device))  # GPU LOCAL_RANK of this machine
        D.init_process_group(self.device)  # gloo on CPUs, nccl on GPUs, from torchrun's environment
        self.rank, self.world_size = D.rank(), D.world_size()
        self.model = model.to(self.device)
        self.sparse_embeddings = bool(sparse_embeddings)
        if self.sparse_embeddings:
            check_sparse_backend(self.world_size)
            tables = embedding_tables(self.model)
            for table in tables:
                table.sparse = True  # before DDP wraps the model: DDP asks each module whether it expects sparse grads
        self._train_model = D.wrap_ddp(self.model, self.device, **(ddp_params or {}))  # all-reduces gradients
        # in training and evaluation: D.check_training_loader (shards, equal steps), D.gather_ids (the
        # regularisation over the global batch), D.broadcast_buffers (rank 0's Dice statistics),
        # D.gather_split (the whole split's predictions), D.broadcast_object (rank 0's decisions)
        self.model_path = Path(model_path)
        example = "{'lr': 1e-3, 'weight_decay': 1e-5}"
        self.optimizer_params = _check_settings("optimizer_params", optimizer_params, example) or \
            {"lr": 1e-3, "weight_decay": 1e-5}
        self.sparse_optimizer = None  # the tables' optimiser under sparse updates
        fused = None  # the same update as the loop over tensors, fused per tensor (tests/test_training.py)
        if optimizer_fn in (torch.optim.Adam, torch.optim.AdamW) and _fused_adam_runs_on(self.device) \
                and not {"fused", "foreach", "differentiable"} & set(self.optimizer_params) \
                and all(p.is_floating_point() for p in self.model.parameters()):
            fused = {"fused": True}
        if not self.sparse_embeddings:
            self.optimizer = _build("optimizer_params", optimizer_fn, self._train_model.parameters(),
                                    self.optimizer_params, example, fused)
        else:
            table_ids = {id(t.weight) for t in tables}
            dense = [p for p in self.model.parameters() if id(p) not in table_ids]
            self.optimizer = _build("optimizer_params", optimizer_fn, dense, self.optimizer_params, example, fused)
            sparse_params = _check_settings("sparse_optimizer_params", sparse_optimizer_params, "{'lr': 1e-3}") or \
                {"lr": self.optimizer_params.get("lr", 1e-3)}
            self.sparse_optimizer = _build("sparse_optimizer_params", sparse_optimizer_fn, [t.weight for t in tables],
                                           sparse_params, "{'lr': 1e-3}")
        self.optimizers = [o for o in (self.optimizer, self.sparse_optimizer) if o is not None]
        self.scheduler = None
        self.schedulers = []  # one per optimiser (the seed's ``scheduler`` is the dense optimiser's)
        if scheduler_fn:
            sched = _check_settings("scheduler_params", scheduler_params, "{'step_size': 1, 'gamma': 0.8}")
            self.schedulers = [_build("scheduler_params", scheduler_fn, o, sched, "{'step_size': 1, 'gamma': 0.8}")
                               for o in self.optimizers]
            self.scheduler = self.schedulers[0]
        self.loss_fn = loss_fn or torch.nn.BCELoss()
        self.n_epoch = int(n_epoch)
        self.earlystop_patience = int(earlystop_patience)
        self.seed = seed
        self.user_col = user_col
        self.verbose = bool(verbose) and self.rank == 0
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.best_auc: float = -math.inf

    # ------------------------------------------------------------------ helpers
    @property
    def checkpoint_file(self) -> Path:
        """Where the best epoch's weights are saved."""
        return self.model_path / "model.pth"

    def _check_batch_keys(self, model: torch.nn.Module, data_loader, what: str) -> None:
        needed = list(getattr(model, "input_names", []) or [])
        keys = getattr(data_loader, "keys", None)
        if keys is None:
            first = next(iter(data_loader))
            keys = list((first[0] if isinstance(first, (tuple, list)) else first).keys())
        missing = [k for k in needed if k not in keys]
        if missing:
            raise KeyError(
                f"the {what} loader lacks input(s) {missing} that the model needs; its batches hold {list(keys)}. "
                f"Build it from a frame with those columns (df_to_dict(frame)) or drop the features from the model"
            )

    def _to_device(self, x: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) for k, v in x.items()}

    def _progress(self, iterable, desc: str, total: int | None = None):
        if not self.verbose:
            return iterable
        from tqdm.auto import tqdm

        # leave=True: a closed bar would leave an empty widget view in JupyterLab; the finished bars
        # stay as a record of each epoch's speed
        return tqdm(iterable, desc=desc, total=total, leave=True)

    # ------------------------------------------------------------------ training
    def train_one_epoch(self, data_loader, epoch: int = 0) -> float:
        """One pass over ``data_loader``; returns the mean training loss (without regularisation), over every process.

        The loader's shuffle for this epoch comes from ``(self.seed, epoch)`` (``set_epoch``); a
        ``DataLoader``'s ``DistributedSampler`` gets ``set_epoch(epoch)``.
        """
        steps = D.check_training_loader(data_loader)  # under torchrun: this rank's shard, as many steps as every rank
        if hasattr(data_loader, "set_epoch"):
            data_loader.set_epoch(epoch, seed=self.seed)
        elif hasattr(getattr(data_loader, "sampler", None), "set_epoch"):
            data_loader.sampler.set_epoch(epoch)
        model = self._train_model  # DistributedDataParallel under torchrun: it all-reduces the gradients
        model.train()
        reg_fn = getattr(self.model, "regularization_loss", None)
        if getattr(self.model, "mba_reg", None) == 0:
            reg_fn = None  # switched off: no penalty to add (and, under torchrun, no ids to gather)
        total, count = 0.0, 0
        bar = self._progress(data_loader, f"epoch {epoch}", total=steps if steps >= 0 else None)
        for x, y in bar:
            x, y = self._to_device(x), y.to(self.device, non_blocking=True)
            y_pred = model(x)
            loss = self.loss_fn(y_pred, y)
            # under torchrun the penalty is computed over every process's ids of this step (D.gather_ids): the
            # same on every process, so DDP's average of the gradients is one process's penalty on the global batch
            full = loss + reg_fn(D.gather_ids(x)) if reg_fn is not None else loss
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            full.backward()
            for opt in self.optimizers:
                opt.step()
            total += loss.item() * len(y)
            count += len(y)
            if self.verbose and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        totals = D.gather_arrays(np.array([total], dtype=np.float64))
        counts = D.gather_arrays(np.array([count], dtype=np.int64))
        if counts.sum() == 0:
            raise ValueError("the training loader yielded no batch; is the training frame empty?")
        return float(totals.sum() / counts.sum())

    def fit(self, train_dataloader, val_dataloader=None) -> "CTRTrainer":
        """Train, validate each epoch, stop early on validation AUC, and restore the best epoch."""
        self._check_batch_keys(self.model, train_dataloader, "training")
        if val_dataloader is not None:
            self._check_batch_keys(self.model, val_dataloader, "validation")
        if self.rank == 0:
            _check_writable(self.model_path)  # fail now, not after an hour of training
        if self.seed is not None:
            torch.manual_seed(self.seed + self.rank)  # dropout: another mask on each process's rows
        self.history, self.best_epoch, self.best_auc = [], None, -math.inf
        best_state, stale, last_bad = None, 0, "the validation AUC was never a number"
        for epoch in range(self.n_epoch):
            start = time.perf_counter()
            train_loss = self.train_one_epoch(train_dataloader, epoch)
            D.broadcast_buffers(self.model)  # one model on every rank: rank 0's running statistics
            if not math.isfinite(train_loss):  # the weights are lost: stop, keep the best epoch so far if any
                warnings.warn(f"epoch {epoch}: the training loss is {train_loss}; training stops here", RuntimeWarning,
                              stacklevel=2)
                last_bad = f"the training loss of epoch {epoch} is {train_loss}"
                break
            record = {"epoch": epoch, "train_loss": train_loss}
            if val_dataloader is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate_metrics(self.model, val_dataloader).items()})
            for sched in self.schedulers:
                sched.step()
            record["seconds"] = time.perf_counter() - start
            # every rank computed the same metrics over the whole split; rank 0's record decides for all
            record = D.broadcast_object(record)
            self.history.append(record)
            score = record.get("val_auc", -train_loss)  # without validation data: the lowest training loss
            if self.verbose:
                shown = ", ".join(f"{k} {v}" if isinstance(v, int) else f"{k} {v:.4f}"
                                  for k, v in record.items() if k != "epoch")
                print(f"epoch {epoch}: {shown}")
            if score > self.best_auc:
                self.best_auc, self.best_epoch, stale = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                if self.rank == 0:
                    _save_atomic(best_state, self.checkpoint_file)
            else:
                stale += 1
                if stale >= self.earlystop_patience:
                    if self.verbose:
                        print(f"early stopping: no better validation AUC for {stale} epoch(s); best epoch {self.best_epoch}")
                    break
        if best_state is None:
            raise FloatingPointError(
                f"no epoch gave a model to keep: {last_bad}. Lower the learning rate (optimizer_params={{'lr': ...}}) "
                f"or look for NaN or infinite values in the inputs, the labels and the loss function"
            )
        self.model.load_state_dict(best_state)
        D.barrier()  # the checkpoint is written before any process goes on
        return self

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def outputs(self, model: torch.nn.Module, data_loader) -> dict[str, np.ndarray]:
        """``{"pred", "label", "user"}``: the model's probabilities, the labels and the user ids of a whole split.

        What :meth:`evaluate_metrics` computes its metrics from (``label`` and ``user`` are empty
        when the batches hold none). Under ``torchrun`` every process predicts its part of the
        split with rank 0's buffers and the parts are gathered (``D.gather_split``), so every
        process gets what one process predicting the whole split gets, in the split's order.
        """
        self._check_batch_keys(model, data_loader, "evaluation")
        D.broadcast_buffers(model)  # under torchrun: every rank evaluates rank 0's model
        model.eval()
        preds, labels, users = [], [], []
        total = len(data_loader) if hasattr(data_loader, "__len__") else None
        for batch in self._progress(data_loader, "evaluate", total=total):
            x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
            preds.append(model(self._to_device(x)).float().cpu().numpy().reshape(-1))
            if y is not None:
                labels.append(np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float32).reshape(-1))
            if self.user_col in x:
                users.append(np.asarray(x[self.user_col].cpu(), dtype=np.int64).reshape(-1))
        joined = {"pred": (preds, np.float32), "label": (labels, np.float32), "user": (users, np.int64)}
        return D.gather_split(data_loader, {k: np.concatenate(v) if v else np.empty(0, dtype=t)
                                            for k, (v, t) in joined.items()})

    def predict(self, model: torch.nn.Module, data_loader) -> np.ndarray:
        """Probabilities for every sample of ``data_loader``, in its order (the whole split under ``torchrun``)."""
        return self.outputs(model, data_loader)["pred"]

    def evaluate_metrics(self, model: torch.nn.Module, data_loader) -> dict:
        """AUC, GAUC (when batches hold ``user_col``), log loss and the sample count, over the whole split.

        Computed from :meth:`outputs`: under ``torchrun`` the metrics equal one process evaluating
        the whole split.
        """
        out = self.outputs(model, data_loader)
        return metrics_of(out)

    def evaluate(self, model: torch.nn.Module, data_loader, all_metrics: bool = False):
        """The AUC as a float, as the seed prints it; ``all_metrics=True`` returns the dict of ``evaluate_metrics``."""
        result = self.evaluate_metrics(model, data_loader)
        return result if all_metrics else result["auc"]

    # ------------------------------------------------------------------ export
    def export_onnx(self, output_path, data_loader=None, dynamic_batch: bool = True, **kwargs):
        """Export ``self.model`` to one ONNX file; see :func:`din_tutorial.export.export_onnx`."""
        from .export import export_onnx

        if self.best_epoch is None:
            warnings.warn("exporting a model that was never trained with fit(): its predictions are random",
                          UserWarning, stacklevel=2)
        return export_onnx(self.model, output_path, data_loader=data_loader, dynamic_batch=dynamic_batch, **kwargs)


def metrics_of(outputs: dict[str, np.ndarray]) -> dict:
    """AUC, log loss, the sample count and (with user ids) GAUC of :meth:`CTRTrainer.outputs`."""
    p, y, users = outputs["pred"], outputs["label"], outputs["user"]
    if y.size != p.size:
        raise ValueError("the evaluation loader yields no labels; use predict() for a loader of inputs only")
    result = {"auc": M.auc(y, p), "logloss": M.logloss(y, p), "n": int(y.size)}
    if users.size == p.size and p.size:
        result["gauc"] = M.gauc(y, p, users)
    return result
